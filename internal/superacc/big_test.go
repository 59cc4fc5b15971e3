package superacc

import (
	"math"
	"math/big"
	"testing"
)

// TestBig checks Big against a big.Float sum of the same inputs, and its
// rounding against Round.
func TestBig(t *testing.T) {
	cases := [][]float64{
		{},
		{math.Copysign(0, -1)},
		{1, 1e-300, -1},
		{math.MaxFloat64, math.MaxFloat64, -math.MaxFloat64},
		{4.9e-324, 1e308, -1e308, 3},
		{-2.5, 0.125, -1e-310},
		{1e300, 1, -1e300},
	}
	for _, xs := range cases {
		var a Acc
		want := new(big.Float).SetPrec(4096)
		for _, x := range xs {
			a.Add(x)
			want.Add(want, new(big.Float).SetFloat64(x))
		}
		got := a.Big()
		if got.Cmp(want) != 0 {
			t.Errorf("%v: Big = %s, want %s", xs, got.Text('g', 40), want.Text('g', 40))
		}
		r, _ := got.Float64()
		if math.Float64bits(r) != math.Float64bits(a.Round()) && !(r == 0 && a.Round() == 0) {
			t.Errorf("%v: Big rounds to %v, Round gives %v", xs, r, a.Round())
		}
		if len(xs) == 1 && math.Signbit(xs[0]) && !got.Signbit() {
			t.Errorf("%v: Big lost the sign of zero", xs)
		}
	}
	var a Acc
	a.Add(math.Inf(1))
	if b := a.Big(); !b.IsInf() || b.Signbit() {
		t.Errorf("+Inf: Big = %v", b)
	}
	a.Add(math.Inf(-1))
	if b := a.Big(); b != nil {
		t.Errorf("+Inf + -Inf: Big = %v, want nil (NaN)", b)
	}
}
