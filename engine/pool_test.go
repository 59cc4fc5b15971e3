package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/internal/exact"
)

// poolExact calls the series on p and checks it against the closed form.
func poolExact(t *testing.T, p *Pool, n uint64, opts ...CallOption) Result {
	t.Helper()
	r, err := p.Reduce(context.Background(), "oddsq", n, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if rel := math.Abs(r.Value-exact.Sum(n)) / exact.Sum(n); rel > Tolerance {
		t.Fatalf("n=%d: S=%.17g, exact %.17g (relative error %.2e)", n, r.Value, exact.Sum(n), rel)
	}
	return r
}

func TestPoolCalls(t *testing.T) {
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		for _, sched := range []Schedule{Static, Dynamic} {
			t.Run(fmt.Sprintf("mode=%s/sched=%s", mode, sched), func(t *testing.T) {
				p, err := NewPool(context.Background(), WithWorkers(3), WithMode(mode), WithSchedule(sched), WithInProcessBelow(0))
				if err != nil {
					t.Fatal(err)
				}
				defer p.Close()
				pids := p.pids()
				for _, n := range []uint64{1, 1000, 1_000_003, 7} {
					poolExact(t, p, n)
				}
				// Other Funcs, ops, chunks and parameters on the same workers.
				if r, err := p.Reduce(context.Background(), "test-k", 100_000, stepOf(sched, 777)); err != nil || r.Value != 100_000*99_999/2 {
					t.Fatalf("test-k: %v, %v", r.Value, err)
				}
				if r, err := p.Reduce(context.Background(), "test-params", 1000, WithParams([]byte{3})); err != nil || r.Value != 3000 {
					t.Fatalf("test-params: %v, %v", r.Value, err)
				}
				if fmt.Sprint(p.pids()) != fmt.Sprint(pids) {
					t.Fatalf("workers changed from %v to %v without a death", pids, p.pids())
				}
			})
		}
	}
}

func init() {
	Register("test-params", func(params []byte, lo, hi uint64) float64 {
		return float64(params[0]) * float64(hi-lo)
	}, []Op{Sum})
}

// TestPoolKillBetweenCalls: a worker SIGKILLed while idle is replaced, and
// the next call is exact.
func TestPoolKillBetweenCalls(t *testing.T) {
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		p, err := NewPool(context.Background(), WithWorkers(2), WithMode(mode), WithInProcessBelow(0))
		if err != nil {
			t.Fatal(err)
		}
		poolExact(t, p, 1_000_003)
		victim := p.pids()[1]
		syscall.Kill(victim, syscall.SIGKILL)
		r := poolExact(t, p, 2_000_003)
		if p.pids()[1] == victim {
			// The exit may be reaped only during the call: the call is
			// exact either way; after it the worker is a new process.
			t.Logf("%s: victim %d reaped late", mode, victim)
		}
		// Reaped before the call ("between calls") or during it, before it
		// took any work ("waiting for work"): either way nothing is rebuilt.
		if len(r.Failures) != 1 || r.Failures[0].When != "between calls" && r.Failures[0].When != "waiting for work" || r.Rebuilt {
			t.Errorf("%s: failures %+v, rebuilt %v; want one, idle, and nothing rebuilt", mode, r.Failures, r.Rebuilt)
		}
		poolExact(t, p, 3_000_017)
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestPoolKillMatrix SIGKILLs pool workers at every fault point during a
// call, in every mode and both schedules: each call is exact, and the
// pool goes on with fresh workers.
func TestPoolKillMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		for _, sched := range []Schedule{Static, Dynamic} {
			for _, pt := range faultPoints {
				if pt.name == "attach" || pt.name == "arrived" {
					continue // before any call: TestKillMatrix covers the start
				}
				t.Run(fmt.Sprintf("mode=%s/sched=%s/point=%s", mode, sched, pt.name), func(t *testing.T) {
					killEnv(t, pt.name, 2)
					p, err := NewPool(context.Background(), WithWorkers(3), WithMode(mode), WithSchedule(sched), stepOf(sched, 9_973), WithInProcessBelow(0))
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					died := 0
					for range 3 {
						r := poolExact(t, p, 200_003)
						died += len(r.Failures)
					}
					if passes(mode, sched == Dynamic, pt.name) && died == 0 {
						t.Errorf("no worker died: the kill point was not reached")
					}
				})
			}
		}
	}
}

// TestPoolCancel: a cancelled call returns the context's error, and the
// next call is exact.
func TestPoolCancel(t *testing.T) {
	checkClean(t)
	p, err := NewPool(context.Background(), WithWorkers(2), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	// MaxN terms would take days: returning at all shows the stop.
	if _, err := p.Reduce(ctx, "oddsq/generic", MaxN); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	poolExact(t, p, 1_000_003)
}

// TestPoolInProcess: calls below the crossover run on goroutines.
func TestPoolInProcess(t *testing.T) {
	checkClean(t)
	p, err := NewPool(context.Background(), WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	r := poolExact(t, p, 1000)
	if r.Mode != string(modeGoroutines) {
		t.Errorf("n=1000 ran in mode %s, want goroutines", r.Mode)
	}
	if r := poolExact(t, p, DefaultInProcessBelow); r.Mode == string(modeGoroutines) {
		t.Errorf("n=%d ran in process", uint64(DefaultInProcessBelow))
	}
}

func TestPoolErrors(t *testing.T) {
	checkClean(t)
	if _, err := NewPool(context.Background(), WithMode(Pipe)); err == nil || !strings.Contains(err.Error(), "one-shot") {
		t.Errorf("pool with a transport mode: %v", err)
	}
	p, err := NewPool(context.Background(), WithWorkers(1), WithMaxChunks(4), WithMaxParams(8), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Reduce(context.Background(), "oddsq", 1000, WithSchedule(Dynamic), WithChunk(1), WithGrain(1)); err == nil || !strings.Contains(err.Error(), "raise the chunk") {
		t.Errorf("too many chunks: %v", err)
	}
	if _, err := p.Reduce(context.Background(), "test-params", 10, WithParams(make([]byte, 9))); err == nil || !strings.Contains(err.Error(), "WithMaxParams") {
		t.Errorf("too many params: %v", err)
	}
	poolExact(t, p, 1000)
	p.Close()
	if _, err := p.Reduce(context.Background(), "oddsq", 1000); !errors.Is(err, ErrPoolClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestWorkerMayNotStartWorkers: a Func that calls Reduce fails clearly
// instead of building a tree of processes.
func TestWorkerMayNotStartWorkers(t *testing.T) {
	checkClean(t)
	_, err := Reduce(context.Background(), "test-nested", 10, WithWorkers(1), WithConfig(Config{Workers: 1, Retries: -1}))
	if err == nil || !strings.Contains(err.Error(), "may not start workers") {
		t.Fatalf("err = %v", err)
	}
}

func init() {
	Register("test-nested", func(_ []byte, lo, hi uint64) float64 {
		if _, err := Reduce(context.Background(), "test-k", 10); err != nil {
			panic(err)
		}
		return 0
	}, []Op{Sum})
}

// stepOf sets k terms between publishes for sched: Publish or Chunk.
func stepOf(sched Schedule, k uint64) CallOption {
	if sched == Dynamic {
		return WithChunk(k)
	}
	return WithPublish(k)
}
