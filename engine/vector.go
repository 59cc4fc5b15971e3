package engine

import (
	"github.com/pishm/pishm/engine/internal/fold"
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
func (v *Vector) Add(i int, x float64) { v.f[i].Add(x) }

// AddSlice adds every value of xs into element i, as a loop of Add would,
// faster for a Sum element.
func (v *Vector) AddSlice(i int, xs []float64) {
	f := &v.f[i]
	if f.Op == fold.Sum {
		f.Acc.AddSlice(xs)
		return
	}
	for _, x := range xs {
		f.Best = f.Op.Pick(x, f.Best)
	}
}

// VectorFunc reduces the terms [lo, hi) into v, k values at once: the
// count, sum and extremes of a column, a histogram's bins, the terms of a
// dot product. It is called as a Func is (on the pieces of the grid, in
// worker processes, with the call's params), with v holding the
// elements' identities.
type VectorFunc func(params []byte, lo, hi uint64, v *Vector)
