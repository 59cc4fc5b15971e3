package bench

import (
	"errors"
	"fmt"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// BenchmarkFalseSharing publishes every term into lanes Pad bytes apart:
// at pad=8 the workers' lanes share cache lines, at 64 they share
// adjacent-line prefetch pairs, at 128 (the slot stride) nothing. Compare
// with benchstat -col /pad.
func BenchmarkFalseSharing(b *testing.B) {
	const n = 1e6
	for _, workers := range []int{2, 4} {
		for _, pad := range []int{8, 64, 128} {
			b.Run(fmt.Sprintf("workers=%d/pad=%d", workers, pad), func(b *testing.B) {
				runEach(b, lab.Config{N: n, Workers: workers, Mode: lab.Slots, Pad: pad, Publish: 1, Grain: 1})
			})
		}
	}
}

// BenchmarkRacy sets the unsynchronized load-add-store beside cas at a
// publish per term, and reports what share of the sum it lost per run.
func BenchmarkRacy(b *testing.B) {
	const n = 1e6
	for _, mode := range []lab.Mode{lab.CAS, lab.Racy} {
		b.Run(fmt.Sprintf("mode=%s/workers=2", mode), func(b *testing.B) {
			cfg := lab.Config{N: n, Workers: 2, Mode: mode, Publish: 1, Grain: 1, AllowRacy: true}
			var lost float64
			for b.Loop() {
				res, err := lab.Run(b.Context(), "pi", cfg)
				if err != nil && !errors.Is(err, engine.ErrInexact) {
					b.Fatal(err)
				}
				sink += res.Sum
				lost += res.LostSum / res.SumExact
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/term")
			b.ReportMetric(lost/float64(b.N), "lost-share/op")
		})
	}
}
