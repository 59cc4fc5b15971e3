package engine

import (
	"math"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
)

// accum is the shared accumulator, block 0 of the segment. The cas mode
// adds into sum with CompareAndSwap on its bits; the mutex mode adds into
// sum and comp while holding lock.
type accum struct {
	sum  atomic.Uint64 // float64 bits of the running total
	comp atomic.Uint64 // float64 bits: the rounding errors of the adds into sum
	adds atomic.Uint64 // publishes so far
	// racyAdds counts publishes with the same plain load-add-store the
	// racy mode uses on sum: publishes - racyAdds is the number lost.
	racyAdds atomic.Uint64
	// lock is the mutex mode's cross-process lock. Its word is the
	// holder's pid, so the parent can take it back from a dead holder.
	lock sem.Mutex
}

// slot is one worker's block. Only worker i writes slot i while it runs
// (the parent writes it before the start and after a death, and reads it
// after exit or, for progress, with atomic loads).
//
// In every mode the worker journals here the compensated total of what it
// has published: for slots that is the publication itself; for cas and
// mutex it is what lets the parent rebuild the sum exactly if a worker dies
// after adding part of its range into the shared accumulator.
type slot struct {
	partial atomic.Uint64 // float64 bits: the worker's published total
	comp    atomic.Uint64 // float64 bits: its compensation
	done    atomic.Uint64 // terms published so far (progress)
	elapsed atomic.Int64  // ns from the start barrier to publication
	lo, hi  atomic.Uint64 // the worker's range (static schedule)
	state   atomic.Uint32 // slotIdle .. slotDone
	pid     atomic.Uint32
	// progress counts terms summed so far, published or not: read by the
	// parent for live progress.
	progress atomic.Uint64
	// claim is 1 + the dynamic chunk the worker is on (0 when none), and
	// claimDone the journal's done when it claimed it: after a death, a
	// journal that has not grown past claimDone means the chunk was not
	// published, and the retry redoes it (redo).
	claim, claimDone, redo atomic.Uint64
}

// minStride is the smallest slot stride the engine accepts.
const minStride = 2 * minBlock

// A slot's states, in the order a worker passes them.
const (
	slotIdle    uint32 = iota // not attached yet
	slotArrived               // attached, waiting at the start barrier
	slotRunning               // summing and publishing
	slotDone                  // everything published
)

var slotStates = [...]string{"before attaching", "at the start barrier", "while summing", "after publishing"}

// reset makes s ready for a fresh attempt at the same range, its journal
// emptied to the op's identity.
func (s *slot) reset(op Op) {
	s.partial.Store(math.Float64bits(op.identity()))
	s.comp.Store(0)
	s.done.Store(0)
	s.elapsed.Store(0)
	s.pid.Store(0)
	s.progress.Store(0)
	s.claim.Store(0)
	s.redo.Store(0)
	s.state.Store(slotIdle)
}

// resume makes s ready for a fresh attempt that continues its journal
// (dynamic schedule): a chunk claimed and not published is redone.
func (s *slot) resume() {
	if c := s.claim.Load(); c != 0 && s.done.Load() == s.claimDone.Load() {
		s.redo.Store(c)
	}
	s.claim.Store(0)
	s.pid.Store(0)
	s.state.Store(slotIdle)
}

// jobHeader is the engine's encoding of Header.Job.
type jobHeader struct {
	op    Op
	sched Schedule
	name  string
}

func writeJob(h *shmem.Header, j jobHeader) {
	h.Job = [64]byte{}
	h.Job[0] = byte(j.op)
	if j.sched == Dynamic {
		h.Job[1] = 1
	}
	copy(h.Job[8:], j.name)
}

func readJob(h *shmem.Header) jobHeader {
	j := jobHeader{op: Op(h.Job[0]), sched: Static, name: strings.TrimRight(string(h.Job[8:]), "\x00")}
	if h.Job[1] == 1 {
		j.sched = Dynamic
	}
	return j
}

// total is the worker's journaled partial sum.
func (s *slot) total() float64 { return f64(s.partial.Load()) + f64(s.comp.Load()) }

// Both overlays must fit the smallest stride the engine uses by default.
const minBlock = 64

var (
	_ [minBlock - unsafe.Sizeof(accum{})]byte
	_ [2*minBlock - unsafe.Sizeof(slot{})]byte
)

func accumOf(s *shmem.Segment) *accum { return (*accum)(s.Block(0)) }

func slotOf(s *shmem.Segment, i int) *slot { return (*slot)(s.Block(i + 1)) }

func f64(bits uint64) float64 { return math.Float64frombits(bits) }

// twoSum returns s = fl(a+b) and the exact error e with a + b = s + e.
func twoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// reduce combines the partials in order: for Sum as a double-double
// rounded once, so the result depends on nothing but the partials and their
// order.
func reduce(op Op, partials []float64) float64 {
	f := newFold(op)
	for _, p := range partials {
		f.add(p)
	}
	return f.value()
}
