package engine_test

import (
	"context"
	"fmt"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/shared"
)

func init() {
	// The Func finds the array by the handle in its params: in a worker,
	// Attach maps the program's pages once and keeps them.
	engine.Register("shared-sum", func(params []byte, lo, hi uint64) float64 {
		xs, err := shared.Attach[float64](shared.Handle(params))
		if err != nil {
			panic(err) // the call fails with this message, naming the worker and range
		}
		var s float64
		for _, x := range xs[lo:hi] {
			s += x
		}
		return s
	}, []partial.Op{partial.Sum})
}

// A program reduces data it holds in memory: it makes the array in
// shared memory, fills it, and hands the workers its handle. No file is
// written; the workers read the program's own pages.
func Example_sharedArray() {
	ctx := context.Background()
	a, err := shared.New[float64](3_000_000)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()
	xs := a.Data()
	for i := range xs {
		xs[i] = 0.5
	}
	h := []byte(a.Handle())

	r, err := engine.Reduce(ctx, "shared-sum", uint64(len(xs)), engine.WithParams(h), engine.WithWorkers(3))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("one-shot:", r.Value)

	// On a Pool, each call sees what the program wrote before it.
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer p.Close()
	for _, v := range []float64{1, 2} {
		for i := range xs {
			xs[i] = v
		}
		r, err := p.Reduce(ctx, "shared-sum", uint64(len(xs)), engine.WithParams(h))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println("pool:", r.Value)
	}
	// Output:
	// one-shot: 1.5e+06
	// pool: 3e+06
	// pool: 6e+06
}
