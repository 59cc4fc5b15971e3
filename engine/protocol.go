package engine

// The worker protocol, all in one place: what a parent and its worker
// processes share, and in which order they write it.
//
// # Start
//
// The parent creates one segment (package shmem: header, blocks, tail),
// writes the control block, and starts each worker by re-executing a
// binary (its own, or Config.WorkerBinary) with
//
//	PISHM_SEGMENT=BACKING:FD   the inherited segment descriptor, e.g. "posix:4"
//	PISHM_WORKER=I             the worker's index, 0-based
//	PISHM_ATTEMPT=A            0 for the first process of worker I in this call
//	GOMAXPROCS=1               a worker runs one loop on one thread
//
// plus what a message-passing transport adds. The worker removes these
// from its environment at once, so that processes it starts are not
// mistaken for workers. It attaches (shmem.OpenFile checks the header),
// validates every field of the control block and the job it reads
// (control.check, jobSpec.check), stores its pid in its slot, marks it
// arrived, adds one to control.arrived and wakes the parent.
//
// # Calls
//
// Work comes in calls, numbered by control.gen (1, 2, ...). For call g the
// parent, while every worker sleeps, writes control.job, resets the slots
// (slot.reset), the accumulator and the chunk table, then stores gen = g
// (store-release: all of the above is visible to a worker that loads g)
// and wakes every worker on the gen futex. A one-shot Run makes exactly one
// call, numbered genOneShot, once every worker has arrived (the start
// barrier, so that timing excludes start-up); a Pool makes one per Reduce.
// With the caller's share (WithCallerShare), slot 0 has no process: the
// parent itself sums slot 0's share after it stores gen, through the same
// code a worker runs, and marks it done.
//
// A worker that sees gen = g and has not finished g (slot.doneGen != g)
// sums its share and publishes it by the mode, then stores doneGen = g
// (store-release: everything it published is visible to a parent that
// loads doneGen), adds one to control.finished and wakes the parent. A
// worker of call genOneShot then exits 0; a pool worker sleeps on gen
// again. A pool worker that died between calls is replaced before the next
// call is written.
// gen = genQuit tells pool workers to exit. The parent counts a call done
// when every slot's doneGen is g; control.finished is only what it sleeps
// on.
//
// # Waiting
//
// A waiter spins on its word for a while before it sleeps on the futex
// (control.spinNs for workers waiting for the next call; the parent's own
// window for the end of a call), as an OpenMP team does: a spin sees the
// word change in nanoseconds, a futex sleep costs a wake-up through the
// scheduler, tens of microseconds. Spinning is for when every spinner has
// a CPU of its own (see WaitPolicy); otherwise the window is 0. A waiter
// that goes to sleep says so first (control.genSleepers, parentSleeps),
// and a waker makes the FUTEX_WAKE system call only when someone sleeps:
// both sides use sequentially consistent atomics, and the futex compares
// the word with the sleep, so either the waker sees the sleeper or the
// sleeper sees the new word.
//
// # Shares
//
// The terms are cut into pieces of job.grain terms, counted from the
// call's first term: the piece grid, which depends on the call alone (see
// Config.Grain). The Func is called on whole pieces only, and each piece's
// value is added exactly into the worker's accumulator (package superacc),
// so a call's result is the correctly rounded sum of its pieces' values
// whoever summed them, in whatever order, in whatever groups.
//
// Static: worker i sums [lo, hi) = span(n, grain, workers, i), whole
// pieces, publishing every job.step terms (whole pieces too). Dynamic:
// the terms are cut into job.chunks chunks of job.step terms (whole
// pieces), and the chunk table in the tail holds one word per
// chunk: 0 (free), the pid of the worker summing it, or chunkDone. A worker
// takes the next index from control.next (fetch-add), then claims the
// chunk by CAS 0 -> pid; when next runs past the end it sweeps the table
// for free chunks, so a chunk whose taker died between the fetch-add and
// the CAS is still done. It publishes each chunk, then marks it chunkDone.
//
// # The journal
//
// Every mode journals, in the worker's own slot, the exact total of what
// it has published (an accumulator per element; for Min and Max the
// extreme): two entries and a sequence word. An entry's k folds (one per
// element of a vector Func, one for a scalar) live in the tail, at
// segView.entryFolds. A worker writes
// the new total into the entry that is not active (plain stores: nothing
// else reads it), then stores seq+1 (store-release), which makes it the
// active one. A process killed at any instruction leaves the old entry or
// the new one active, never a mix. In the dynamic schedule the entry also
// holds the last chunk it covers, so the parent can tell whether a dead
// worker's claimed chunk made it into the journal (mark it done) or not
// (free it for another worker). A static share is redone from an empty
// journal; a dynamic one continues from the journal the dead worker left.
//
// # The modes
//
// slots journals only; the parent adds the journals. cas adds each
// publish's accumulators into the tail's accElems (one per element) with
// one atomic add per limb
// (superacc.AtomicMerge: integer adds commute, so no order is needed and
// nothing is lost), and Min and Max with a CAS loop on accElem.best. mutex
// adds every element under accum.lock, a pid-word lock the parent can take back from a
// dead holder. racy (scalar Funcs only) adds each publish's rounded value
// into element 0's best with a plain load, add and store, losing what
// interleaves. The
// message-passing modes send the journal's folds (each element's exact
// accumulator and its rounded value, one message per element) to the
// parent once, after the last publish; the parent combines the messages'
// accumulators and checks each against its worker's journal.
//
// # Faults
//
// When a worker dies, the parent reaps it and frees the lock if its pid
// holds it. If its slot says it finished the call, its result stands.
// Otherwise its share is redone by a fresh process (Config.Retries), and,
// for cas, mutex and racy, the accumulator is set aside: nobody can tell
// how much of the dead worker's last add landed, so the sum is rebuilt
// from the journals. The tests kill a worker at every fault() point below,
// for every mode and both schedules, and require the exact result or a
// clear error.

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// protocolVersion changes whenever anything below changes meaning.
const protocolVersion = 7

