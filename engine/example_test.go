package engine_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// Functions are registered from init, so that the workers, which are
// re-executions of this binary, know them by name.
func init() {
	engine.Register("squares", squares, []partial.Op{partial.Sum})
	engine.Register("squares-checked", squares, []partial.Op{partial.Sum}, engine.WithClosedForm(func(_ []byte, lo, hi uint64) float64 {
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
	}, []partial.Op{partial.Min})
	engine.Register("sin-stats", func(params []byte, lo, hi uint64, v *engine.Vector) {
		scale := math.Float64frombits(binary.LittleEndian.Uint64(params))
		for k := lo; k < hi; k++ {
			x := scale * math.Sin(float64(k))
			v.Add(0, 1)
			v.Add(1, x)
			v.Add(2, x)
			v.Add(3, x)
		}
	}, []partial.Op{partial.Sum, partial.Sum, partial.Min, partial.Max})
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
	sq, err := engine.Reduce(ctx, "squares", 100_000, engine.WithWorkers(3), lab.WithMode(lab.CAS))
	if err != nil {
		fmt.Println(err)
		return
	}
	// sum_{k<n} k^2 = (n-1) n (2n-1) / 6
	fmt.Printf("%s over %d terms: %.0f\n", sq.Func, sq.N, sq.Value)

	mc, err := engine.Reduce(ctx, "min-cos", 100_000, engine.WithDynamic(0))
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

// A VectorFunc reduces k values at once, each under its own Op: here the
// count, sum, minimum and maximum of scale·sin(k) in one pass, the scale
// passed with the call (WithParams). It is registered from init (see the
// top of this file), as every Func must be: the workers find it by name.
func ExampleRegister() {
	params := binary.LittleEndian.AppendUint64(nil, math.Float64bits(2))
	r, err := engine.Reduce(context.Background(), "sin-stats", 1_000_000, engine.WithWorkers(2), engine.WithParams(params))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("count %.0f, mean %.6f, min %.6f, max %.6f (ops %s)\n", r.Values[0], r.Values[1]/r.Values[0], r.Values[2], r.Values[3], r.Op)
	// Output:
	// count 1000000, mean 0.000000, min -2.000000, max 2.000000 (ops sum,sum,min,max)
}

// A Pool starts its workers once; each call wakes them through the
// segment. Its calls take the same options as a one-shot Reduce and give
// the same bits.
func ExampleNewPool() {
	ctx := context.Background()
	pool, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close()
	var r engine.Result // reused: a loop of ReduceInto allocates nothing
	for _, n := range []uint64{1000, 100_000} {
		if err := pool.ReduceInto(ctx, &r, "squares-checked", n, engine.WithDynamic(0)); err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("n=%d: %.0f\n", n, r.Value)
	}
	// Output:
	// n=1000: 332833500
	// n=100000: 333328333350000
}
