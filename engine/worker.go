package engine

import (
	"math"
	"sync/atomic"
)

// fold is a running reduction: for Sum a double-double (hi holds the total,
// lo the rounding errors of the adds into hi); for Min and Max hi alone.
type fold struct {
	op     Op
	hi, lo float64
}

func newFold(op Op) fold { return fold{op: op, hi: op.identity()} }

func (f *fold) add(x float64) {
	if f.op != Sum {
		if f.op.better(x, f.hi) {
			f.hi = x
		}
		return
	}
	var e float64
	f.hi, e = twoSum(f.hi, x)
	f.lo += e
}

func (f fold) value() float64 { return f.hi + f.lo }

// progressStep bounds one call of the job's function, so that progress is
// seen (and a cancelled child dies) within a millisecond or so.
const progressStep = 1 << 22

// piece reduces [a, b) in calls of at most progressStep terms, counting
// each into progress.
func piece(j job, a, b uint64, progress *atomic.Uint64) float64 {
	f := newFold(j.op)
	for a < b {
		if j.cancelled != nil && j.cancelled() {
			break
		}
		e := min(b, a+progressStep)
		f.add(j.f(a, e))
		if progress != nil {
			progress.Add(e - a)
		}
		a = e
	}
	return f.value()
}

// sumRange reduces [lo, hi) in chunks of chunk terms, calling publish with
// each chunk's result and length. It returns the fold of the chunk results,
// which is what every mode calls the worker's partial.
func sumRange(j job, lo, hi, chunk uint64, progress *atomic.Uint64, publish func(part float64, terms uint64)) float64 {
	acc := newFold(j.op)
	for a := lo; a < hi && (j.cancelled == nil || !j.cancelled()); {
		b := hi
		if hi-a > chunk {
			b = a + chunk
		}
		p := piece(j, a, b, progress)
		acc.add(p)
		if publish != nil {
			publish(p, b-a)
		}
		a = b
	}
	return acc.value()
}

// chunkSource hands out dynamic chunks: next returns the next chunk index.
type chunkSource interface{ next() uint64 }

// sumDynamic takes chunks of chunk terms from src until [base, base+n) is
// used up.
// claim, when set, is told of each chunk before it is summed (index+1) and
// after it is published (0); redo is a chunk index+1 to do first.
func sumDynamic(j job, base, n, chunk uint64, src chunkSource, redo uint64, progress *atomic.Uint64,
	claim func(c uint64), publish func(part float64, terms uint64)) float64 {
	acc := newFold(j.op)
	for {
		var c uint64
		if redo != 0 {
			c, redo = redo-1, 0
		} else {
			c = src.next()
		}
		if c >= (n+chunk-1)/chunk || j.cancelled != nil && j.cancelled() {
			return acc.value()
		}
		a := base + c*chunk
		b := min(base+n, a+chunk)
		if claim != nil {
			claim(c + 1)
		}
		p := piece(j, a, b, progress)
		acc.add(p)
		if publish != nil {
			publish(p, b-a)
		}
		if claim != nil {
			claim(0)
		}
	}
}

// counter is a chunkSource on an atomic word (in the segment, or in memory
// for goroutines): the lock-free work queue.
type counter struct{ w *atomic.Uint64 }

func (c counter) next() uint64 { return c.w.Add(1) - 1 }

// publisher returns the per-chunk publish function of a shared-memory mode,
// and a finish function to call once after the last chunk. The journal
// continues from what s already holds (empty for a fresh range).
func publisher(mode Mode, op Op, a *accum, s *slot, lane *atomic.Uint64) (publish func(float64, uint64), finish func() error) {
	// The journal: only this worker writes its slot, so plain atomic
	// stores suffice; done is stored last (store-release).
	acc := fold{op: op, hi: f64(s.partial.Load()), lo: f64(s.comp.Load())}
	journal := func(p float64, terms uint64) {
		acc.add(p)
		s.partial.Store(math.Float64bits(acc.hi))
		s.comp.Store(math.Float64bits(acc.lo))
		s.done.Store(s.done.Load() + terms)
	}
	switch mode {
	case Slots:
		if lane != nil {
			// The false-sharing experiment: the running total also goes
			// to a lane packed as tightly as Config.Pad says.
			return func(p float64, terms uint64) {
				journal(p, terms)
				lane.Store(math.Float64bits(acc.hi))
			}, func() error { return nil }
		}
	case Racy:
		// Load, add, store: two workers that interleave here lose one add.
		return func(p float64, terms uint64) {
				a.sum.Store(math.Float64bits(f64(a.sum.Load()) + p))
				a.racyAdds.Store(a.racyAdds.Load() + 1)
				a.adds.Add(1)
				journal(p, terms)
			}, func() error {
				return nil
			}
	case CAS:
		// The error of each add is known exactly (twoSum against the value
		// the CAS replaced): keep it here and add it once at the end, so
		// the shared total stays as exact as a compensated sum.
		var lost float64
		return func(p float64, terms uint64) {
				if op == Sum {
					lost += casAdd(&a.sum, p)
				} else {
					casBetter(&a.sum, op, p)
				}
				a.adds.Add(1)
				fault("published")
				journal(p, terms)
			}, func() error {
				if op == Sum {
					casAdd(&a.comp, lost)
				}
				return nil
			}
	case Mutex:
		var err error
		return func(p float64, terms uint64) {
				if err != nil {
					return
				}
				if err = a.lock.Lock(); err != nil {
					return
				}
				// Critical section: plain read-modify-write made atomic by the lock.
				v := f64(a.sum.Load())
				if op == Sum {
					sum, e := twoSum(v, p)
					a.sum.Store(math.Float64bits(sum))
					fault("published")
					a.comp.Store(math.Float64bits(f64(a.comp.Load()) + e))
				} else if op.better(p, v) {
					a.sum.Store(math.Float64bits(p))
					fault("published")
				}
				a.adds.Add(1)
				journal(p, terms)
				err = a.lock.Unlock()
			}, func() error {
				return err
			}
	}
	return journal, func() error { return nil }
}

// casAdd adds x to the float64 whose bits are at w with a compare-and-swap
// loop, and returns the rounding error of the add that won.
func casAdd(w *atomic.Uint64, x float64) float64 {
	for {
		old := w.Load()
		sum, e := twoSum(f64(old), x)
		if w.CompareAndSwap(old, math.Float64bits(sum)) {
			return e
		}
	}
}

// casBetter replaces the float64 at w with x while x is better for op.
func casBetter(w *atomic.Uint64, op Op, x float64) {
	for {
		old := w.Load()
		if !op.better(x, f64(old)) || w.CompareAndSwap(old, math.Float64bits(x)) {
			return
		}
	}
}
