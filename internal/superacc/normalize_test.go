package superacc

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fullNormalize is the carry chain through every limb: normalize's
// reference.
func fullNormalize(l *[numLimbs]int64) {
	var c int64
	for k := range topLimb {
		x := l[k]
		lo := x&digitMask + c&digitMask
		c = x>>digitBits + c>>digitBits + lo>>digitBits
		l[k] = lo & digitMask
	}
	l[topLimb] += c
}

// TestNormalizeUsed holds normalizeUsed to the full carry chain on sparse
// limbs of any int64 (extremes, carries out of the highest limb in use
// into zeros above, borrows running to the carry limb), and checks that
// every limb outside the range it returns is zero.
func TestNormalizeUsed(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 7))
	vals := []int64{0, 1, -1, digitMask, digitMask + 1, -digitMask, math.MaxInt64, math.MinInt64, 1 << 62, -(1 << 62)}
	for range 200000 {
		var l [numLimbs]int64
		for range r.IntN(5) {
			k := r.IntN(numLimbs)
			if r.IntN(2) == 0 {
				l[k] = vals[r.IntN(len(vals))]
			} else {
				l[k] = int64(r.Uint64()) >> r.IntN(64)
			}
		}
		want := l
		fullNormalize(&want)
		got := l
		lo, hi := normalizeUsed(&got)
		if got != want {
			t.Fatalf("normalize(%v) = %v, want %v", l, got, want)
		}
		for k := range topLimb {
			if (k < lo || k >= hi) && got[k] != 0 {
				t.Fatalf("normalize(%v): limb %d = %d outside the used range [%d, %d)", l, k, got[k], lo, hi)
			}
		}
	}
}
