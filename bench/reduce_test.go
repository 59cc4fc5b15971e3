package bench

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/internal/redistest"

	// Every mode, unix, tcp and redis included: engine does not link them.
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if os.Getenv(envSpin) != "" {
		spin()
	}
	// Race-built children otherwise sleep 1 s at exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	code := m.Run()
	if cpoolDir != "" {
		os.RemoveAll(cpoolDir)
	}
	os.Exit(code)
}

// sink keeps results alive so that nothing is optimised away.
var sink float64

// runEach times engine.Run of the pi series (the kernel auto picks) per
// iteration and reports ns/term.
func runEach(b *testing.B, cfg lab.Config) {
	b.Helper()
	for b.Loop() {
		res, err := lab.Run(context.Background(), "pi", cfg)
		if err != nil {
			b.Fatal(err)
		}
		sink += res.Sum
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(cfg.N), "ns/term")
}

// BenchmarkReduce runs whole reductions (processes, segment and all) for
// every mode, at a size where the work dominates and one where the fixed
// cost does.
func BenchmarkReduce(b *testing.B) {
	redisURL := redistest.Start(b)
	for _, n := range []uint64{1e6, 1e8} {
		for _, mode := range lab.Modes() {
			for _, workers := range []int{1, 2, 4} {
				b.Run(fmt.Sprintf("n=%d/mode=%s/workers=%d", n, mode, workers), func(b *testing.B) {
					runEach(b, lab.Config{N: n, Workers: workers, Mode: mode, RedisURL: redisURL})
				})
			}
		}
	}
}

// BenchmarkContention publishes every chunk terms, where the strategies
// part: slots never contend, cas retries, mutex queues.
func BenchmarkContention(b *testing.B) {
	const n = 1e7
	for _, chunk := range []uint64{64, 4096, 1 << 20} {
		for _, mode := range []lab.Mode{lab.Slots, lab.CAS, lab.Mutex, lab.Goroutines} {
			b.Run(fmt.Sprintf("chunk=%d/mode=%s/workers=2", chunk, mode), func(b *testing.B) {
				runEach(b, lab.Config{N: n, Workers: 2, Mode: mode, Publish: chunk, Grain: chunk})
			})
		}
	}
}

// BenchmarkTransport is the fixed cost of a whole run (set-up, one message
// per worker, tear-down) at small n, for every message-passing mode beside
// the shared-memory slots and the in-process baseline.
func BenchmarkTransport(b *testing.B) {
	redisURL := redistest.Start(b)
	const n = 1e6
	modes := []lab.Mode{lab.Slots, lab.Goroutines}
	for _, m := range lab.Modes() {
		if lab.IsTransport(m) {
			modes = append(modes, m)
		}
	}
	for _, mode := range modes {
		for _, workers := range []int{2, 8} {
			b.Run(fmt.Sprintf("mode=%s/workers=%d", mode, workers), func(b *testing.B) {
				runEach(b, lab.Config{N: n, Workers: workers, Mode: mode, RedisURL: redisURL})
			})
		}
	}
}