// The environment a worker is started with. A process is a pishm worker
// exactly when envSegment is set.
const (
	envSegment = "PISHM_SEGMENT"
	envWorker  = "PISHM_WORKER"
	envAttempt = "PISHM_ATTEMPT"
)

// genQuit in control.gen tells pool workers to exit.
const genQuit = math.MaxUint32

// chunkDone marks a chunk in the table whose result is in a journal.
const chunkDone = math.MaxUint32

// modeCode is a Mode as the segment carries it. The numbers are part of
// the protocol: never reuse one. The transports' come from package
// transport's list of kinds (transport.Code).
var modeCode = func() map[Mode]uint32 {
	m := map[Mode]uint32{Slots: 1, CAS: 2, Mutex: 3, Racy: 4}
	for _, t := range transportModes {
		m[t] = transport.Code(string(t))
	}
	return m
}()

func modeOf(code uint32) (Mode, bool) {
	for m, c := range modeCode {
		if c == code {
			return m, true
		}
	}
	return "", false
}

// jobSpec is one call's work, written by the parent while the workers
// sleep and read by them after they load the new gen.
type jobSpec struct {
	n, offset uint64
	step      uint64 // static: terms between publishes; dynamic: terms per chunk
	chunks    uint64 // dynamic: how many chunks (0 for static)
	grain     uint64 // terms per piece of the grid (chunk is a multiple)
	mode      uint32 // modeCode
	dynamic   bool
	_         [3]byte
	params    uint32 // bytes of parameters at the start of the params area
	k         uint32 // elements: their ops are the first k bytes of the ops area
	name      [maxJobName]byte
}

// control is the engine's control block at the start of the segment.
type control struct {
	protocol  uint32 // protocolVersion
	workers   uint32
	stamp     [16]byte // buildStamp of the parent
	lanePad   uint32   // bytes between lanes (Config.Pad), 0 for none
	maxChunks uint32   // chunk table capacity
	maxParams uint32   // params area capacity
	maxK      uint32   // elements a call may have: ops area, accElems and journal folds
	job       jobSpec

	gen      atomic.Uint32 // the current call; futex word the workers sleep on
	arrived  atomic.Uint32 // workers attached; futex word for the start barrier
	finished atomic.Uint32 // workers done with the current call; futex word the parent sleeps on
	cancel   atomic.Uint32 // = gen when the parent gave up on the call
	next     atomic.Uint64 // dynamic: the next chunk index to hand out

	// The wait policy (see "Waiting"): how long a worker spins on gen
	// before it sleeps, and who sleeps, so that a wake-up costs a system
	// call only when somebody sleeps.
	spinNs       atomic.Int64  // ns a worker spins on gen before sleeping
	genSleepers  atomic.Uint32 // workers asleep (or about to be) on gen
	parentSleeps atomic.Uint32 // 1 while the parent is asleep (or about to be) on finished
}

