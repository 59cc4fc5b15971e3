package filestats

import (
	"context"
	"sync/atomic"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// reducer runs a command's reductions: on one Pool for the modes a Pool
// serves, started once for every pass, else one-shot.
type reducer struct {
	pass   atomic.Int32 // the engine may call Progress from a goroutine of its own
	cfg    lab.Config
	pool   *engine.Pool
	reduce func(name string, n uint64, p []byte, more ...engine.CallOption) (engine.Result, error)
}

func newReducer(ctx context.Context, opt Options, k int) (*reducer, error) {
	r := &reducer{cfg: lab.Config{Workers: opt.Workers, Mode: opt.Mode, WorkerBinary: opt.WorkerBinary}}
	r.pass.Store(1)
	if opt.Progress != nil {
		r.cfg.Progress = func(p engine.Progress) { opt.Progress(int(r.pass.Load()), p) }
	}
	r.reduce = func(name string, n uint64, p []byte, more ...engine.CallOption) (engine.Result, error) {
		opts := append(r.cfg.Options(), engine.WithParams(p))
		for _, o := range more {
			opts = append(opts, o)
		}
		return engine.Reduce(ctx, name, n, opts...)
	}
	if opt.Mode != lab.Goroutines && !lab.IsTransport(opt.Mode) {
		pool, err := engine.NewPool(ctx, append(r.cfg.Options(), engine.WithInProcessBelow(0), engine.WithMaxK(k))...)
		if err != nil {
			return nil, err
		}
		r.pool = pool
		r.reduce = func(name string, n uint64, p []byte, more ...engine.CallOption) (engine.Result, error) {
			return pool.Reduce(ctx, name, n, append([]engine.CallOption{engine.WithParams(p)}, more...)...)
		}
	}
	return r, nil
}

// partsSplit are the options of a call over a file's parts, one piece
// each: shared among the workers dynamically where the mode can, so that
// a worker the machine slows takes fewer (a transport sends one message
// per worker's fixed range, and keeps the static split).
func (r *reducer) partsSplit() []engine.CallOption {
	if lab.IsTransport(r.cfg.Mode) {
		return []engine.CallOption{engine.WithGrain(1)}
	}
	return []engine.CallOption{engine.WithGrain(1), engine.WithDynamic(0)}
}

func (r *reducer) close() {
	if r.pool != nil {
		r.pool.Close()
	}
}
