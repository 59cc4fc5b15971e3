package engine

import (
	"math"
	"sync/atomic"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/sem"
)

// sink takes a share's publishes: a publisher, or an in-process
// participant's own total. An interface, not a func, so that passing one
// allocates nothing.
type sink interface {
	publish(f folds, terms, chunk uint64)
}

// publisher is one mode's way of publishing, over the worker's journal.
// It holds no closures, so that one kept by its owner (a worker, a pool's
// caller) is reused by every call without allocating.
type publisher struct {
	j    segment.Journal
	mode strategy
	acc  []segment.AccElem      // the shared accumulator's elements
	mu   *sem.Mutex             // the accumulator's lock (mutex)
	lock func(*sem.Mutex) error // takes mu (mutex): Mutex.Lock, or the caller's way
	lane *atomic.Uint64         // the false-sharing experiment's word (slots), or nil
	run  float64                // the running total stored in lane
	err  error                  // the mutex mode's first lock error: the rest is skipped
}

// init makes pb publish participant i's folds of ops by mode into its
// journal in v and, for cas, mutex and racy, the shared accumulator; lane
// is the false-sharing experiment's word, or nil; lock takes the
// accumulator's lock (nil: Mutex.Lock).
func (pb *publisher) init(mode strategy, ops []fold.Op, v segment.View, i int, lane *atomic.Uint64, lock func(*sem.Mutex) error) {
	if lock == nil {
		lock = (*sem.Mutex).Lock
	}
	*pb = publisher{j: segment.OpenJournal(v, i, len(ops)), mode: mode, acc: v.AccElems(len(ops)), mu: &v.Acc.Lock, lock: lock, lane: lane}
}

// record journals f (see "The journal").
func (pb *publisher) record(f folds, terms, chunk uint64) {
	e, ef := pb.j.Next()
	ef.Merge(f)
	e.Terms += terms
	e.Publishes++
	e.Last = chunk + 1    // dynamic only: static shares pass chunk 0
	fault("journal-half") // the new entry written, not yet made active
	pb.j.Commit()
}

// publish publishes f, the total of terms terms (of dynamic chunk chunk),
// by pb's mode.
func (pb *publisher) publish(f folds, terms, chunk uint64) {
	acc := pb.acc
	switch pb.mode {
	case modeSlots:
		pb.record(f, terms, chunk)
		if pb.lane != nil {
			// The false-sharing experiment: a running total also goes to
			// a lane packed as tightly as Config.Pad says.
			pb.run += f[0].Value()
			pb.lane.Store(math.Float64bits(pb.run))
		}
	case modeRacy:
		// A plain load, add and store of each publish's value, as
		// unsynchronised code would write it: two workers that
		// interleave here lose one add. (Scalar Funcs only.)
		w := (*uint64)(unsafe.Pointer(&acc[0].Best))
		*w = math.Float64bits(f64(*w) + f[0].Value())
		fault("accum")
		pb.record(f, terms, chunk)
	case modeCAS:
		for e := range f {
			if f[e].Op == fold.Sum {
				superacc.AtomicMerge(&acc[e].Exact, &f[e].Acc)
			} else {
				casBetter(&acc[e].Best, f[e].Op, f[e].Best)
			}
		}
		fault("accum")
		pb.record(f, terms, chunk)
	case modeMutex:
		if pb.err != nil {
			return
		}
		if pb.err = pb.lock(pb.mu); pb.err != nil {
			return
		}
		// Critical section: plain adds made atomic by the lock.
		for e := range f {
			if f[e].Op == fold.Sum {
				acc[e].Exact.Merge(&f[e].Acc)
			} else {
				acc[e].Best.Store(math.Float64bits(f[e].Op.Pick(f[e].Best, f64(acc[e].Best.Load()))))
			}
		}
		fault("accum")
		if pb.err = pb.mu.Unlock(); pb.err != nil {
			return
		}
		pb.record(f, terms, chunk)
	default: // the transports: the journal is what the message carries
		pb.record(f, terms, chunk)
	}
}

// finish is the share's publishing error, if any.
func (pb *publisher) finish() error { return pb.err }

// casBetter replaces the float64 at w with op's pick of it and x.
func casBetter(w *atomic.Uint64, op fold.Op, x float64) {
	for {
		old := w.Load()
		v := math.Float64bits(op.Pick(x, f64(old)))
		if v == old || w.CompareAndSwap(old, v) {
			return
		}
	}
}

func f64(bits uint64) float64 { return math.Float64frombits(bits) }
