package engine

import (
	"math"

	"github.com/pishm/pishm/engine/internal/kernel"
)

// compensated is a running double-double sum: hi holds the total, lo the
// rounding errors of the adds into hi.
type compensated struct{ hi, lo float64 }

func (c *compensated) add(x float64) {
	var e float64
	c.hi, e = twoSum(c.hi, x)
	c.lo += e
}

func (c compensated) value() float64 { return c.hi + c.lo }

// sumRange sums [lo, hi) with k in chunks of chunk terms, calling publish
// with each chunk's sum and the terms done so far. It returns the
// compensated total of the chunk sums, which is what every mode calls the
// worker's partial.
func sumRange(k kernel.Kernel, lo, hi, chunk uint64, publish func(part float64, done uint64)) float64 {
	var acc compensated
	for a := lo; a < hi; {
		b := hi
		if hi-a > chunk {
			b = a + chunk
		}
		p := k.Sum(a, b)
		acc.add(p)
		if publish != nil {
			publish(p, b-lo)
		}
		a = b
	}
	return acc.value()
}

// publisher returns the per-chunk publish function of a shared-memory mode,
// and a finish function to call once after the last chunk.
func publisher(mode Mode, a *accum, s *slot) (publish func(float64, uint64), finish func() error) {
	// The journal: only this worker writes its slot, so plain atomic
	// stores suffice; done is stored last (store-release).
	var acc compensated
	journal := func(p float64, done uint64) {
		acc.add(p)
		s.partial.Store(math.Float64bits(acc.hi))
		s.comp.Store(math.Float64bits(acc.lo))
		s.done.Store(done)
	}
	switch mode {
	case CAS:
		// The error of each add is known exactly (twoSum against the value
		// the CAS replaced): keep it here and add it once at the end, so
		// the shared total stays as exact as a compensated sum.
		var lost float64
		return func(p float64, done uint64) {
				lost += casAdd(&a.sum, p)
				a.adds.Add(1)
				fault("published")
				journal(p, done)
			}, func() error {
				casAdd(&a.comp, lost)
				return nil
			}
	case Mutex:
		var err error
		return func(p float64, done uint64) {
				if err != nil {
					return
				}
				if err = a.lock.Lock(); err != nil {
					return
				}
				// Critical section: plain read-modify-write made atomic by the lock.
				sum, e := twoSum(f64(a.sum.Load()), p)
				a.sum.Store(math.Float64bits(sum))
				fault("published")
				a.comp.Store(math.Float64bits(f64(a.comp.Load()) + e))
				a.adds.Add(1)
				journal(p, done)
				err = a.lock.Unlock()
			}, func() error {
				return err
			}
	}
	return journal, func() error { return nil }
}

// casAdd adds x to the float64 whose bits are at w with a compare-and-swap
// loop, and returns the rounding error of the add that won.
func casAdd(w interface {
	Load() uint64
	CompareAndSwap(old, new uint64) bool
}, x float64) float64 {
	for {
		old := w.Load()
		sum, e := twoSum(f64(old), x)
		if w.CompareAndSwap(old, math.Float64bits(sum)) {
			return e
		}
	}
}
