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
	engine.Register("squares", engine.Sum, func(lo, hi uint64) float64 {
		var s float64
		for k := lo; k < hi; k++ {
			s += float64(k * k)
		}
		return s
	})
	engine.Register("min-cos", engine.Min, func(lo, hi uint64) float64 {
		m := math.Inf(1)
		for k := lo; k < hi; k++ {
			m = math.Min(m, math.Cos(float64(k)))
		}
		return m
	})
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
	fmt.Printf("%s over %d terms: %.0f\n", sq.Name, sq.N, sq.Value)

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