// accum is the shared accumulator's lock; its elements are accElems in
// the tail.
type accum struct {
	lock sem.Mutex
}

// accElem is one element of the shared accumulator: cas adds into exact
// with atomic adds (Sum) or into best with CompareAndSwap (Min, Max);
// mutex adds into either holding accum.lock; racy adds into best with
// plain loads and stores.
type accElem struct {
	best  atomic.Uint64 // float64 bits: Min or Max so far; racy's running sum
	exact superacc.Acc  // Sum: the exact total
}

// journalEntry is one published total (see "The journal"); its folds, the
// exact total (Sum) or the extreme (Min, Max) of each element, are at
// segView.entryFolds.
type journalEntry struct {
	terms     uint64 // terms covered
	publishes uint64 // how many publishes it took
	last      uint64 // dynamic: 1 + the last chunk covered, 0 for none
}

// slot is one worker's block. Only worker i writes slot i during a call;
// the parent writes it between calls and after a death, when no live
// worker of that slot runs.
type slot struct {
	entry    [2]journalEntry
	seq      atomic.Uint64 // entry[seq&1] is the active one
	state    atomic.Uint32 // slotIdle .. slotDone
	pid      atomic.Uint32
	doneGen  atomic.Uint32 // the last call this worker finished
	_        uint32
	elapsed  atomic.Int64  // ns from the call's start to the worker's finish
	progress atomic.Uint64 // terms summed in this call, published or not
}

// A slot's states in one call, in the order a worker passes them.
const (
	slotIdle    uint32 = iota // not attached yet
	slotArrived               // attached, waiting for a call
	slotRunning               // summing and publishing
	slotDone                  // everything published
)

var slotStates = [...]string{"before attaching", "waiting for work", "while summing", "after publishing"}

// superacc's accumulators are updated with 64-bit atomics: they must be
// 8-byte aligned in the segment. The tail starts 8-byte aligned, and the
// arrays of accElems and folds keep every element so.
var (
	_ [0]struct{} = [unsafe.Offsetof(accElem{}.exact) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(accElem{}) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(fold{}) % 8]struct{}{}
)

// layout is where everything lives in a segment.
type layout struct {
	workers   int
	stride    int
	ctlBlocks int // control spans this many blocks
	accBlocks int // the accumulator spans this many
	slotSpan  int // blocks per slot
	lanePad   int
	maxChunks int
	maxParams int
	maxK      int
}

func newLayout(workers, stride, lanePad, maxChunks, maxParams, maxK int) layout {
	return layout{
		workers: workers, stride: stride,
		ctlBlocks: blocksFor(unsafe.Sizeof(control{}), stride),
		accBlocks: blocksFor(unsafe.Sizeof(accum{}), stride),
		slotSpan:  blocksFor(unsafe.Sizeof(slot{}), stride),
		lanePad:   lanePad, maxChunks: maxChunks, maxParams: maxParams, maxK: maxK,
	}
}

func blocksFor(size uintptr, stride int) int { return (int(size) + stride - 1) / stride }

func (l layout) blocks() int { return l.ctlBlocks + l.accBlocks + l.workers*l.slotSpan }

// The tail: lanes, the chunk table, the parameters, the ops of the
// elements, the shared accumulator's elements, then the journals' folds
// (worker by worker, entry 0 then 1, k folds each), each 8-byte aligned.
func (l layout) laneOff() int   { return 0 }
func (l layout) chunkOff() int  { return l.workers * l.lanePad }
func (l layout) paramsOff() int { return l.chunkOff() + (l.maxChunks*4+7)&^7 }
func (l layout) opsOff() int    { return l.paramsOff() + (l.maxParams+7)&^7 }
func (l layout) accOff() int    { return l.opsOff() + (l.maxK+7)&^7 }
func (l layout) foldsOff() int  { return l.accOff() + l.maxK*int(unsafe.Sizeof(accElem{})) }
func (l layout) tail() int {
	return l.foldsOff() + l.workers*2*l.maxK*int(unsafe.Sizeof(fold{}))
}

// segView is a segment seen through a layout.
type segView struct {
	seg *shmem.Segment
	l   layout
	ctl *control
	acc *accum
}

func newView(seg *shmem.Segment, l layout) segView {
	return segView{seg: seg, l: l, ctl: (*control)(seg.Block(0)), acc: (*accum)(seg.Block(l.ctlBlocks))}
}

