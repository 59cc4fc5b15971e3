package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"testing"

	"github.com/pishm/pishm/engine/internal/exact"
)

// TestCallerShareOneShot: Run and Reduce with the caller summing worker
// 0's share (Config.CallerShare) give the bits of the processes alone, in
// every shared-memory mode, both schedules, forked or exec'd, for the series and
// for adversarial Funcs; a panic in the caller's share is the call's
// *WorkerError and leaves nothing behind; a transport is refused.
func TestCallerShareOneShot(t *testing.T) {
	checkClean(t)
	ctx := context.Background()
	const n = 3_000_017
	base, err := Run(ctx, "oddsq", Config{N: n, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rel := math.Abs(base.Value-exact.Sum(n)) / exact.Sum(n); rel > Tolerance {
		t.Fatalf("S = %v, relative error %.2e", base.Value, rel)
	}
	for _, cfg := range []Config{
		{N: n, Workers: 1, CallerShare: true},
		{N: n, Workers: 2, CallerShare: true},
		{N: n, Workers: 3, CallerShare: true, Spawn: SpawnExec},
		{N: n, Workers: 3, CallerShare: true, Mode: modeCAS, Sched: Dynamic, Chunk: 70_000},
		{N: n, Workers: 2, CallerShare: true, Mode: modeMutex, Publish: 100_000},
	} {
		how := fmt.Sprintf("workers=%d/mode=%s/sched=%s/spawn=%s", cfg.Workers, cfg.Mode, cfg.Sched, cfg.Spawn)
		res, err := Run(ctx, "oddsq", cfg)
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if math.Float64bits(res.Value) != math.Float64bits(base.Value) {
			t.Errorf("%s (%s): S = %.17g, without the caller's share %.17g", how, res.Spawn, res.Value, base.Value)
		}
		if res.Workers != cfg.Workers || res.detail[0].Terms == 0 && cfg.Sched != Dynamic {
			t.Errorf("%s: %d workers, the caller's share summed %d terms", how, res.Workers, res.detail[0].Terms)
		}
	}
	for _, f := range reproFuncs {
		want := reproWant(f.name, n)
		for _, mode := range []strategy{modeSlots, modeCAS} {
			r, err := Reduce(ctx, f.name, n, WithWorkers(3), WithMode(mode), WithCallerShare(true))
			if err != nil {
				t.Fatalf("%s %s: %v", f.name, mode, err)
			}
			if math.Float64bits(r.Value) != math.Float64bits(want) && !(math.IsNaN(r.Value) && math.IsNaN(want)) {
				t.Errorf("%s %s: %v, want %v", f.name, mode, r.Value, want)
			}
		}
	}
	// The caller's share is [0, n/2), whose pieces past badLo panic in
	// the caller before the caller looks at the workers.
	_, err = Reduce(ctx, "test-panic", 1_000_000, WithWorkers(2), WithCallerShare(true))
	var fp *WorkerError
	if !errors.As(err, &fp) || !errors.Is(err, ErrFuncPanicked) || fp.Worker != 0 || fp.Pid != os.Getpid() || fp.Func != "test-panic" {
		t.Errorf("a panic in the caller's share: %v, want its *WorkerError", err)
	}
	_, err = Run(ctx, "oddsq", Config{N: 10, Mode: Pipe, CallerShare: true})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Field != "CallerShare" {
		t.Errorf("caller's share over a pipe: %v, want a ConfigError on CallerShare", err)
	}
}
