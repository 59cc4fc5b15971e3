package queue

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
)

// BenchmarkQueue times the protocol alone, per chunk: the take script, the
// ack script and the coordinator's gather and checks, with a chunk's
// computation replaced by its closed-form value. Compare with what engine.Run costs per chunk (its process
// start-up) to choose the chunk size.
func BenchmarkQueue(b *testing.B) {
	defer func(f func(context.Context, Job, int, func(uint64), *engine.Pool) (partial.Partial, time.Duration, error)) {
		computeChunk = f
	}(computeChunk)
	computeChunk = func(_ context.Context, j Job, i int, _ func(uint64), _ *engine.Pool) (partial.Partial, time.Duration, error) {
		v, _ := j.Exact(i) // a valid result, so the coordinator keeps it
		return valueOf(v), 0, nil
	}
	client, _ := newClientTB(b)
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			ctx := context.Background()
			var coord time.Duration // without the workers' exit (up to a poll)
			for b.Loop() {
				j := Job{Func: testFunc, N: 1e12, Chunks: 1000, Lease: time.Minute}.withDefaults()
				var wg sync.WaitGroup
				start := time.Now()
				_, err := Coordinate(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
					for range workers {
						wg.Go(func() {
							if _, err := Work(ctx, client, WorkerOptions{Job: j.ID, NoSpeculate: true}); err != nil {
								b.Error(err)
							}
						})
					}
				}})
				coord += time.Since(start)
				wg.Wait()
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(coord.Nanoseconds())/float64(b.N*1000), "ns/chunk")
		})
	}
}
