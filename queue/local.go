package queue

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// Result is what a distributed (or Local) run computed.
type Result struct {
	Job Job `json:"job"`
	// Reduction is the job's value as engine.Reduce would return it on
	// one machine (Reduction.Partial is the exact state of the whole).
	Reduction engine.Result `json:"-"`
	// N is the number of terms reduced, as in pishm -json.
	N uint64 `json:"n"`
	// Sum is the job's value: the Func's reduction with its Op (a sum, or
	// for Min and Max the extreme), rounded once.
	Sum float64 `json:"sum"`
	// Values are a vector Func's k values (Sum is the first).
	Values      []float64 `json:"values,omitempty"`
	SumExact    float64   `json:"sum_exact,omitempty"`
	SumRelError float64   `json:"sum_rel_error,omitempty"`
	// SumBits is Sum's IEEE 754 bits in hex, to compare runs bit for bit.
	SumBits string `json:"sum_bits"`

	Elapsed     time.Duration `json:"elapsed_ns"` // from the first chunk queued to the last result
	TermsPerSec float64       `json:"terms_per_sec"`
	// Compute is the sum of the chunks' engine times as the workers
	// reported them (the first result of each chunk).
	Compute time.Duration `json:"compute_ns"`

	Chunks int `json:"chunks"`
	// Resumed says the job was found in redis, left by an earlier
	// coordinator, and its results so far were kept.
	Resumed bool `json:"resumed,omitempty"`
	// Replayed says the job had ended (done) before this coordinator
	// came: this is the outcome its end marker recorded, for Job.Retain
	// after it ended. The job was not run again.
	Replayed bool `json:"replayed,omitempty"`
	// Reclaimed counts chunks taken back from a worker whose lease lapsed
	// (no progress for Job.Lease); Speculative the second copies that idle
	// workers ran of the chunk that had run longest.
	Reclaimed   int `json:"reclaimed"`
	Speculative int `json:"speculative"`
	// Duplicates counts results for chunks that already had one (the
	// first valid one wins); Mismatches those among them whose bits
	// differed; Disputes the chunks a mismatch sent to a third run.
	Duplicates int `json:"duplicates"`
	Mismatches int `json:"mismatches"`
	Disputes   int `json:"disputes,omitempty"`
	// Rejected counts records that were no valid result of this job
	// (unreadable, another protocol or job, a chunk out of range, a value
	// not finite or outside the chunk's closed-form bounds); RejectReasons
	// gives the first few.
	Rejected      int      `json:"rejected,omitempty"`
	RejectReasons []string `json:"reject_reasons,omitempty"`
	// DeadLetters lists queue entries that were no chunk, set aside, and
	// the workers that refused the job (another build, no such Func).
	DeadLetters []string `json:"dead_letters,omitempty"`
	// Outvoted counts, per worker, its results that other workers' equal
	// results outvoted; Shunned lists the workers shunned for it (see
	// ShunAfter).
	Outvoted map[string]int `json:"outvoted,omitempty"`
	Shunned  []string       `json:"shunned,omitempty"`
	// ByWorker is how many chunks each worker's accepted results covered;
	// Builds how many valid results each build stamp sent.
	ByWorker map[string]int `json:"by_worker,omitempty"`
	Builds   map[string]int `json:"builds,omitempty"`
}

// ComputeChunk reduces chunk i of j on this machine with the engine
// (child processes meeting in shared memory) and returns the chunk's exact
// state and the engine's compute time. Workers and Local both call it, so
// a chunk's bits do not depend on where it ran.
//
// progress, if not nil, is called with the terms summed so far, about every
// lab.ProgressEvery while the engine runs.
func ComputeChunk(ctx context.Context, j Job, i int, progress func(done uint64)) (partial.Partial, time.Duration, error) {
	j = j.withDefaults()
	if i < 0 || i >= j.Chunks {
		return partial.Partial{}, 0, errorf("chunk %d out of [0, %d)", i, j.Chunks)
	}
	return chunkOnPool(ctx, j, i, progress, nil)
}

// Local computes j on this machine alone, chunk after chunk, and reduces
// exactly as Coordinate does: its Sum is bit-identical to a distributed run
// of the same Job (whatever its ID), and to engine.Reduce of j.Func over
// [0, N) with j.Grain.
func Local(ctx context.Context, j Job) (Result, error) {
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	if err := registered(j); err != nil {
		return Result{}, err
	}
	start := time.Now()
	// One pool for every chunk: its workers start once, not per chunk
	// (the same bits: a chunk's value depends on its range and grain alone).
	pool, err := j.newPool(ctx)
	if err != nil {
		return Result{}, err
	}
	defer pool.Close()
	total := partial.New(j.ops()...)
	var compute time.Duration
	for i := range j.Chunks {
		p, d, err := chunkOnPool(ctx, j, i, nil, pool)
		if err != nil {
			return Result{}, err
		}
		if err := total.Merge(p); err != nil {
			return Result{}, err
		}
		compute += d
	}
	r := finish(j, total, time.Since(start))
	r.Compute = compute
	r.ByWorker = map[string]int{"local": j.Chunks}
	if err := j.checkSum(r); err != nil {
		return r, err
	}
	return r, nil
}

// registered checks that this program runs j's Func with j's Op.
func registered(j Job) error {
	ops, ok := catalog.Ops(j.Func)
	switch {
	case !ok:
		return fmt.Errorf("%w: no Func registered as %q in this program (have %v)", ErrBadJob, j.Func, catalog.Funcs())
	case catalog.FormatOps(ops) != j.Op:
		return fmt.Errorf("%w: Func %q is registered with op %s here, the job says %s", ErrBadJob, j.Func, catalog.FormatOps(ops), j.Op)
	}
	return nil
}

// checkSum fails a result whose Func has a closed form (see
// Job.closedForm) and whose sum is further than SumRelTol from it.
func (j Job) checkSum(r Result) error {
	if j.closedForm() == nil || math.Abs(r.SumRelError) <= SumRelTol {
		return nil
	}
	return fmt.Errorf("%w: job %s: %s over [0, %d) gave %.17g, its closed form %.17g: relative error %.3g is beyond %g",
		ErrInexact, j.ID, j.Func, j.N, r.Sum, r.SumExact, r.SumRelError, SumRelTol)
}

// finish rounds the merged exact state once and fills in the figures.
func finish(j Job, total partial.Partial, elapsed time.Duration) Result {
	values := total.Values()
	red := engine.Result{Func: j.Func, Op: catalog.FormatOps(total.Ops()), N: j.N, Value: values[0], Values: values, Grain: j.Grain,
		Workers: j.Workers, Mode: string(j.Mode), Sched: string(lab.Static), Elapsed: elapsed, Wall: elapsed, Partial: total}
	r := Result{Job: j, Reduction: red, N: j.N, Sum: red.Value, Elapsed: elapsed, Chunks: j.Chunks}
	if len(red.Values) > 1 {
		r.Values = red.Values
	}
	r.SumBits = fmt.Sprintf("%016x", math.Float64bits(r.Sum))
	if cf := j.closedForm(); cf != nil {
		r.SumExact = cf(j.Params, 0, j.N)
		r.SumRelError = 0
		if r.Sum != r.SumExact {
			r.SumRelError = (r.Sum - r.SumExact) / r.SumExact
		}
	}
	if elapsed > 0 {
		r.TermsPerSec = float64(j.N) / elapsed.Seconds()
	}
	return r
}
