package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// lease is a chunk this worker holds.
type lease struct {
	token string
	chunk int
	kind  string // queued, reclaimed or speculative
}

// Why a chunk's computation was cut short.
var (
	errLost     = errors.New("its lease was reclaimed by another worker")
	errFinished = errors.New("another copy sent its result first")
	errStalled  = errors.New("no progress")
)

// compute runs one leased chunk, renewing the lease while it progresses,
// and sends its result.
func (w *worker) compute(ctx context.Context, l lease, st *WorkerStats) error {
	j := w.job
	lo, hi := j.Bounds(l.chunk)
	taken := time.Now()
	w.logf("chunk %d [%d, %d) taken (%s)", l.chunk, lo, hi, l.kind)
	if l.kind == "speculative" {
		st.Speculative++
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Uint64             // terms summed, from the engine's progress
	var begun atomic.Bool              // the engine has reported once
	var ended atomic.Pointer[jobEnded] // the job's end, seen by a renewal
	var wg sync.WaitGroup
	wg.Go(func() { w.keep(runCtx, l, &done, &begun, &ended, cancel) })
	if w.pool == nil {
		// The engine's processes start once per job, not once per chunk
		// (tens of milliseconds each).
		p, err := j.newPool(ctx)
		if err != nil {
			w.nack(l, err.Error(), true)
			return errorf("worker %s: job %s: start the engine: %w", w.id, j.ID, err)
		}
		w.pool = p
	}
	part, d, err := computeChunk(runCtx, j, l.chunk, func(n uint64) { done.Store(n); begun.Store(true) }, w.pool)
	if err != nil {
		// Whatever went wrong, the next chunk gets fresh processes.
		w.closePool()
	}
	cancel(nil)
	wg.Wait()
	if o := ended.Load(); o != nil {
		return o.err // the job is over: nil when done
	}
	if err != nil {
		cause := context.Cause(runCtx)
		switch {
		case ctx.Err() != nil:
			// Stopped: the chunk goes back without counting an attempt.
			w.nack(l, "worker stopped", true)
			return context.Cause(ctx)
		case errors.Is(cause, errLost), errors.Is(cause, errFinished):
			st.Abandoned++
			w.logf("chunk %d dropped: %v", l.chunk, cause)
			return nil
		case errors.Is(cause, errStalled):
			st.Abandoned++
			w.logf("chunk %d given up: %v", l.chunk, cause)
			return w.nack(l, cause.Error(), false)
		}
		w.failures++
		w.logf("chunk %d failed: %v", l.chunk, err)
		if nerr := w.nack(l, err.Error(), false); nerr != nil {
			return nerr
		}
		if w.failures >= maxFailures {
			return fmt.Errorf("%w (%d in a row; the last: %v)", errFailing, w.failures, err)
		}
		return nil
	}
	w.failures = 0
	if w.o.tamper != nil {
		w.o.tamper(l.chunk, &part)
	}
	rec := newRecord(j, l.chunk, part, d, w.id, l.token, w.o.Key)
	// The result goes out even if ctx ended meanwhile: it is done.
	v, err := w.call(context.WithoutCancel(ctx), "send result", ackScript, rec.marshal(), l.token, l.chunk, j.Redundancy, w.id)
	if err != nil {
		return err
	}
	switch str(v, 0) {
	case "ok":
	case "refused":
		return errorf("worker %s: job %s: chunk %d: the queue refused the result: lease %s was not issued for it to this worker", w.id, j.ID, l.chunk, l.token)
	default:
		return w.jobEnd(v)
	}
	st.Chunks++
	st.Terms += hi - lo
	st.Compute += d
	w.sent++
	w.wall += time.Since(taken)
	if num(v, 2) == 1 {
		st.Late++
		w.logf("chunk %d done in %v, after another copy (a duplicate)", l.chunk, d)
	} else {
		w.logf("chunk %d done in %v", l.chunk, d)
	}
	return nil
}

// keep renews lease l four times per Job.Lease while the engine's term
// count grows (or, before its first report, for up to StartupGrace). It
// cancels the computation when the chunk stalls for Job.Lease, when the
// lease is lost or the chunk done elsewhere, and when the job is over.
func (w *worker) keep(ctx context.Context, l lease, done *atomic.Uint64, begun *atomic.Bool, ended *atomic.Pointer[jobEnded], cancel context.CancelCauseFunc) {
	j := w.job
	t := time.NewTicker(j.Lease / 4)
	defer t.Stop()
	start := time.Now()
	last, moved := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		n := done.Load()
		extend := false
		switch {
		case n != last:
			last, moved, extend = n, now, true
		case !begun.Load():
			if now.Sub(start) > max(j.Lease, StartupGrace) {
				cancel(fmt.Errorf("%w: the engine did not start within %v", errStalled, max(j.Lease, StartupGrace)))
				return
			}
			moved, extend = now, true
		case now.Sub(moved) > j.Lease:
			cancel(fmt.Errorf("%w for %v at %d of %d terms", errStalled, now.Sub(moved).Round(time.Millisecond), n, j.chunkTerms(l.chunk)))
			return
		}
		ext := "0"
		if extend {
			ext = "1"
		}
		// One try: a renewal lost to an outage is retried at the next tick,
		// and the lease has three more ticks before it lapses.
		v, err := run(ctx, w.client, renewScript, j.ID, l.token, l.chunk, j.Lease.Milliseconds(), ext)
		if err != nil {
			continue
		}
		switch str(v, 0) {
		case "ok":
		case "lost":
			cancel(errLost)
			return
		case "finished":
			cancel(errFinished)
			return
		default:
			ended.Store(&jobEnded{w.jobEnd(v)})
			cancel(errFinished)
			return
		}
	}
}

