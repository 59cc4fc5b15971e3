package superacc

import (
	"math"
	"math/big"
	"testing"
)

// refPrec is enough for the exact sum of up to 2^1000 doubles: their bits
// span 2^-1074 .. 2^1024, 2098 bits, plus one per doubling.
const refPrec = 4096

// ref is the reference: the exact sum of xs in math/big, rounded once by
// big.Float.Float64 (nearest even, overflow to ±Inf; TestRefRounding checks
// that), with IEEE's rules for Inf, NaN and the sign of zero applied here.
func ref(xs []float64) float64 {
	var nan, pinf, ninf bool
	var pos, neg int
	s := new(big.Float).SetPrec(refPrec)
	for _, x := range xs {
		switch {
		case math.IsNaN(x):
			nan = true
		case math.IsInf(x, 1):
			pinf = true
		case math.IsInf(x, -1):
			ninf = true
		default:
			if math.Signbit(x) {
				neg++
			} else {
				pos++
			}
			s.Add(s, new(big.Float).SetFloat64(x))
		}
	}
	switch {
	case nan || pinf && ninf:
		return math.NaN()
	case pinf:
		return math.Inf(1)
	case ninf:
		return math.Inf(-1)
	case s.Sign() == 0 && neg > 0 && pos == 0:
		return math.Copysign(0, -1)
	case s.Sign() == 0:
		return 0
	}
	f, _ := s.Float64()
	return f
}

// same reports whether x and y are the same float64, NaNs matching any NaN.
func same(x, y float64) bool {
	if math.IsNaN(x) || math.IsNaN(y) {
		return math.IsNaN(x) && math.IsNaN(y)
	}
	return math.Float64bits(x) == math.Float64bits(y)
}

// TestRefRounding pins the behaviour of big.Float.Float64 that ref relies
// on: ties to even, overflow to Inf only past the rounding boundary, and
// exact results in the subnormal range.
func TestRefRounding(t *testing.T) {
	ulpMax := math.Ldexp(1, 971) // ulp of MaxFloat64
	tiny := math.SmallestNonzeroFloat64
	bf := func(xs ...float64) *big.Float {
		s := new(big.Float).SetPrec(refPrec)
		for _, x := range xs {
			s.Add(s, new(big.Float).SetFloat64(x))
		}
		return s
	}
	for _, c := range []struct {
		in   *big.Float
		want float64
	}{
		{bf(math.MaxFloat64, ulpMax/2), math.Inf(1)},
		{bf(math.MaxFloat64, ulpMax/2, -tiny), math.MaxFloat64},
		{bf(-math.MaxFloat64, -ulpMax/2), math.Inf(-1)},
		{bf(math.MaxFloat64, math.MaxFloat64), math.Inf(1)},
		{bf(1, math.Ldexp(1, -53)), 1},
		{bf(1+math.Ldexp(1, -52), math.Ldexp(1, -53)), 1 + math.Ldexp(1, -51)},
		{bf(1, math.Ldexp(1, -53), tiny), 1 + math.Ldexp(1, -52)},
		{bf(tiny, tiny, tiny), 3 * tiny},
		{bf(math.Ldexp(1, -1022), -tiny), math.Float64frombits(1<<52 - 1)},
	} {
		if got, _ := c.in.Float64(); !same(got, c.want) {
			t.Errorf("big.Float(%g).Float64() = %g, want %g", c.in, got, c.want)
		}
	}
}