func (v segView) slot(i int) *slot {
	return (*slot)(v.seg.Block(v.l.ctlBlocks + v.l.accBlocks + i*v.l.slotSpan))
}

// lane is worker i's word in the false-sharing experiment, or nil.
func (v segView) lane(i int) *atomic.Uint64 {
	if v.l.lanePad == 0 {
		return nil
	}
	return (*atomic.Uint64)(unsafe.Pointer(&v.seg.Tail()[v.l.laneOff()+i*v.l.lanePad]))
}

// chunks is the chunk table, k words.
func (v segView) chunks(k int) chunkTable {
	if k == 0 {
		return nil
	}
	return unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(&v.seg.Tail()[v.l.chunkOff()])), k)
}

// ops is the call's ops, k of them.
func (v segView) ops(k int) []Op {
	off := v.l.opsOff()
	return unsafe.Slice((*Op)(unsafe.Pointer(&v.seg.Tail()[off])), k)
}

// accElems is the shared accumulator's first k elements.
func (v segView) accElems(k int) []accElem {
	return unsafe.Slice((*accElem)(unsafe.Pointer(&v.seg.Tail()[v.l.accOff()])), k)
}

// entryFolds is the first k folds of entry e of worker i's journal.
func (v segView) entryFolds(i, e, k int) folds {
	off := v.l.foldsOff() + (i*2+e)*v.l.maxK*int(unsafe.Sizeof(fold{}))
	return unsafe.Slice((*fold)(unsafe.Pointer(&v.seg.Tail()[off])), k)
}

// activeFolds is the first k folds of worker i's committed journal entry.
func (v segView) activeFolds(i, k int) folds {
	return v.entryFolds(i, int(v.slot(i).seq.Load()&1), k)
}

// params is the call's parameter bytes.
func (v segView) params(n int) []byte {
	off := v.l.paramsOff()
	return v.seg.Tail()[off : off+n : off+n]
}

// check validates what a worker reads from the control block against the
// segment it found it in: everything it indexes with must be in bounds.
func (c *control) check(seg *shmem.Segment) (layout, error) {
	if c.protocol != protocolVersion {
		return layout{}, fmt.Errorf("%w: segment speaks protocol %d, this binary %d", ErrProtocol, c.protocol, protocolVersion)
	}
	if c.stamp != buildStamp() {
		return layout{}, fmt.Errorf("%w: the parent was built as %x, this binary as %x", ErrProtocol, c.stamp, buildStamp())
	}
	h := seg.Header()
	if c.workers < 1 || c.workers > MaxWorkers || c.maxChunks > maxChunkTable || c.maxParams > MaxParams ||
		c.maxK < 1 || c.maxK > MaxK ||
		c.lanePad != 0 && (c.lanePad < 8 || c.lanePad > 4096 || c.lanePad&(c.lanePad-1) != 0) {
		return layout{}, fmt.Errorf("%w: control block workers=%d maxChunks=%d maxParams=%d maxK=%d lanePad=%d",
			ErrProtocol, c.workers, c.maxChunks, c.maxParams, c.maxK, c.lanePad)
	}
	l := newLayout(int(c.workers), int(h.Stride), int(c.lanePad), int(c.maxChunks), int(c.maxParams), int(c.maxK))
	if l.blocks() != int(h.Blocks) || l.tail() != int(h.Tail) {
		return layout{}, fmt.Errorf("%w: control block needs %d blocks and %d tail bytes, the segment has %d and %d",
			ErrProtocol, l.blocks(), l.tail(), h.Blocks, h.Tail)
	}
	return l, nil
}

