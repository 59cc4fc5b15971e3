// Package engine splits a numeric reduction over child processes that meet
// in a shared-memory segment, and gathers their partial sums by one of
// several publishing strategies so that the strategies can be compared on
// the same work.
//
// The workload is the pi series S_n = sum_{k<n} 1/(2k+1)^2, pi = sqrt(8 S_n),
// whose exact partial sum is known in closed form (ExactSum), so every result
// is checked against the true answer.
//
// Run re-executes the current binary once per worker; that binary must call
// the child hook at the top of main:
//
//	if engine.IsChild() {
//		os.Exit(engine.ChildMain())
//	}
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/shmem"
)

// ErrWorkerDied is wrapped by the error Run returns when a child exits
// non-zero or by a signal; errors.As with *WorkerError gives the details.
var ErrWorkerDied = errors.New("worker died")

// WorkerError says which worker failed and how.
type WorkerError struct {
	Worker int
	Pid    int
	How    string // "exit status 1", "signal: killed", ...
	Stderr string // the tail of what it printed
}

func (e *WorkerError) Error() string {
	msg := fmt.Sprintf("worker %d (pid %d) died: %s", e.Worker, e.Pid, e.How)
	if e.Stderr != "" {
		msg += ": " + e.Stderr
	}
	return msg
}

func (e *WorkerError) Unwrap() error { return ErrWorkerDied }

// Result is what one run computed and how long it took.
type Result struct {
	N       uint64 `json:"n"`
	Workers int    `json:"workers"`
	Mode    Mode   `json:"mode"`
	Kernel  string `json:"kernel"`
	Shm     string `json:"shm"`
	Chunk   uint64 `json:"chunk"`

	Pi          float64 `json:"pi"`
	PiError     float64 `json:"pi_error"` // Pi - math.Pi: the series' truncation error plus ours
	Sum         float64 `json:"sum"`
	SumExact    float64 `json:"sum_exact"`
	SumRelError float64 `json:"sum_rel_error"` // (Sum - SumExact) / SumExact

	// Elapsed runs from the start barrier's release to the last worker's
	// exit: the work, without process start-up.
	Elapsed     time.Duration `json:"elapsed_ns"`
	Wall        time.Duration `json:"wall_ns"` // the whole Run, set-up and tear-down included
	TermsPerSec float64       `json:"terms_per_sec"`

	WorkersDetail []WorkerResult `json:"workers_detail"`
}

// WorkerResult is one worker's share.
type WorkerResult struct {
	Index   int           `json:"index"`
	Lo      uint64        `json:"lo"`
	Hi      uint64        `json:"hi"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Partial float64       `json:"partial"`
}

// ExactSum returns the true S_n (pi^2/8 - trigamma(n+1/2)/4), rounded.
func ExactSum(n uint64) float64 { return exact.Sum(n) }

// Run performs one reduction as cfg says and checks it against the closed
// form. It removes the segment and every child before it returns, whatever
// happens; cancelling ctx stops the children.
func Run(ctx context.Context, cfg Config) (Result, error) {
	wallStart := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	k, _ := kernel.ByName(cfg.Kernel) // validated in withDefaults
	var res Result
	if cfg.Mode == Goroutines {
		res, err = runGoroutines(ctx, cfg, k)
	} else {
		res, err = runProcesses(ctx, cfg)
	}
	if err != nil {
		return Result{}, err
	}
	res.Wall = time.Since(wallStart)
	res.finish()
	return res, nil
}

func newResult(cfg Config, shm string) Result {
	return Result{N: cfg.N, Workers: cfg.Workers, Mode: cfg.Mode, Kernel: cfg.Kernel, Shm: shm, Chunk: cfg.Chunk}
}

// finish fills the figures derived from Sum.
func (r *Result) finish() {
	r.SumExact = exact.Sum(r.N)
	r.SumRelError = (r.Sum - r.SumExact) / r.SumExact
	r.Pi = math.Sqrt(8 * r.Sum)
	r.PiError = r.Pi - math.Pi
	if r.Elapsed > 0 {
		r.TermsPerSec = float64(r.N) / r.Elapsed.Seconds()
	}
}

// runGoroutines is the in-process baseline: the same split, kernel and
// reduction, on goroutines.
func runGoroutines(ctx context.Context, cfg Config, k kernel.Kernel) (Result, error) {
	res := newResult(cfg, "none")
	res.WorkersDetail = make([]WorkerResult, cfg.Workers)
	partials := make([]float64, cfg.Workers)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Workers, i)
		wg.Go(func() {
			t := time.Now()
			partials[i] = sumRange(k, lo, hi, cfg.Chunk, nil)
			res.WorkersDetail[i] = WorkerResult{Index: i, Lo: lo, Hi: hi, Elapsed: time.Since(t), Partial: partials[i]}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res.Sum = reduce(partials)
	return res, nil
}

// runProcesses runs a shared-memory mode on child processes.
func runProcesses(ctx context.Context, cfg Config) (res Result, err error) {
	seg, err := shmem.Create(shmem.Options{
		Backing: cfg.Shm, Path: cfg.Path, Force: cfg.Force,
		Slots: cfg.Workers, Stride: shmem.StrideFor(0),
	})
	if err != nil {
		return Result{}, err
	}
	defer func() { err = errors.Join(err, seg.Destroy()) }()

	h := seg.Header()
	h.Mode = cfg.Mode.code()
	h.N = cfg.N
	h.Chunk = cfg.Chunk
	copy(h.Kernel[:], cfg.Kernel)
	accumOf(seg).lock.Init(1)
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Workers, i)
		s := slotOf(seg, i)
		s.lo.Store(lo)
		s.hi.Store(hi)
	}

	g, err := startChildren(ctx, seg, cfg.Workers)
	if err != nil {
		return Result{}, err
	}
	defer g.stop()
	if err := g.barrier(ctx, &h.Arrived); err != nil {
		return Result{}, err
	}
	// Every child has attached: the name is no longer needed, and removing
	// it now means nothing can be left in /dev/shm even if we are killed.
	if err := seg.Remove(); err != nil {
		return Result{}, err
	}
	start := time.Now()
	if err := g.release(&h.Go); err != nil {
		return Result{}, err
	}
	if err := g.wait(ctx); err != nil {
		return Result{}, err
	}
	res = newResult(cfg, string(seg.Backing()))
	res.Elapsed = time.Since(start)
	res.WorkersDetail = make([]WorkerResult, cfg.Workers)
	partials := make([]float64, cfg.Workers)
	for i := range cfg.Workers {
		s := slotOf(seg, i)
		if s.state.Load() != slotDone {
			return Result{}, fmt.Errorf("worker %d exited without publishing", i)
		}
		partials[i] = f64(s.partial.Load()) + f64(s.comp.Load())
		res.WorkersDetail[i] = WorkerResult{
			Index: i, Lo: s.lo.Load(), Hi: s.hi.Load(),
			Elapsed: time.Duration(s.elapsed.Load()), Partial: partials[i],
		}
	}
	switch cfg.Mode {
	case Slots:
		res.Sum = reduce(partials)
	case CAS, Mutex:
		a := accumOf(seg)
		if got, want := a.adds.Load(), publishes(cfg); got != want {
			return Result{}, fmt.Errorf("accumulator saw %d publishes, want %d", got, want)
		}
		res.Sum = f64(a.sum.Load()) + f64(a.comp.Load())
	}
	return res, nil
}

// publishes is how many times the workers publish in total.
func publishes(cfg Config) uint64 {
	var n uint64
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Workers, i)
		n += (hi - lo + cfg.Chunk - 1) / cfg.Chunk
	}
	return n
}
