package bench

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/shared"
)

func init() {
	engine.Register("bench-shared-sum", func(params []byte, lo, hi uint64) float64 {
		xs, err := shared.Attach[float64](shared.Handle(params))
		if err != nil {
			panic(err)
		}
		return sumSlice(xs[lo:hi])
	}, []partial.Op{partial.Sum})
}

// sumSlice is the loop both arms run: four running sums, so that neither
// waits on one add chain.
func sumSlice(xs []float64) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		s0 += xs[i]
		s1 += xs[i+1]
		s2 += xs[i+2]
		s3 += xs[i+3]
	}
	for ; i < len(xs); i++ {
		s0 += xs[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// BenchmarkSharedArray is the cost of reducing an array the program holds
// in shared memory (package shared) on a Pool of two worker processes,
// against its anchor, two goroutines summing a plain slice of the same
// size with the same loop:
//
//	via=pool         the Pool's workers attach the array (once) and sum
//	                 their pieces of it
//	via=goroutines   two goroutines over a []float64 on the Go heap
//
// n is 1e8 (800 MB each) unless PISHM_BENCH_SHARED_N says otherwise.
// Compare with benchstat -col /via.
func BenchmarkSharedArray(b *testing.B) {
	n := 100_000_000
	if s := os.Getenv("PISHM_BENCH_SHARED_N"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatal(err)
		}
		n = int(v)
	}
	b.Run(fmt.Sprintf("n=%.0e/workers=2/via=pool", float64(n)), func(b *testing.B) {
		a, err := shared.New[float64](n)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		for i := range a.Data() {
			a.Data()[i] = float64(i & 1023)
		}
		p, err := engine.NewPool(b.Context(), engine.WithWorkers(2), engine.WithInProcessBelow(0))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		h := []byte(a.Handle())
		if _, err := p.Reduce(b.Context(), "bench-shared-sum", uint64(n), engine.WithParams(h)); err != nil { // the workers map it
			b.Fatal(err)
		}
		b.SetBytes(int64(8 * n))
		for b.Loop() {
			r, err := p.Reduce(b.Context(), "bench-shared-sum", uint64(n), engine.WithParams(h))
			if err != nil {
				b.Fatal(err)
			}
			sink += r.Value
		}
	})
	b.Run(fmt.Sprintf("n=%.0e/workers=2/via=goroutines", float64(n)), func(b *testing.B) {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(i & 1023)
		}
		b.SetBytes(int64(8 * n))
		for b.Loop() {
			var wg sync.WaitGroup
			var part [2]float64
			for w := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					part[w] = sumSlice(xs[w*n/2 : (w+1)*n/2])
				}()
			}
			wg.Wait()
			sink += part[0] + part[1]
		}
	})
}
