package engine

import (
	"math/big"
)

// maxK is the most elements a vector reduction may have: a histogram of
// 4096 bins, or fewer bins beside a few moments. Each element costs every
// worker two exact accumulators of about 600 bytes in the segment (its
// journal's two entries), and the segment one more.
const maxK = 4096

// Vector is one piece's k results, which a VectorFunc adds to. Element i
// is reduced under the i-th Op of the registration: a Sum element
// accumulates exactly (the adds of every piece, in any order or grouping,
// give the same bits), a Min or Max element keeps its extreme under the
// rules of Min and Max.
type Vector struct {
	f folds
}

// Add adds x into element i: exactly for a Sum element, as the new
// extreme if it is one for Min and Max.
func (v *Vector) Add(i int, x float64) { v.f[i].add(x) }

// AddSlice adds every value of xs into element i, as a loop of Add would,
// faster for a Sum element.
func (v *Vector) AddSlice(i int, xs []float64) {
	f := &v.f[i]
	if f.op == Sum {
		f.acc.AddSlice(xs)
		return
	}
	for _, x := range xs {
		f.best = f.op.pick(x, f.best)
	}
}

// VectorFunc reduces the terms [lo, hi) into v, k values at once: the
// count, sum and extremes of a column, a histogram's bins, the terms of a
// dot product. It is called as a Func is (on the pieces of the grid, in
// worker processes, with the call's params), with v holding the
// elements' identities.
type VectorFunc func(params []byte, lo, hi uint64, v *Vector)

// Exact is element i's exact result: for a Sum element the exact sum of
// everything added (Values[i] is it rounded once), for Min and Max the
// extreme. It is ±Inf for an infinite result and nil for NaN, and nil if i
// is out of range.
func (r *Result) Exact(i int) *big.Float {
	if i < 0 || i >= len(r.folds) {
		return nil
	}
	f := &r.folds[i]
	if f.op == Sum {
		return f.acc.Big()
	}
	if f.best != f.best {
		return nil
	}
	return new(big.Float).SetFloat64(f.best)
}
