package main

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/engine/pi"
	"github.com/pishm/pishm/queue"
)

// What pishm coordinate prints: the job's result as text or -json, and
// its progress.

// distJSON is a job's -json: the queue's Result, with the pi figures and
// the job's kernel (the queue knows neither: its Func is "pi/avx2").
type distJSON struct {
	queue.Result
	Job     distJob `json:"job"`
	Pi      float64 `json:"pi"`
	PiError float64 `json:"pi_error"` // Pi - math.Pi: mostly the series' truncation
}

type distJob struct {
	queue.Job
	Kernel string `json:"kernel"`
}

func distJSONOf(r queue.Result) distJSON {
	p := math.Sqrt(8 * r.Sum)
	return distJSON{Result: r, Job: distJob{Job: r.Job, Kernel: kernelOf(r.Job)}, Pi: p, PiError: p - math.Pi}
}

// kernelOf is the kernel of a job of the series: its Func is "pi/NAME".
func kernelOf(j queue.Job) string { return strings.TrimPrefix(j.Func, pi.FuncName("")) }

func printDist(w io.Writer, r queue.Result) {
	j := r.Job
	p := math.Sqrt(8 * r.Sum)
	if math.Abs(r.SumRelError) <= queue.SumRelTol {
		fmt.Fprintf(w, "pi        %.16f  (error %+.3e against math.Pi: the truncation of the series at n terms)\n", p, p-math.Pi)
	} else {
		fmt.Fprintf(w, "pi        %.16f  (WRONG: S_n fails the exact check)\n", p)
	}
	fmt.Fprintf(w, "S_n       %.16f  (exact %.16f, relative error %+.2e; bits %s)\n", r.Sum, r.SumExact, r.SumRelError, r.SumBits)
	fmt.Fprintf(w, "n         %d terms in %d chunks on a grid of %d terms; per chunk: engine workers %d, mode %s, kernel %s\n", j.N, r.Chunks, j.Grain, j.Workers, j.Mode, kernelOf(j))
	fmt.Fprintf(w, "time      %v, %.3g terms/s; chunks' compute %v in all, %v per chunk on average\n",
		r.Elapsed.Round(time.Microsecond), r.TermsPerSec, r.Compute.Round(time.Microsecond), (r.Compute / time.Duration(r.Chunks)).Round(time.Microsecond))
	names := make([]string, 0, len(r.ByWorker))
	for name := range r.ByWorker {
		names = append(names, name)
	}
	sort.Strings(names)
	var by []string
	for _, name := range names {
		by = append(by, fmt.Sprintf("%s %d", name, r.ByWorker[name]))
	}
	fmt.Fprintf(w, "chunks    %d results (%s); reclaimed %d, speculative %d, duplicates %d (mismatched %d, disputes %d)\n",
		r.Chunks, strings.Join(by, ", "), r.Reclaimed, r.Speculative, r.Duplicates, r.Mismatches, r.Disputes)
	if r.Resumed {
		fmt.Fprintf(w, "resumed   the results of an earlier coordinator were kept\n")
	}
	if r.Replayed {
		fmt.Fprintf(w, "replayed  the job had ended before this coordinator came: this is its recorded outcome, not a new run\n")
	}
	if r.Rejected > 0 {
		fmt.Fprintf(w, "rejected  %d records that were no valid result of this job, e.g. %s\n", r.Rejected, strings.Join(r.RejectReasons, "; "))
	}
	for _, d := range r.DeadLetters {
		fmt.Fprintf(w, "dead      queue entry %s\n", d)
	}
}

// chunkProgress returns a coordinator's Progress callback and its period:
// on a terminal one line rewritten every second, elsewhere (a log) a line
// every few seconds, so that a long job is never silent for minutes.
func chunkProgress(w io.Writer, id string) (func(done, total int), time.Duration) {
	start := time.Now()
	if cli.IsTerminal(w) {
		return func(done, total int) {
			took := time.Since(start)
			fmt.Fprintf(w, "\r\033[Kpishm: job %s: %d of %d chunks done (%.0f%%) in %v%s", id, done, total, 100*float64(done)/float64(total), took.Round(time.Second), cli.ETA(uint64(done), uint64(total), took))
			if done == total {
				fmt.Fprintln(w)
			}
		}, time.Second
	}
	return func(done, total int) {
		took := time.Since(start)
		fmt.Fprintf(w, "pishm: job %s: %d of %d chunks done (%.0f%%) in %v%s\n", id, done, total, 100*float64(done)/float64(total), took.Round(time.Second), cli.ETA(uint64(done), uint64(total), took))
	}, queue.DefaultProgressEvery
}
