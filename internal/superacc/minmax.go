package superacc

import "math"

// MinOf returns the smaller of a and b under a total order in which -0 is
// below +0 and NaN wins: if either is NaN the result is the canonical NaN
// math.NaN(), whatever its payload. MinOf is commutative and associative
// down to the bits, so folding it over values in any order or grouping
// gives the same bits. Its identity is +Inf.
func MinOf(a, b float64) float64 {
	switch {
	case a != a || b != b:
		return math.NaN()
	case a < b:
		return a
	case b < a:
		return b
	}
	// Equal: the same bits, or +0 and -0 in some order; -0 has the sign bit.
	return math.Float64frombits(math.Float64bits(a) | math.Float64bits(b))
}

// MaxOf returns the larger of a and b under the order of MinOf: -0 is
// below +0 and NaN wins, as the canonical NaN. Its identity is -Inf.
func MaxOf(a, b float64) float64 {
	switch {
	case a != a || b != b:
		return math.NaN()
	case a > b:
		return a
	case b > a:
		return b
	}
	return math.Float64frombits(math.Float64bits(a) & math.Float64bits(b))
}
