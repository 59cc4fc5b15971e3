// Package twosum is Knuth's TwoSum, the error-free transformation that the
// closed form of the pi series (engine/internal/exact) is compensated
// with. (The engine's exact sums are superaccumulators, package superacc,
// and the kernels fold their lanes in assembly: neither imports this.)
package twosum

// TwoSum returns s = fl(a+b) and the exact rounding error e, so that
// a + b = s + e exactly, for any a and b (no ordering by magnitude needed).
func TwoSum(a, b float64) (s, e float64) {
	s = a + b
	bb := s - a
	e = (a - (s - bb)) + (b - bb)
	return s, e
}

// Sum is a running double-double sum: Hi holds the total, Lo the exact
// rounding errors of the adds into Hi, rounded together once by Value.
type Sum struct{ Hi, Lo float64 }

// Add adds x.
func (f *Sum) Add(x float64) {
	var e float64
	f.Hi, e = TwoSum(f.Hi, x)
	f.Lo += e
}

// Value is the sum, rounded once.
func (f Sum) Value() float64 { return f.Hi + f.Lo }
