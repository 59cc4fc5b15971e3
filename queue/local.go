package queue

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/pishm/pishm/engine"
)

// Result is what a distributed (or Local) run computed.
type Result struct {
	Job         Job     `json:"job"`
	Pi          float64 `json:"pi"`
	PiError     float64 `json:"pi_error"` // Pi - math.Pi: mostly the series' truncation
	Sum         float64 `json:"sum"`
	SumExact    float64 `json:"sum_exact"`
	SumRelError float64 `json:"sum_rel_error"`
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
	// DeadLetters lists queue entries that were no chunk, set aside.
	DeadLetters []string `json:"dead_letters,omitempty"`
	// ByWorker is how many chunks each worker's accepted results covered;
	// Builds how many valid results each build stamp sent.
	ByWorker map[string]int `json:"by_worker,omitempty"`
	Builds   map[string]int `json:"builds,omitempty"`
}

// ComputeChunk sums chunk i of j on this machine with the engine (child
// processes meeting in shared memory) and returns the chunk's partial and
// the engine's compute time. Workers and Local both call it, so a chunk's
// bits do not depend on where it ran.
//
// progress, if not nil, is called with the terms summed so far, about every
// engine.ProgressEvery while the engine runs.
func ComputeChunk(ctx context.Context, j Job, i int, progress func(done uint64)) (float64, time.Duration, error) {
	if i < 0 || i >= j.Chunks {
		return 0, 0, fmt.Errorf("queue: chunk %d out of [0, %d)", i, j.Chunks)
	}
	cfg := j.config(i)
	if progress != nil {
		cfg.Progress = func(p engine.Progress) { progress(p.Done) }
	}
	res, err := engine.Run(ctx, cfg)
	if err != nil {
		return 0, 0, fmt.Errorf("queue: chunk %d: %w", i, err)
	}
	return res.Sum, res.Elapsed, nil
}

// Local computes j on this machine alone, chunk after chunk, and reduces
// exactly as Coordinate does: its Sum is bit-identical to a distributed run
// of the same Job (whatever its ID).
func Local(ctx context.Context, j Job) (Result, error) {
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	parts := make([]float64, j.Chunks)
	var compute time.Duration
	for i := range j.Chunks {
		p, d, err := ComputeChunk(ctx, j, i, nil)
		if err != nil {
			return Result{}, err
		}
		parts[i] = p
		compute += d
	}
	r := finish(j, parts, time.Since(start))
	r.Compute = compute
	r.ByWorker = map[string]int{"local": j.Chunks}
	if math.Abs(r.SumRelError) > SumRelTol || math.IsNaN(r.SumRelError) {
		return r, fmt.Errorf("%w: S_n %.17g, exact %.17g: relative error %.3g is beyond %g", ErrInexact, r.Sum, r.SumExact, r.SumRelError, SumRelTol)
	}
	return r, nil
}

// finish reduces the partials in chunk order and fills in the figures.
func finish(j Job, parts []float64, elapsed time.Duration) Result {
	var f fold
	for _, p := range parts {
		f.Add(p)
	}
	r := Result{Job: j, Sum: f.Value(), SumExact: engine.ExactSum(j.N), Elapsed: elapsed, Chunks: j.Chunks}
	r.SumRelError = (r.Sum - r.SumExact) / r.SumExact
	r.SumBits = fmt.Sprintf("%016x", math.Float64bits(r.Sum))
	r.Pi = math.Sqrt(8 * r.Sum)
	r.PiError = r.Pi - math.Pi
	if elapsed > 0 {
		r.TermsPerSec = float64(j.N) / elapsed.Seconds()
	}
	return r
}
