package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
)

// Every option given to every receiver (Reduce, NewPool, a Pool's call)
// either takes effect or is refused with a ConfigError naming it; none is
// silently ignored. Before, Reduce ignored the Pool's options and a Pool's
// call ignored WithWorkers, WithCallerShare and Config's Retries and
// Stall.
func TestEveryOptionAppliesOrIsRefused(t *testing.T) {
	ctx := context.Background()
	const n = 1 << 21
	want := float64(n)
	// refused reports whether err is the ConfigError of a refused option.
	refused := func(err error) bool {
		var ce *engine.ConfigError
		return errors.As(err, &ce)
	}
	type check func(r engine.Reduction) bool
	anything := func(engine.Reduction) bool { return true }
	options := []struct {
		name   string
		opt    engine.Option
		effect check // on a one-shot call or a Pool's call that takes it
		onPool bool  // a Pool's call takes it (else refuses it)
		onOnce bool  // Reduce takes it (else refuses it)
	}{
		{"WithWorkers(3)", engine.WithWorkers(3), func(r engine.Reduction) bool { return r.Workers == 3 }, false, true},
		{"WithMode(cas)", engine.WithMode(engine.CAS), func(r engine.Reduction) bool { return r.Mode == engine.CAS }, true, true},
		{"WithSchedule(dynamic)", engine.WithSchedule(engine.Dynamic), func(r engine.Reduction) bool { return r.Sched == engine.Dynamic }, true, true},
		// Chunk is the dynamic schedule's: with the default (static) one
		// every receiver refuses it.
		{"WithChunk (static)", engine.WithChunk(1 << 16), nil, false, false},
		{"WithPublish", engine.WithPublish(1 << 16), anything, true, true},
		{"WithGrain(4096)", engine.WithGrain(4096), func(r engine.Reduction) bool { return r.Grain == 4096 }, true, true},
		{"WithTimeout", engine.WithTimeout(time.Hour), anything, true, true},
		{"WithParams", engine.WithParams([]byte("x")), anything, true, true},
		{"WithOffset(5)", engine.WithOffset(5), anything, true, true},
		{"WithCallerShare(true)", engine.WithCallerShare(true), anything, false, true},
		{"WithMaxChunks", engine.WithMaxChunks(100), nil, false, false},
		{"WithMaxParams", engine.WithMaxParams(100), nil, false, false},
		{"WithMaxK", engine.WithMaxK(4), nil, false, false},
		{"WithWaitPolicy", engine.WithWaitPolicy(engine.WaitPassive), nil, false, false},
		{"WithInProcessBelow", engine.WithInProcessBelow(10), nil, false, false},
		{"WithConfig(Retries 7)", engine.WithConfig(engine.Config{Retries: 7}), anything, false, true},
		{"WithConfig(Stall 1h)", engine.WithConfig(engine.Config{Stall: time.Hour}), anything, false, true},
	}
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, o := range options {
		for _, recv := range []string{"Reduce", "Pool"} {
			var r engine.Reduction
			var err error
			takes := o.onOnce
			if recv == "Reduce" {
				r, err = engine.Reduce(ctx, "count-terms", n, engine.WithWorkers(2), o.opt)
			} else {
				takes = o.onPool
				r, err = p.Reduce(ctx, "count-terms", n, o.opt)
			}
			switch {
			case takes && err != nil:
				t.Errorf("%s on %s: %v, want it taken", o.name, recv, err)
			case takes && (r.Value != want || !o.effect(r)):
				t.Errorf("%s on %s: no effect (value %v, %+v)", o.name, recv, r.Value, r)
			case !takes && !refused(err):
				t.Errorf("%s on %s: %v, want a ConfigError refusing it", o.name, recv, err)
			}
		}
	}
	// NewPool takes every option (a call's are its calls' defaults) but
	// one that no receiver takes.
	for _, o := range options {
		q, err := engine.NewPool(ctx, engine.WithWorkers(2), o.opt)
		if o.name == "WithChunk (static)" {
			if !refused(err) {
				t.Errorf("%s on NewPool: %v, want a ConfigError", o.name, err)
			}
		} else if err != nil {
			t.Errorf("%s on NewPool: %v", o.name, err)
		}
		if q != nil {
			q.Close()
		}
	}
}

func init() {
	engine.Register("count-terms", engine.Sum, func(lo, hi uint64) float64 { return float64(hi - lo) })
}
