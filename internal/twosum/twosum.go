// Package twosum is Knuth's TwoSum, the one error-free transformation that
// pishm's compensated sums (the kernels' folds, the engine's journals and
// shared accumulators, the closed form, the queue's reduction) are built
// on.
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
