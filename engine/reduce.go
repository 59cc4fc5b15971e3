package engine

import (
	"context"
	"time"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/partial"
)

// Result is what a call computed, and how: the same for a one-shot call
// and a Pool's.
type Result struct {
	Func   string  `json:"func"` // the name it was registered under
	Op     string  `json:"op"`   // its ops: "sum", or "sum,min,max" for a vector
	N      uint64  `json:"n"`
	Offset uint64  `json:"offset,omitempty"` // the terms were [Offset, Offset+N)
	Value  float64 `json:"value"`
	// Values is each element's result, rounded once, for a VectorFunc: k
	// values, Values[0] == Value. For a Func it holds Value alone.
	Values []float64 `json:"values,omitempty"`
	// ClosedForm is the Func's closed form over the terms
	// (WithClosedForm), and RelError (Value - ClosedForm) / ClosedForm;
	// both 0 for a Func without one.
	ClosedForm float64 `json:"closed_form,omitempty"`
	RelError   float64 `json:"rel_error,omitempty"`

	Workers int    `json:"workers"`
	Mode    string `json:"mode"`  // the publishing strategy (lab.WithMode)
	Sched   string `json:"sched"` // "static" or "dynamic" (WithDynamic; a Pool may pick it)
	// Spawn is how the workers started: "exec" or "fork", or "" in the
	// calling process.
	Spawn string `json:"spawn,omitempty"`
	Shm   string `json:"shm,omitempty"` // the segment's backing: "posix" or "file"
	// Grain is the terms per piece of the grid the Func was called on:
	// with the Func, N, Offset and the params it fixes the result's bits.
	Grain uint64 `json:"grain"`
	// Publish is, under the static schedule, the most terms a worker
	// summed between two publishes (at most its share); Chunk, under the
	// dynamic one, the terms per chunk.
	Publish uint64 `json:"publish,omitempty"`
	Chunk   uint64 `json:"chunk,omitempty"`
	// Elapsed runs from the start barrier's release to the moment the
	// last worker marked the call done: the work, without process
	// start-up or tear-down. Wall is the whole call.
	Elapsed time.Duration `json:"elapsed_ns"`
	Wall    time.Duration `json:"wall_ns"`

	// Failures lists the workers that died and were dealt with (retried,
	// replaced, or kept because they died after publishing everything),
	// each with its Action.
	Failures []WorkerError `json:"failures,omitempty"`
	// Rebuilt says the cas or mutex accumulator was set aside after a
	// worker died part-way through adding into it, and the result was
	// rebuilt from the workers' journals instead.
	Rebuilt   bool   `json:"rebuilt,omitempty"`
	Publishes uint64 `json:"publishes"` // how many times the workers published in all
	// LostSum is what the racy mode's unsynchronized load-add-store lost:
	// the workers' journals' exact total minus the accumulator (always 0
	// in the other modes).
	LostSum float64 `json:"lost_sum,omitempty"`

	// Partial is the exact state before the one rounding, to merge with
	// the Partials of other ranges (WithOffset) or to send elsewhere.
	// ReduceInto reuses its memory, as it does Values'.
	Partial partial.Partial `json:"-"`

	// detail is each worker's share, in memory the next call reuses: what
	// lab.Run copies out, and what the package's tests read.
	detail []workerResult
}

// Reduce runs the Func registered as name over n terms, [0, n) or
// [lo, lo+n) with WithOffset(lo), on worker processes started for this
// call, publishing partials by the chosen mode, and combines them with
// its Op. It leaves nothing behind, whatever happens: no segment, no
// process. A program that reduces many times should use a Pool, whose
// workers start once. A Func registered WithClosedForm is checked against
// it: a wrong sum returns the Result with an error wrapping ErrInexact.
func Reduce(ctx context.Context, name string, n uint64, opts ...PoolOption) (Result, error) {
	var st settings
	apply(&st, opts)
	st.N = n
	if err := st.refusePoolOnly(); err != nil {
		return Result{}, err
	}
	return run(ctx, name, st.config, st.lab.DryRun)
}

// run is one one-shot call of the Func registered as name, as cfg says;
// with dry, it checks everything and returns before anything starts.
func run(ctx context.Context, name string, cfg config, dry bool) (Result, error) {
	if err := notAWorker(); err != nil {
		return Result{}, err
	}
	wallStart := time.Now()
	if dry && name == "" { // the settings alone, for no Func in particular
		_, err := cfg.withDefaults()
		return Result{}, err
	}
	cfg, j, err := resolve(cfg, name)
	if err != nil {
		return Result{}, err
	}
	if cfg.Spawn, err = spawnFor(cfg, j); err != nil || dry {
		return Result{}, err
	}
	out, shm, err := execute(ctx, cfg, j, cfg.Params)
	if err != nil {
		return Result{}, err
	}
	var r Result
	resultOf(&r, name, j, cfg, out, time.Since(wallStart), nil)
	r.Spawn, r.Shm = cfg.Spawn, shm
	return r, j.checkExact(cfg, r.Value) // the gate of every Func with a closed form
}

// resolve fills cfg's defaults and finds the job name stands for.
func resolve(cfg config, name string) (config, job, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return cfg, job{}, err
	}
	j, err := jobFor(name)
	if err == nil && j.k() > 1 && cfg.Mode == modeRacy {
		err = configErr("Mode", " racy loses scalar adds on purpose, and %q has %d elements (use slots, cas, mutex, goroutines or a transport)", name, j.k())
	}
	return cfg, j, err
}

// resultOf sets *r to the Result of out, a call of j as cfg says, its
// values written into values' memory and its Partial holding out's total.
func resultOf(r *Result, name string, j job, cfg config, out callResult, wall time.Duration, values []float64) {
	values = out.total.Values(values[:0])
	*r = Result{
		Func: name, Op: fold.Format(j.ops), N: cfg.N, Offset: cfg.Offset, Value: values[0], Values: values,
		Workers: cfg.Workers, Mode: string(cfg.Mode), Sched: string(cfg.Sched), Grain: cfg.Grain,
		Elapsed: out.elapsed, Wall: wall, Failures: out.failures, Rebuilt: out.rebuilt,
		Publishes: out.publishes, LostSum: out.lostSum,
	}
	*partialFolds(&r.Partial) = out.total
	r.detail = out.workers
	if cfg.Detail != nil {
		*cfg.Detail = append((*cfg.Detail)[:0], out.workers...)
	}
	if cfg.Sched == schedDynamic {
		r.Chunk = cfg.Chunk
	} else {
		r.Publish = publishInterval(cfg)
	}
	if j.exact != nil {
		r.ClosedForm = j.exact(cfg.Params, cfg.Offset, cfg.Offset+cfg.N)
		r.RelError = relError(r.Value, r.ClosedForm)
	}
}

// publishInterval is the most terms a worker of the static schedule sums
// between two publishes: its share, or cfg.Publish if smaller (a
// message-passing worker sends once per share).
func publishInterval(cfg config) uint64 {
	var share uint64
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Grain, cfg.Workers, i)
		share = max(share, hi-lo)
	}
	if cfg.Mode.isTransport() {
		return share
	}
	return min(cfg.Publish, share)
}
