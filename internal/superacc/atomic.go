package superacc

import (
	"math"
	"sync/atomic"
)

// AtomicAdd adds x to the shared accumulator a with atomic adds on at most
// three limbs and one counter, so that any number of goroutines or
// processes may call it (and AtomicMerge, AtomicSub) on a at once. a must
// start normalized (a zero Acc, or after Reset or Normalize).
func AtomicAdd(a *Acc, x float64) {
	bits := math.Float64bits(x)
	if uint(bits>>52)&expMask == expMask {
		switch {
		case bits&fracMask != 0:
			atomic.AddInt64(&a.nan, 1)
		case bits>>63 == 0:
			atomic.AddInt64(&a.posInf, 1)
		default:
			atomic.AddInt64(&a.negInf, 1)
		}
		return
	}
	atomic.AddInt64(&a.sign[bits>>63], 1)
	v, b := split(bits)
	i, s := int(b>>5), b&31
	// v·2^s in three digits below 2^32 in magnitude, so each atomic add
	// moves a limb by less than 2^32 (the headroom argument in the
	// package doc relies on it); the top one is signed.
	addLimb(&a.limbs, i, (v<<s)&digitMask)
	addLimb(&a.limbs, i+1, (v>>(32-s))&digitMask)
	addLimb(&a.limbs, i+2, v>>(64-s))
}

// addLimb atomically adds d (|d| < 2^32) to l[k]. If that leaves l[k] at or
// beyond ±spillAt, it moves ±spillAmount from l[k] into l[k+1] (in l[k+1]'s
// units), which keeps the value and bounds every limb however many adds
// arrive, without a lock: each writer spills only after its own add, so at
// most one spill per writer is ever pending.
func addLimb(l *[numLimbs]int64, k int, d int64) {
	for d != 0 {
		r := atomic.AddInt64(&l[k], d)
		if k == topLimb || -spillAt < r && r < spillAt {
			return
		}
		if r > 0 {
			atomic.AddInt64(&l[k], -spillAmount)
			d = spillAmount >> digitBits
		} else {
			atomic.AddInt64(&l[k], spillAmount)
			d = -spillAmount >> digitBits
		}
		k++
	}
}

// AtomicMerge adds the exact sum held by src to the shared accumulator
// dst: one atomic add per nonzero limb of src's normalized value and per
// nonzero counter. src is read with atomic loads, so it may be shared too
// (its value is then whatever Snapshot would see). Any number of writers
// may call AtomicAdd, AtomicMerge and AtomicSub on dst at once.
func AtomicMerge(dst, src *Acc) { atomicMerge(dst, src, 1) }

// AtomicSub subtracts the exact sum held by src from the shared
// accumulator dst (and src's input counts), e.g. to remove a dead worker's
// contribution that src recorded. Concurrency as for AtomicMerge.
func AtomicSub(dst, src *Acc) { atomicMerge(dst, src, -1) }

func atomicMerge(dst, src *Acc, sign int64) {
	t := Snapshot(src) // normalized: digits below 2^32, top limb 0 or -1
	for k, d := range t.limbs {
		addLimb(&dst.limbs, k, sign*d)
	}
	for _, c := range [...]struct {
		p *int64
		n int64
	}{
		{&dst.nan, t.nan},
		{&dst.posInf, t.posInf},
		{&dst.negInf, t.negInf},
		{&dst.sign[0], t.sign[0]},
		{&dst.sign[1], t.sign[1]},
	} {
		if c.n != 0 {
			atomic.AddInt64(c.p, sign*c.n)
		}
	}
}

// Snapshot returns a normalized copy of the shared accumulator a, loading
// each limb and counter atomically. While writers are active the copy may
// include only part of an add in flight; once they are done it is exact.
// Round, Equal and the other methods of the copy then need no atomics.
func Snapshot(a *Acc) Acc {
	var t Acc
	for k := range a.limbs {
		t.limbs[k] = atomic.LoadInt64(&a.limbs[k])
	}
	t.nan = atomic.LoadInt64(&a.nan)
	t.posInf = atomic.LoadInt64(&a.posInf)
	t.negInf = atomic.LoadInt64(&a.negInf)
	t.sign[0] = atomic.LoadInt64(&a.sign[0])
	t.sign[1] = atomic.LoadInt64(&a.sign[1])
	t.Normalize()
	return t
}
