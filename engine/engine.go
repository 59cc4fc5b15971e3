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
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
)

// ErrWorkerDied is wrapped by the error Run returns when a child exits
// non-zero or by a signal; errors.As with *WorkerError gives the details.
var ErrWorkerDied = errors.New("worker died")

// WorkerError says which worker failed, when and how.
type WorkerError struct {
	Worker  int
	Attempt int    // 0 for the first try at the range
	Pid     int    //
	How     string // "exit status 1", "signal: killed", ...
	When    string // "before attaching", "while summing", ...
	Stderr  string // the tail of what it printed
}

func (e *WorkerError) Error() string {
	msg := fmt.Sprintf("worker %d (pid %d, attempt %d) died", e.Worker, e.Pid, e.Attempt+1)
	if e.When != "" {
		msg += " " + e.When
	}
	msg += ": " + e.How
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

	// Failures lists the workers that died and were dealt with: retried,
	// or kept because they died after publishing everything.
	Failures []Failure `json:"failures,omitempty"`
	// Rebuilt says the cas or mutex accumulator was set aside after a
	// worker died part-way through adding into it, and Sum was rebuilt
	// from the workers' journals instead.
	Rebuilt bool `json:"rebuilt,omitempty"`
}

// Failure is one worker death that the run survived.
type Failure struct {
	Worker  int    `json:"worker"`
	Attempt int    `json:"attempt"`
	Pid     int    `json:"pid"`
	How     string `json:"how"`
	When    string `json:"when"`
	Action  string `json:"action"` // "retried" or "kept its published result"
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
	// Segments whose creator died before it could remove them (killed in
	// the instant between create and unlink) go first.
	shmem.GC()
	seg, err := shmem.Create(shmem.Options{
		Backing: cfg.Shm, Path: cfg.Path, Force: cfg.Force,
		Slots: cfg.Workers, Stride: shmem.StrideFor(0),
	})
	if err != nil {
		return Result{}, err
	}
	defer func() { err = errors.Join(err, seg.Close()) }()
	// Children inherit the open segment, so its name can go at once: from
	// here on nothing is left in /dev/shm or on disk, however we die.
	if err := seg.Remove(); err != nil {
		return Result{}, err
	}
	h := seg.Header()
	h.Mode = cfg.Mode.code()
	h.N = cfg.N
	h.Chunk = cfg.Chunk
	copy(h.Kernel[:], cfg.Kernel)
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Workers, i)
		s := slotOf(seg, i)
		s.lo.Store(lo)
		s.hi.Store(hi)
	}

	env := append(os.Environ(), fmt.Sprintf("%s=%s:%d", envSegment, seg.Backing(), fdOf(0)))
	g := newGroup(cfg.Workers, env, []*os.File{seg.File()})
	defer g.stop()
	r := &reaper{cfg: cfg, seg: seg, g: g, completed: make([]bool, cfg.Workers)}
	for i := range cfg.Workers {
		if err := g.start(i, 0); err != nil {
			return Result{}, err
		}
	}
	ready := make(chan struct{})
	stopWatch := make(chan struct{})
	var watching sync.WaitGroup
	watching.Go(func() { watchBarrier(seg, cfg.Workers, ready, stopWatch) })
	defer watching.Wait() // before the segment is unmapped
	defer close(stopWatch)

	var start time.Time
	for left := cfg.Workers; left > 0; {
		select {
		case <-ready:
			ready = nil
			start = time.Now()
			h.Go.Store(1) // store-release: the header and slots written before are visible to the children
			if err := sem.WakeAll(&h.Go); err != nil {
				return Result{}, err
			}
		case e := <-g.exits:
			done, err := r.handle(e)
			if err != nil {
				return Result{}, err
			}
			if done {
				left--
			}
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w (workers %s unfinished)", context.Cause(ctx), r.unfinished())
		}
	}

	res = newResult(cfg, string(seg.Backing()))
	res.Elapsed = time.Since(start)
	res.Failures = r.failures
	res.WorkersDetail = make([]WorkerResult, cfg.Workers)
	partials := make([]float64, cfg.Workers)
	for i := range cfg.Workers {
		s := slotOf(seg, i)
		partials[i] = s.total()
		res.WorkersDetail[i] = WorkerResult{
			Index: i, Lo: s.lo.Load(), Hi: s.hi.Load(),
			Elapsed: time.Duration(s.elapsed.Load()), Partial: partials[i],
		}
	}
	a := accumOf(seg)
	if owner := a.lock.Owner(); owner != 0 {
		return Result{}, fmt.Errorf("the accumulator lock is still held by pid %d after every worker exited", owner)
	}
	switch {
	case cfg.Mode == Slots:
		res.Sum = reduce(partials)
	case r.tainted:
		res.Sum = reduce(partials)
		res.Rebuilt = true
	default:
		if got, want := a.adds.Load(), publishes(cfg); got != want {
			return Result{}, fmt.Errorf("accumulator saw %d publishes, want %d", got, want)
		}
		res.Sum = f64(a.sum.Load()) + f64(a.comp.Load())
	}
	return res, nil
}

// watchBarrier closes ready once every worker has attached and reached the
// start barrier.
func watchBarrier(seg *shmem.Segment, workers int, ready, stop chan struct{}) {
	h := seg.Header()
	for {
		seen := h.Arrived.Load()
		all := true
		for i := range workers {
			if slotOf(seg, i).state.Load() < slotArrived {
				all = false
				break
			}
		}
		if all {
			close(ready)
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		sem.WaitWhile(&h.Arrived, seen, 20*time.Millisecond)
	}
}

// reaper decides what each child's exit means for the run.
type reaper struct {
	cfg       Config
	seg       *shmem.Segment
	g         *group
	completed []bool
	failures  []Failure
	tainted   bool // a cas/mutex worker died part-way through its adds
}

// handle takes one reaped child. It reports whether the worker's range is
// now complete; it starts a fresh attempt after a death while retries
// last, and returns an error once they run out.
func (r *reaper) handle(e exit) (bool, error) {
	s := slotOf(r.seg, e.worker)
	pid := r.g.pid(e.worker)
	died := r.g.reaped(e)
	state := s.state.Load()
	if died == nil {
		if state != slotDone {
			return false, fmt.Errorf("worker %d exited 0 without publishing", e.worker)
		}
		r.completed[e.worker] = true
		return true, nil
	}
	we := died.(*WorkerError)
	we.When = slotStates[min(state, slotDone)]
	if _, err := accumOf(r.seg).lock.Recover(pid); err != nil {
		return false, err
	}
	f := Failure{Worker: e.worker, Attempt: e.attempt, Pid: pid, How: we.How, When: we.When}
	if state == slotDone {
		// Everything was published before it died: the result stands.
		f.Action = "kept its published result"
		r.failures = append(r.failures, f)
		r.completed[e.worker] = true
		return true, nil
	}
	if e.attempt >= r.cfg.retries() {
		if r.cfg.retries() > 0 {
			return false, fmt.Errorf("%w; no retries left", we)
		}
		return false, we
	}
	if state >= slotRunning && r.cfg.Mode != Slots {
		// It may have added part of its range into the shared
		// accumulator, and nobody can tell how much: the journals decide.
		r.tainted = true
	}
	s.reset()
	f.Action = "retried"
	r.failures = append(r.failures, f)
	return false, r.g.start(e.worker, e.attempt+1)
}

// unfinished lists the workers whose range is not complete.
func (r *reaper) unfinished() string {
	var s []string
	for i, c := range r.completed {
		if !c {
			s = append(s, strconv.Itoa(i))
		}
	}
	return strings.Join(s, ", ")
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
