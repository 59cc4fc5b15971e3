package engine_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/shmem"
)

// Every option given to every receiver (Reduce, NewPool, a Pool's call)
// either takes effect or is refused; none is silently ignored. A Pool's
// call takes CallOptions only, so a worker or Pool setting given to it
// does not compile: the test checks that those options are not
// CallOptions. The rest are refused at run time with a ConfigError.
func TestEveryOptionAppliesOrIsRefused(t *testing.T) {
	ctx := context.Background()
	const n = 1 << 21
	want := float64(n)
	// refused reports whether err is the ConfigError of a refused option.
	refused := func(err error) bool {
		var ce *engine.ConfigError
		return errors.As(err, &ce)
	}
	type check func(r engine.Result) bool
	anything := func(engine.Result) bool { return true }
	options := []struct {
		name   string
		opt    engine.PoolOption
		effect check // on a one-shot call or a Pool's call that takes it
		onPool bool  // a Pool's call takes it (else refuses it, or it is no CallOption)
		onOnce bool  // Reduce takes it (else refuses it)
	}{
		{"WithWorkers(3)", engine.WithWorkers(3), func(r engine.Result) bool { return r.Workers == 3 }, false, true},
		{"WithMode(cas)", lab.WithMode(lab.CAS), func(r engine.Result) bool { return r.Mode == string(lab.CAS) }, true, true},
		{"WithDynamic(0)", engine.WithDynamic(0), func(r engine.Result) bool { return r.Sched == "dynamic" && r.Chunk > 0 }, true, true},
		{"WithDynamic(1<<16)", engine.WithDynamic(1 << 16), func(r engine.Result) bool { return r.Chunk == 1<<16 }, true, true},
		{"lab.WithPublish", lab.WithPublish(1 << 16), func(r engine.Result) bool { return r.Publish == 1<<16 }, true, true},
		{"WithGrain(4096)", engine.WithGrain(4096), func(r engine.Result) bool { return r.Grain == 4096 }, true, true},
		{"lab.WithTimeout", lab.WithTimeout(time.Hour), anything, true, true},
		{"WithParams", engine.WithParams([]byte("x")), anything, true, true},
		{"WithOffset(5)", engine.WithOffset(5), func(r engine.Result) bool { return r.Offset == 5 }, true, true},
		{"WithProgress", engine.WithProgress(func(engine.Progress) {}), anything, true, true},
		{"lab.AllowRacy", lab.AllowRacy(), anything, true, true},
		{"WithCallerShare(true)", engine.WithCallerShare(true), anything, false, true},
		{"WithRetries(7)", engine.WithRetries(7), anything, false, true},
		{"WithStall(1h)", engine.WithStall(time.Hour), anything, false, true},
		{"lab.WithPad(64)", lab.WithPad(64), anything, false, true},
		{"lab.WithSpawn(exec)", lab.WithSpawn(lab.SpawnExec), func(r engine.Result) bool { return r.Spawn == "exec" }, false, true},
		{"lab.WithShm(posix)", lab.WithShm(shmem.Posix, "", false), func(r engine.Result) bool { return r.Shm == "posix" }, false, true},
		{"lab.WithRedisURL (mode slots)", lab.WithRedisURL("redis://127.0.0.1:1/0"), nil, false, false},
		{"lab.WithWorkerBinary", lab.WithWorkerBinary(""), anything, false, true},
		{"WithMaxParams", engine.WithMaxParams(100), nil, false, false},
		{"WithMaxK", engine.WithMaxK(4), nil, false, false},
		{"WithInProcessBelow", engine.WithInProcessBelow(10), nil, false, false},
		{"lab.WithMaxChunks", lab.WithMaxChunks(100), nil, false, false},
		{"lab.WithWaitPolicy", lab.WithWaitPolicy(lab.WaitPassive), nil, false, false},
	}
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, o := range options {
		for _, recv := range []string{"Reduce", "Pool"} {
			var r engine.Result
			var err error
			takes := o.onOnce
			if recv == "Reduce" {
				r, err = engine.Reduce(ctx, "count-terms", n, engine.WithWorkers(2), o.opt)
			} else {
				takes = o.onPool
				c, isCall := o.opt.(engine.CallOption)
				if !isCall {
					if takes {
						t.Errorf("%s is no CallOption, but a Pool's call should take it", o.name)
					}
					continue // a Pool's call does not compile with it
				}
				r, err = p.Reduce(ctx, "count-terms", n, c)
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
	// a transport's server: a Pool shares memory.
	for _, o := range options {
		q, err := engine.NewPool(ctx, engine.WithWorkers(2), o.opt)
		if o.name == "lab.WithRedisURL (mode slots)" {
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
	engine.Register("count-terms", func(_ []byte, lo, hi uint64) float64 { return float64(hi - lo) }, []partial.Op{partial.Sum})
}
