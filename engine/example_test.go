package engine_test

import (
	"context"
	"fmt"
	"math"

	"github.com/pishm/pishm/engine"
)

// Functions are registered from init, so that the workers, which are
// re-executions of this binary, know them by name.
func init() {
	engine.Register("squares", squares, []engine.Op{engine.Sum})
	engine.Register("squares-checked", squares, []engine.Op{engine.Sum}, engine.WithClosedForm(func(_ []byte, lo, hi uint64) float64 {
		f := func(n uint64) uint64 { // sum_{k<n} k^2, exact in uint64 up to n ~ 2.6e6
			if n == 0 {
				return 0
			}
			return (n - 1) * n * (2*n - 1) / 6
		}
		return float64(f(hi) - f(lo))
	}))
	engine.Register("min-cos", func(_ []byte, lo, hi uint64) float64 {
		m := math.Inf(1)
		for k := lo; k < hi; k++ {
			m = math.Min(m, math.Cos(float64(k)))
		}
		return m
	}, []engine.Op{engine.Min})
}

func squares(_ []byte, lo, hi uint64) float64 {
	var s float64
	for k := lo; k < hi; k++ {
		s += float64(k * k)
	}
	return s
}

// A program that embeds the engine registers its own Func and reduces it
// over child processes. Its main must start with the child hook:
//
//	if engine.IsChild() {
//		os.Exit(engine.ChildMain())
//	}
func ExampleReduce() {
	ctx := context.Background()
	sq, err := engine.Reduce(ctx, "squares", 100_000, engine.WithWorkers(3), engine.WithMode(engine.CAS))
	if err != nil {
		fmt.Println(err)
		return
	}
	// sum_{k<n} k^2 = (n-1) n (2n-1) / 6
	fmt.Printf("%s over %d terms: %.0f\n", sq.Func, sq.N, sq.Value)

	mc, err := engine.Reduce(ctx, "min-cos", 100_000, engine.WithSchedule(engine.Dynamic))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %.15f\n", mc.Op, mc.Value)
	// Output:
	// squares over 100000 terms: 333328333350000
	// min: -0.999999999545659
}

// A Sum Func whose sum is known in closed form carries it, and every call
// is checked against it: a wrong sum comes back with ErrInexact, never as
// a quiet answer. Here sum_{k<n} k^2 = (n-1) n (2n-1) / 6, exact in
// float64 while it stays below 2^53.
func ExampleWithClosedForm() {
	ctx := context.Background()
	r, err := engine.Reduce(ctx, "squares-checked", 100_000, engine.WithWorkers(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%.0f, checked against (n-1) n (2n-1) / 6\n", r.Value)
	// Output:
	// 333328333350000, checked against (n-1) n (2n-1) / 6
}
