package bench

import (
	"fmt"
	"testing"

	"github.com/pishm/pishm/engine"
)

// BenchmarkPool is the cost of one reduction of the pi series for a
// program that reduces many times, three ways: a Pool whose two workers
// start once (via=pool, never in process), fresh worker processes per
// call (via=exec, engine.Reduce), and goroutines in the caller
// (via=goroutines). Compare with benchstat -col /via.
func BenchmarkPool(b *testing.B) {
	for _, n := range []uint64{1e3, 1e6, 1e8} {
		for _, via := range []string{"pool", "exec", "goroutines"} {
			b.Run(fmt.Sprintf("n=%.0e/workers=2/via=%s", float64(n), via), func(b *testing.B) {
				reduce := func() (engine.Reduction, error) {
					mode := engine.Slots
					if via == "goroutines" {
						mode = engine.Goroutines
					}
					return engine.Reduce(b.Context(), "pi", n, engine.WithWorkers(2), engine.WithMode(mode))
				}
				if via == "pool" {
					p, err := engine.NewPool(b.Context(), engine.WithWorkers(2), engine.WithInProcessBelow(0))
					if err != nil {
						b.Fatal(err)
					}
					defer p.Close()
					reduce = func() (engine.Reduction, error) { return p.Reduce(b.Context(), "pi", n) }
				}
				for b.Loop() {
					r, err := reduce()
					if err != nil {
						b.Fatal(err)
					}
					sink += r.Value
				}
			})
		}
	}
}

// BenchmarkPoolCrossover finds where two pool workers start to beat two
// goroutines in the caller: the default of engine.WithInProcessBelow.
func BenchmarkPoolCrossover(b *testing.B) {
	p, err := engine.NewPool(b.Context(), engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, n := range []uint64{1e4, 3e4, 1e5, 3e5, 1e6, 3e6} {
		for _, via := range []string{"pool", "goroutines"} {
			b.Run(fmt.Sprintf("n=%.0e/workers=2/via=%s", float64(n), via), func(b *testing.B) {
				for b.Loop() {
					var r engine.Reduction
					var err error
					if via == "pool" {
						r, err = p.Reduce(b.Context(), "pi", n)
					} else {
						r, err = engine.Reduce(b.Context(), "pi", n, engine.WithWorkers(2), engine.WithMode(engine.Goroutines))
					}
					if err != nil {
						b.Fatal(err)
					}
					sink += r.Value
				}
			})
		}
	}
}