// jobEnded is how the job ended, as a renewal found it.
type jobEnded struct{ err error }

// nack gives lease l back; forgive says the attempt should not count.
func (w *worker) nack(l lease, reason string, forgive bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.r.window)
	defer cancel()
	f := "0"
	if forgive {
		f = "1"
	}
	v, err := w.call(ctx, "return chunk", nackScript, l.token, l.chunk, reason, f, w.job.Redundancy, w.id)
	if err != nil {
		return err
	}
	switch str(v, 0) {
	case "ok":
		w.logf("chunk %d returned to the queue", l.chunk)
	case "lost":
	default:
		return w.jobEnd(v)
	}
	return nil
}

// computeChunk computes chunk i of j on pool, as ComputeChunk does on
// processes of its own; a variable so that a benchmark can time the queue
// without the engine, and a test can stall a chunk.
var computeChunk = chunkOnPool

// chunkOnPool computes chunk i of j on pool, or one-shot when pool is nil.
func chunkOnPool(ctx context.Context, j Job, i int, progress func(uint64), pool *engine.Pool) (partial.Partial, time.Duration, error) {
	lo, hi := j.Bounds(i)
	opts := []engine.CallOption{lab.WithMode(j.Mode), engine.WithOffset(lo), engine.WithGrain(j.Grain),
		engine.WithParams(j.Params), lab.WithPublish(j.Publish)}
	if progress != nil {
		opts = append(opts, engine.WithProgress(func(p engine.Progress) { progress(p.Done) }))
	}
	var r engine.Result
	var err error
	if pool != nil {
		r, err = pool.Reduce(ctx, j.Func, hi-lo, opts...)
	} else { // one-shot without a pool (ComputeChunk)
		all := []engine.PoolOption{engine.WithWorkers(j.Workers)}
		for _, o := range opts {
			all = append(all, o)
		}
		r, err = engine.Reduce(ctx, j.Func, hi-lo, all...)
	}
	if err != nil {
		return partial.Partial{}, 0, errorf("chunk %d: %w", i, err)
	}
	return r.Partial, r.Elapsed, nil
}

// newPool starts the engine's processes for j's chunks. The segment holds
// the job's elements only: by default a Pool makes room for the widest
// Func the program registered.
func (j Job) newPool(ctx context.Context) (*engine.Pool, error) {
	return engine.NewPool(ctx, engine.WithWorkers(j.Workers), lab.WithMode(j.Mode),
		engine.WithMaxParams(max(len(j.Params), 1)), engine.WithMaxK(max(len(j.ops()), 1)))
}

// closePool stops the engine's processes of the job.
func (w *worker) closePool() {
	if w.pool != nil {
		w.pool.Close()
		w.pool = nil
	}
}

// seconds formats d for a blocking command's timeout.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
