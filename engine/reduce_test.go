package engine

import (
	"context"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/pishm/pishm/engine/internal/exact"
)

// Test functions with exactly known reductions.
func init() {
	Register("test-k", func(_ []byte, lo, hi uint64) float64 { // sum of k: exact below 2^53
		var s float64
		for k := lo; k < hi; k++ {
			s += float64(k)
		}
		return s
	}, []Op{Sum})
	Register("test-max-parabola", func(_ []byte, lo, hi uint64) float64 { // -(k-c)^2 peaks at k = c
		m := math.Inf(-1)
		for k := lo; k < hi; k++ {
			d := float64(k) - 777_777
			m = max(m, -d*d)
		}
		return m
	}, []Op{Max})
	Register("test-min-k", func(_ []byte, lo, hi uint64) float64 {
		if lo >= hi {
			return math.Inf(1)
		}
		return float64(lo)
	}, []Op{Min})
}

func TestReduceOps(t *testing.T) {
	checkClean(t)
	const n = 1_000_003
	for _, mode := range Modes() {
		for _, sched := range []Schedule{Static, Dynamic} {
			if sched == Dynamic && mode.IsTransport() {
				continue // one message per static range
			}
			t.Run(string(mode)+"/"+string(sched), func(t *testing.T) {
				opts := []PoolOption{WithConfig(withRedis(t, Config{Workers: 3, Mode: mode, Sched: sched}))}
				r, err := Reduce(context.Background(), "test-k", n, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if want := float64(n) * (n - 1) / 2; r.Value != want {
					t.Errorf("sum of k = %.17g, want %.17g", r.Value, want)
				}
				var terms uint64
				for _, w := range r.detail {
					terms += w.Terms
				}
				if terms != n {
					t.Errorf("workers did %d terms, want %d", terms, n)
				}
				if r, err := Reduce(context.Background(), "test-max-parabola", n, opts...); err != nil || r.Value != 0 {
					t.Errorf("max = %v, %v; want 0", r.Value, err)
				}
				if r, err := Reduce(context.Background(), "test-min-k", n, append(opts, stepOf(sched, 1000))...); err != nil || r.Value != 0 {
					t.Errorf("min = %v, %v; want 0", r.Value, err)
				}
			})
		}
	}
}

func TestReduceUnknown(t *testing.T) {
	if _, err := Reduce(context.Background(), "nope", 10); err == nil || !strings.Contains(err.Error(), `no Func registered as "nope"`) {
		t.Fatalf("err = %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("registering a name twice did not panic")
		}
	}()
	Register("test-k", func(_ []byte, lo, hi uint64) float64 { return 0 }, []Op{Sum})
}

// checkExactTerms is checkExact for schedules without fixed ranges.
func checkExactTerms(t *testing.T, res Result) {
	t.Helper()
	exact := exact.Sum(res.N)
	if rel := math.Abs(res.Value-exact) / exact; rel > tolerance {
		t.Errorf("S=%.17g, exact %.17g, relative error %.2e", res.Value, exact, rel)
	}
	var terms uint64
	for _, w := range res.detail {
		terms += w.Terms
	}
	if terms != res.N {
		t.Errorf("workers did %d terms, want %d", terms, res.N)
	}
}

func TestDynamicExact(t *testing.T) {
	checkClean(t)
	for _, mode := range append(shmModes, modeGoroutines) {
		res, err := Run(context.Background(), "oddsq", Config{N: 10_000_019, Workers: 3, Mode: mode, Sched: Dynamic})
		if err != nil {
			t.Fatal(err)
		}
		checkExactTerms(t, res)
	}
}

// Progress is read from the slots while the workers run, and ends complete.
func TestProgress(t *testing.T) {
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeGoroutines} {
		var mu sync.Mutex
		var calls []Progress
		cfg := Config{N: 3e8, Workers: 2, Mode: mode, Progress: func(p Progress) {
			mu.Lock()
			calls = append(calls, p)
			mu.Unlock()
		}}
		if raceEnabled {
			cfg.N = 3e7
		}
		if _, err := Run(context.Background(), "oddsq/generic", cfg); err != nil {
			t.Fatal(err)
		}
		last := calls[len(calls)-1]
		if !last.Final || last.Done != cfg.N || last.Worker[0]+last.Worker[1] != cfg.N {
			t.Fatalf("%s: last progress %+v, want final and complete", mode, last)
		}
		var prev uint64
		for _, p := range calls {
			if p.Done < prev || p.Done > cfg.N {
				t.Fatalf("%s: progress went %d -> %d", mode, prev, p.Done)
			}
			prev = p.Done
		}
		if !raceEnabled && len(calls) < 2 {
			t.Logf("%s: only %d progress calls (fast machine)", mode, len(calls))
		}
	}
}

// TestReduceParams: a call's parameters reach the workers' Func through
// the segment, in every shared-memory mode and in process; too many is a
// clear error.
func TestReduceParams(t *testing.T) {
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex, modeGoroutines} {
		r, err := Reduce(context.Background(), "test-params", 1000, WithWorkers(2), WithMode(mode), WithParams([]byte{7}))
		if err != nil || r.Value != 7000 {
			t.Errorf("%s: %v, %v; want 7000", mode, r.Value, err)
		}
	}
	if _, err := Reduce(context.Background(), "test-params", 10, WithParams(make([]byte, MaxParams+1))); err == nil || !strings.Contains(err.Error(), "engine: Params") {
		t.Errorf("too many parameter bytes: %v", err)
	}
}
