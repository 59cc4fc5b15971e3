package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/transport"
)

// execute runs one call of j as cfg (already defaulted) says: on
// goroutines, or on a one-shot crew of worker processes.
func execute(ctx context.Context, cfg config, j job, params []byte) (callResult, string, error) {
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("timed out after %v", cfg.Timeout))
		defer cancel()
	}
	spec := callSpec{job: j, mode: cfg.Mode, n: cfg.N, offset: cfg.Offset, step: cfg.step(), grain: cfg.Grain,
		dynamic: cfg.Sched == schedDynamic, params: params}
	if cfg.Mode == modeGoroutines {
		res, err := runGoroutines(ctx, cfg, spec)
		return res, "none", err
	}
	o := crewOptions{
		workers: cfg.Workers, shm: cfg.Shm, path: cfg.Path, force: cfg.Force, lanePad: cfg.Pad,
		maxParams: len(params), maxK: j.k(), exe: cfg.WorkerBinary, retries: cfg.retries(), stall: cfg.stall(),
		oneShot: true, progress: cfg.Progress, callerShare: cfg.CallerShare,
	}
	if spec.dynamic {
		o.maxChunks = int((cfg.N-1)/cfg.Chunk + 1)
	}
	if cfg.Spawn == spawnFork {
		fs, err := newForkSpawn(cfg, j)
		if err != nil {
			return callResult{}, "", err
		}
		defer fs.close() // after c.close below: every forked worker is reaped by then
		o.fork = fs
	}
	if cfg.Mode.isTransport() {
		o.transport = string(cfg.Mode)
		o.transportOpts = transport.Options{Workers: cfg.Workers, Elems: j.k(), RedisURL: cfg.RedisURL, Retries: cfg.retries() > 0}
	}
	c, err := newCrew(ctx, o)
	if err != nil {
		return callResult{}, "", err
	}
	res, err := c.call(ctx, spec)
	return res, string(cfg.Shm), errors.Join(err, c.close())
}

// runGoroutines is the in-process baseline: the same split, function,
// schedule and reduction, on goroutines.
func runGoroutines(ctx context.Context, cfg config, spec callSpec) (callResult, error) {
	// Goroutines cannot be killed: they check for cancellation (or another
	// goroutine's panic) between calls of at most progressStep terms, and
	// a cancelled call returns at once, leaving them to stop at their next
	// piece; its result is never read.
	j := spec.job.bind(spec.params)
	var failed atomic.Bool
	j.cancelled = func() bool { return failed.Load() || ctx.Err() != nil }
	w := cfg.Workers
	res := callResult{workers: make([]workerResult, w)}
	shares := make([]folds, w)
	panics := make([]*WorkerError, w)
	progress := make([]atomic.Uint64, w)
	var tbl segment.ChunkTable
	var next atomic.Uint64
	if spec.dynamic {
		tbl = make(segment.ChunkTable, (spec.n-1)/spec.step+1)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for i := range w {
		wg.Go(func() {
			defer func() {
				if r := recover(); r != nil {
					panics[i] = asFuncPanic(r).inProcess(j.name, i)
					failed.Store(true)
				}
			}()
			t := time.Now()
			own := &ownTotal{f: make(folds, j.k())}
			own.f.Reset(j.ops)
			shares[i] = own.f
			scratch := &Vector{f: make(folds, j.k())}
			wr := workerResult{Index: i}
			if spec.dynamic {
				sumChunks(j, spec.offset, spec.n, spec.step, spec.grain, tbl, &next, uint32(i+1), &progress[i], scratch, own)
			} else {
				lo, hi := span(spec.n, spec.grain, w, i)
				wr.Lo, wr.Hi = spec.offset+lo, spec.offset+hi
				sumRange(j, wr.Lo, wr.Hi, spec.step, spec.grain, &progress[i], scratch, own)
			}
			wr.Terms, wr.Elapsed, wr.Partial = own.terms, time.Since(t), own.f[0].Value()
			res.workers[i] = wr
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	report := progressReporter(cfg.Progress, w, w, spec.n, spec.grain, spec.dynamic, func(i int) uint64 { return progress[i].Load() })
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-ctx.Done():
			return callResult{}, fmt.Errorf("engine: %w", context.Cause(ctx))
		case <-t.C:
			if err := report(time.Since(start), false); err != nil {
				return callResult{}, err
			}
		}
	}
	res.elapsed = time.Since(start)
	if err := report(res.elapsed, true); err != nil {
		return callResult{}, err
	}
	for _, p := range panics {
		if p != nil {
			return callResult{}, p
		}
	}
	if err := ctx.Err(); err != nil {
		return callResult{}, fmt.Errorf("engine: %w", context.Cause(ctx))
	}
	total := slices.Grow(spec.total[:0], j.k())[:j.k()]
	total.Reset(j.ops)
	for _, f := range shares {
		total.Merge(f)
	}
	res.total = total
	res.publishes = publishesOf(spec, w)
	return res, nil
}

// ownTotal is an in-process participant's sink: its share's total.
type ownTotal struct {
	f     folds
	terms uint64
}

func (o *ownTotal) publish(f folds, terms, _ uint64) { o.f.Merge(f); o.terms += terms }

// noProgress is the reporter of a call nobody watches.
func noProgress(time.Duration, bool) error { return nil }

// progressReporter returns a function that calls cb (if set) with a
// snapshot built from done(i).
func progressReporter(cb func(Progress), workers, participants int, n, grain uint64, dynamic bool, done func(i int) uint64) func(elapsed time.Duration, final bool) error {
	if cb == nil {
		return noProgress
	}
	share := make([]uint64, workers)
	if !dynamic {
		for i := range share {
			lo, hi := span(n, grain, participants, i)
			share[i] = hi - lo
		}
	}
	return func(elapsed time.Duration, final bool) (err error) {
		p := Progress{N: n, Worker: make([]uint64, workers), Share: share, Elapsed: elapsed, Final: final}
		for i := range p.Worker {
			p.Worker[i] = done(i)
			p.Done += p.Worker[i]
		}
		// A callback that panics fails the call with that panic, rather
		// than unwinding through the engine's wait loop.
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("engine: the Progress callback panicked: %v", v)
			}
		}()
		cb(p)
		return nil
	}
}
