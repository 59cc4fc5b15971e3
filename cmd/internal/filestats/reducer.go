package filestats

import (
	"context"
	"sync/atomic"

	"github.com/pishm/pishm/engine"
)

// reducer runs a command's reductions: on one Pool for the modes a Pool
// serves, started once for every pass, else one-shot.
type reducer struct {
	pass   atomic.Int32 // the engine may call Progress from a goroutine of its own
	cfg    engine.Config
	pool   *engine.Pool
	reduce func(name string, n uint64, p []byte, more ...engine.Option) (engine.Reduction, error)
}

func newReducer(ctx context.Context, opt Options, k int) (*reducer, error) {
	r := &reducer{cfg: engine.Config{Workers: opt.Workers, Mode: opt.Mode, WorkerBinary: opt.WorkerBinary}}
	r.pass.Store(1)
	if opt.Progress != nil {
		r.cfg.Progress = func(p engine.Progress) { opt.Progress(int(r.pass.Load()), p) }
	}
	r.reduce = func(name string, n uint64, p []byte, more ...engine.Option) (engine.Reduction, error) {
		return engine.Reduce(ctx, name, n, append([]engine.Option{engine.WithConfig(r.cfg), engine.WithParams(p)}, more...)...)
	}
	if opt.Mode != engine.Goroutines && !opt.Mode.IsTransport() {
		pool, err := engine.NewPool(ctx, engine.WithConfig(r.cfg), engine.WithInProcessBelow(0), engine.WithMaxK(k))
		if err != nil {
			return nil, err
		}
		r.pool = pool
		r.reduce = func(name string, n uint64, p []byte, more ...engine.Option) (engine.Reduction, error) {
			return pool.Reduce(ctx, name, n, append([]engine.Option{engine.WithParams(p)}, more...)...)
		}
	}
	return r, nil
}

func (r *reducer) close() {
	if r.pool != nil {
		r.pool.Close()
	}
}