// check validates a job a worker is about to run, and its ops.
func (j *jobSpec) check(l layout, ops func(k int) []Op) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: job "+format, append([]any{ErrProtocol}, args...)...)
	}
	mode, ok := modeOf(j.mode)
	switch {
	case !ok || mode == Goroutines:
		return bad("mode code %d", j.mode)
	case j.k < 1 || j.k > uint32(l.maxK):
		return bad("%d elements (room for %d)", j.k, l.maxK)
	case j.k > 1 && mode == Racy:
		return bad("mode %s with %d elements", mode, j.k)
	case j.n == 0 || j.n > MaxN || j.offset > MaxN-j.n:
		return bad("terms [%d, %d+%d)", j.offset, j.offset, j.n)
	case j.grain == 0 || j.grain > MaxGrain || j.step == 0 || j.step%j.grain != 0:
		return bad("step %d, grain %d", j.step, j.grain)
	case j.dynamic && (j.chunks != (j.n-1)/j.step+1 || j.chunks > uint64(l.maxChunks)):
		return bad("%d chunks of %d for %d terms (table holds %d)", j.chunks, j.step, j.n, l.maxChunks)
	case !j.dynamic && j.chunks != 0:
		return bad("static with %d chunks", j.chunks)
	case j.params > uint32(l.maxParams):
		return bad("%d parameter bytes (room for %d)", j.params, l.maxParams)
	case mode.IsTransport() && j.dynamic:
		return bad("mode %s with dynamic chunks", mode)
	}
	for e, op := range ops(int(j.k)) {
		if op < Sum || op > Max {
			return bad("element %d: op %d", e, op)
		}
	}
	if _, err := cString(j.name[:]); err != nil {
		return bad("name: %v", err)
	}
	return nil
}

// cString reads a NUL-padded name: printable ASCII, then only NULs.
func cString(b []byte) (string, error) {
	s, rest, _ := strings.Cut(string(b), "\x00")
	if strings.Trim(rest, "\x00") != "" {
		return "", errors.New("bytes after the end")
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return "", fmt.Errorf("byte %q", r)
		}
	}
	return s, nil
}

// setName writes s NUL-padded into b (s already validated to fit).
func setName(b []byte, s string) {
	clear(b)
	copy(b, s)
}

// ErrProtocol is wrapped by a worker's error when the segment it attached
// to is not one it can work with: another protocol, another build, or a
// field out of bounds.
var ErrProtocol = errors.New("engine: worker protocol mismatch")

// maxChunkTable bounds the dynamic schedule's chunk count (4 bytes each
// in the segment).
const maxChunkTable = 1 << 24

// MaxParams bounds the parameter bytes of one call (WithParams).
const MaxParams = 1 << 20

// chunkTable is the dynamic schedule's one word per chunk.
type chunkTable []atomic.Uint32

// journal is a worker's view of its slot's journal: the active entry, kept
// locally, and the commit that publishes a new one.
type journal struct {
	s     *slot
	seq   uint64
	folds [2]folds // each entry's folds
}

func openJournal(v segView, i, k int) journal {
	s := v.slot(i)
	return journal{s: s, seq: s.seq.Load(), folds: [2]folds{v.entryFolds(i, 0, k), v.entryFolds(i, 1, k)}}
}

// cur is the active entry and its folds. Only this worker writes its slot
// during a call, so it reads them from the segment.
func (j *journal) cur() (*journalEntry, folds) { return &j.s.entry[j.seq&1], j.folds[j.seq&1] }

// next is the inactive entry and its folds, made a copy of the active one
// for the caller to update and commit (plain stores: nothing else reads
// it).
func (j *journal) next() (*journalEntry, folds) {
	e, f := &j.s.entry[(j.seq+1)&1], j.folds[(j.seq+1)&1]
	ce, cf := j.cur()
	*e = *ce
	copy(f, cf)
	return e, f
}

// commit makes the entry next returned the active one (see "The journal").
func (j *journal) commit() {
	fault("journal-half")
	j.seq++
	j.s.seq.Store(j.seq) // store-release: the entry is whole before it is active
}

// active is the slot's committed journal entry.
func (s *slot) active() *journalEntry { return &s.entry[s.seq.Load()&1] }

// resetSlot makes slot i ready for a fresh share: the journal emptied to
// the identities of ops. Only the parent calls it, with no live process
// on the slot.
func (v segView) resetSlot(i int, ops []Op) {
	s := v.slot(i)
	s.entry[0] = journalEntry{}
	s.entry[1] = journalEntry{}
	v.entryFolds(i, 0, len(ops)).reset(ops)
	s.seq.Store(0)
	s.elapsed.Store(0)
	s.progress.Store(0)
}

// settleChunks fixes the chunk table after the worker with pid died: a chunk
// it claimed is done if its journal covers it, else free again.
func settleChunks(tbl chunkTable, pid uint32, e *journalEntry) {
	for c := range tbl {
		if tbl[c].Load() != pid {
			continue
		}
		if e.last == uint64(c)+1 {
			tbl[c].Store(chunkDone)
		} else {
			tbl[c].Store(0)
		}
	}
}

// modeList is the modes a user can ask for, for error messages.
func modeList() string {
	var s []string
	for _, m := range Modes() {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}
