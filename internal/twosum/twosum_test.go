package twosum

import (
	"math"
	"math/big"
	"testing"
)

// TestTwoSumExact: s + e is a + b exactly, checked in big arithmetic.
func TestTwoSumExact(t *testing.T) {
	for _, c := range [][2]float64{{1, 1e-16}, {1e-16, 1}, {1e300, -1e284}, {0.1, 0.2}, {3, -3}, {math.MaxFloat64 / 4, 1}} {
		s, e := TwoSum(c[0], c[1])
		want := new(big.Float).SetPrec(4096).Add(big.NewFloat(c[0]).SetPrec(4096), big.NewFloat(c[1]).SetPrec(4096))
		got := new(big.Float).SetPrec(4096).Add(big.NewFloat(s).SetPrec(4096), big.NewFloat(e).SetPrec(4096))
		if got.Cmp(want) != 0 || s != c[0]+c[1] {
			t.Errorf("TwoSum(%g, %g) = %g, %g: not exact", c[0], c[1], s, e)
		}
	}
}

// TestSum: 1 + 1e-16 + 1e-16 keeps both small terms, which float64 loses.
func TestSum(t *testing.T) {
	var f Sum
	for _, x := range []float64{1, 1e-16, 1e-16} {
		f.Add(x)
	}
	if f.Value() != 1+2e-16 {
		t.Fatalf("Value = %.17g, want %.17g", f.Value(), 1+2e-16)
	}
}
