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
	// Requeues counts chunks put back on the queue: taken by a worker
	// whose heartbeat lapsed, or found in no list at all.
	Requeues int `json:"requeues"`
	// Duplicates counts results for chunks that already had one (the
	// first wins); Mismatches those among them whose bits differed.
	Duplicates int `json:"duplicates"`
	Mismatches int `json:"mismatches"`
	// Rejected counts records in the results list that were no result
	// of this job (too short, or a chunk out of range).
	Rejected int `json:"rejected,omitempty"`
	// ByWorker is how many chunks each worker's first results covered.
	ByWorker map[string]int `json:"by_worker,omitempty"`
}

// ComputeChunk sums chunk i of j on this machine with the engine (child
// processes meeting in shared memory) and returns the chunk's partial and
// the engine's compute time. Workers and Local both call it, so a chunk's
// bits do not depend on where it ran.
func ComputeChunk(ctx context.Context, j Job, i int) (float64, time.Duration, error) {
	if i < 0 || i >= j.Chunks {
		return 0, 0, fmt.Errorf("queue: chunk %d out of [0, %d)", i, j.Chunks)
	}
	res, err := engine.Run(ctx, j.config(i))
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
		p, d, err := ComputeChunk(ctx, j, i)
		if err != nil {
			return Result{}, err
		}
		parts[i] = p
		compute += d
	}
	r := finish(j, parts, time.Since(start))
	r.Compute = compute
	r.ByWorker = map[string]int{"local": j.Chunks}
	return r, nil
}

// finish reduces the partials in chunk order and fills in the figures.
func finish(j Job, parts []float64, elapsed time.Duration) Result {
	var f fold
	for _, p := range parts {
		f.add(p)
	}
	r := Result{Job: j, Sum: f.value(), SumExact: engine.ExactSum(j.N), Elapsed: elapsed, Chunks: j.Chunks}
	r.SumRelError = (r.Sum - r.SumExact) / r.SumExact
	r.SumBits = fmt.Sprintf("%016x", math.Float64bits(r.Sum))
	r.Pi = math.Sqrt(8 * r.Sum)
	r.PiError = r.Pi - math.Pi
	if elapsed > 0 {
		r.TermsPerSec = float64(j.N) / elapsed.Seconds()
	}
	return r
}
