// Package engine splits a numeric reduction over worker processes that meet
// in a shared-memory segment, and gathers their partial sums by one of
// several publishing strategies so that the strategies can be compared on
// the same work. It owns the worker protocol (protocol.go: the segment's
// control block, slots and journals, the calls, the faults), the
// strategies, the choice of kernel, and the only code that starts
// processes; shmem lays out bytes, sem locks a word, kernel sums numbers.
//
// The built-in workload is the pi series S_n = sum_{k<n} 1/(2k+1)^2,
// pi = sqrt(8 S_n), whose exact partial sum is known in closed form
// (ExactSum), so Run checks every result against the true answer and fails
// beyond Tolerance. Reduce and Pool run a registered Func instead.
//
// Workers are re-executions of the current binary (or Config.WorkerBinary),
// which must call the child hook at the top of main:
//
//	if engine.IsChild() {
//		os.Exit(engine.ChildMain())
//	}
//
// and, in a test binary, func TestMain(m *testing.M) { engine.RunTests(m) }.
package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
)

// ErrWorkerDied is wrapped by the error Run returns when a child exits
// non-zero or by a signal; errors.As with *WorkerError gives the details.
var ErrWorkerDied = errors.New("engine: worker died")

// WorkerError says which worker failed, when and how. Error() is one
// line; what the worker printed (a stack, say) is in Stderr and Stack.
type WorkerError struct {
	Worker  int
	Attempt int    // retries of the range before this process: 0 for the first try
	Pid     int    //
	How     string // "exit status 1", "signal: killed", "panicked", ...
	When    string // "before attaching", "while summing", ...
	Func    string // the Func of the call, "" outside one
	Lo, Hi  uint64 // the terms it was working on, when known (Hi > Lo)
	Cause   string // one line: the panic value or the worker's own error
	Hint    string // what to do about it, when the engine can tell
	Stderr  string // the tail of what it printed
	Stack   string // a panicking Func's stack
	// NoRetriesLeft is set when this death ended the call because its
	// retries had run out.
	NoRetriesLeft bool
}

func (e *WorkerError) Error() string {
	var b strings.Builder
	// The text counts retries as Attempt does: a first try says none.
	if e.Attempt > 0 {
		fmt.Fprintf(&b, "engine: worker %d (pid %d, retry %d) ", e.Worker, e.Pid, e.Attempt)
	} else {
		fmt.Fprintf(&b, "engine: worker %d (pid %d) ", e.Worker, e.Pid)
	}
	if e.How == howPanicked {
		b.WriteString("panicked")
	} else {
		b.WriteString("died")
		if e.When != "" {
			b.WriteString(" " + e.When)
		}
	}
	if e.Func != "" {
		fmt.Fprintf(&b, " in %q", e.Func)
	}
	if e.Hi > e.Lo {
		fmt.Fprintf(&b, " on [%d, %d)", e.Lo, e.Hi)
	}
	if e.How != howPanicked {
		b.WriteString(": " + e.How)
	}
	if e.Cause != "" {
		b.WriteString(": " + e.Cause)
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	if e.NoRetriesLeft {
		b.WriteString("; no retries left")
	}
	return b.String()
}

// howPanicked is WorkerError.How for a Func that panicked in a worker.
const howPanicked = "panicked"

// FuncPanic is the error of a call whose Func panicked in the calling
// process (a Pool call below WithInProcessBelow, the Goroutines mode, or
// the caller's share, Goroutine 0); in a worker process the same panic is
// a WorkerError.
type FuncPanic struct {
	Func      string
	Goroutine int
	Lo, Hi    uint64 // the piece it panicked on
	Value     any    // what it panicked with
	Stack     string
}

func (e *FuncPanic) Error() string {
	return fmt.Sprintf("engine: goroutine %d panicked in %q on [%d, %d): %s", e.Goroutine, e.Func, e.Lo, e.Hi, oneLine(fmt.Sprint(e.Value)))
}

// oneLine is s cut to its first line, and to at most 300 bytes.
func oneLine(s string) string {
	s, _, cut := strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s, cut = s[:300], true
	}
	if cut {
		s += " …"
	}
	return s
}

func (e *WorkerError) Unwrap() error { return ErrWorkerDied }

// Result is what one run computed and how long it took.
type Result struct {
	N       uint64 `json:"n"`
	Workers int    `json:"workers"`
	Mode    Mode   `json:"mode"`
	Kernel  string `json:"kernel"`
	Shm     string `json:"shm"`
	Sched   string `json:"sched"`
	// Spawn is how the workers started: "exec" or "fork" (see
	// Config.Spawn), or "" in the goroutines mode.
	Spawn string `json:"spawn,omitempty"`
	// Grain is the terms per piece of the grid the series was summed on
	// (Config.Grain): with N, it fixes the result's bits.
	Grain uint64 `json:"grain"`
	// Publish is, under the static schedule, the most terms a worker
	// summed between two publishes (at most its share; a message-passing
	// worker sends once per share).
	Publish uint64 `json:"publish,omitempty"`
	// Chunk is, under the dynamic schedule, the terms per chunk.
	Chunk uint64 `json:"chunk,omitempty"`

	Pi      float64 `json:"pi"`
	PiError float64 `json:"pi_error"` // Pi - math.Pi: the series' truncation error plus ours
	// PiExtrapolated is sqrt(8 (Sum + tail)), the tail pi^2/8 - S_n
	// added in closed form (Config.Extrapolate): pi to a few ulp even at
	// small n. Zero unless asked for.
	PiExtrapolated      float64 `json:"pi_extrapolated,omitempty"`
	PiExtrapolatedError float64 `json:"pi_extrapolated_error,omitempty"`
	Sum                 float64 `json:"sum"`
	SumExact            float64 `json:"sum_exact"`
	SumRelError         float64 `json:"sum_rel_error"` // (Sum - SumExact) / SumExact

	// Elapsed runs from the start barrier's release to the moment the
	// last worker marked the call done (before the workers exit): the
	// work, without process start-up or tear-down.
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
	// Publishes is how many times the workers published in all.
	Publishes uint64 `json:"publishes"`
	// LostSum is what the racy mode's unsynchronized load-add-store lost:
	// the workers' journals' exact total minus the accumulator (always 0
	// in the other modes).
	LostSum float64 `json:"lost_sum,omitempty"`
	// Offset is Config.Offset: the terms were [Offset, Offset+N), and the
	// pi figures are zero unless it is 0.
	Offset uint64 `json:"offset,omitempty"`
	Pad    int    `json:"pad,omitempty"`
}

// Failure is one worker death that the run survived.
type Failure struct {
	Worker  int    `json:"worker"`
	Attempt int    `json:"attempt"` // retries of the range before this process: 0 for the first try
	Pid     int    `json:"pid"`
	How     string `json:"how"`
	When    string `json:"when"`
	Action  string `json:"action"` // "retried" or "kept its published result"
}

// WorkerResult is one worker's share.
type WorkerResult struct {
	Index   int           `json:"index"`
	Lo      uint64        `json:"lo"` // its range, static schedule (0, 0 when dynamic)
	Hi      uint64        `json:"hi"`
	Terms   uint64        `json:"terms"` // how many terms it summed
	Elapsed time.Duration `json:"elapsed_ns"`
	Partial float64       `json:"partial"`
}

// ExactSum returns the true S_n (pi^2/8 - trigamma(n+1/2)/4), rounded.
func ExactSum(n uint64) float64 { return exact.Sum(n) }

// ExactSumRange returns the true sum of the terms [lo, hi), rounded: far
// out in the series it is not ExactSum(hi) - ExactSum(lo), which would be
// all rounding, but a difference taken without cancellation.
func ExactSumRange(lo, hi uint64) float64 { return exact.SumRange(lo, hi) }

// Tolerance is the relative error |S - S_exact| / S_exact that Run
// accepts. Every kernel and mode stays well inside it, at any Offset and
// chunk (the kernels are within 2.5e-16, and the shared accumulators carry
// their rounding errors): anything beyond it is a wrong answer.
const Tolerance = 1e-15

// ErrInexact is wrapped by the error Run returns when S is further from
// the closed form than Tolerance, whatever the cause. The Result is
// returned with it, for the racy mode's demonstration of lost updates.
var ErrInexact = errors.New("engine: the sum is wrong")

// Run computes pi as cfg says and checks S_n against the closed form: a
// result outside Tolerance is an error (ErrInexact). It removes the
// segment and every worker before it returns, whatever happens;
// cancelling ctx stops the workers.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := notAWorker(); err != nil {
		return Result{}, err
	}
	wallStart := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	switch {
	case cfg.Mode == Goroutines:
		cfg.Spawn = "" // no processes
	case cfg.Spawn == "" || cfg.Spawn == SpawnAuto:
		cfg.Spawn = cfg.autoSpawn()
	}
	j := piKernelJob(cfg.Kernel)
	out, shm, err := execute(ctx, cfg, j, nil)
	if err != nil {
		return Result{}, err
	}
	res := Result{
		N: cfg.N, Workers: cfg.Workers, Mode: cfg.Mode, Kernel: cfg.Kernel, Shm: shm, Spawn: cfg.Spawn,
		Chunk: cfg.Chunk, Publish: publishInterval(cfg), Grain: cfg.Grain, Sched: string(cfg.Sched), Sum: out.total[0].value(), Elapsed: out.elapsed,
		WorkersDetail: out.workers, Failures: out.failures, Rebuilt: out.rebuilt,
		Publishes: out.publishes, LostSum: out.lostSum, Offset: cfg.Offset, Pad: cfg.Pad,
	}
	res.SumExact = j.exact(nil, cfg.Offset, cfg.Offset+cfg.N)
	res.SumRelError = relError(res.Sum, res.SumExact)
	if cfg.Offset == 0 {
		res.Pi = math.Sqrt(8 * res.Sum)
		res.PiError = res.Pi - math.Pi
	}
	if cfg.Extrapolate && cfg.Offset == 0 {
		res.PiExtrapolated = math.Sqrt(8 * (res.Sum + exact.Tail(res.N)))
		res.PiExtrapolatedError = res.PiExtrapolated - math.Pi
	}
	if res.Elapsed > 0 {
		res.TermsPerSec = float64(res.N) / res.Elapsed.Seconds()
	}
	res.Wall = time.Since(wallStart)
	return res, j.checkExact(cfg, res.Sum) // the gate of every Func with a closed form
}

// publishInterval is the most terms one static worker summed between two
// publishes: Config.Publish, capped by the largest share (a worker also
// publishes at the end of its share); a message-passing worker sends once
// per share. 0 under the dynamic schedule.
func publishInterval(cfg Config) uint64 {
	if cfg.Sched == Dynamic {
		return 0
	}
	var share uint64
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Grain, cfg.Workers, i)
		share = max(share, hi-lo)
	}
	if cfg.Mode.IsTransport() {
		return share
	}
	return min(cfg.Publish, share)
}

// sumOps is the ops of a scalar Sum: the pi series'.
var sumOps = []Op{Sum}

// piKernelJob is the pi series with the named CPU kernel (validated by
// withDefaults). Worker processes find the kernel again by the name the
// job carries (jobSpec.kernel).
func piKernelJob(name string) job {
	k, _ := kernel.ByName(name)
	return job{name: piJob, ops: sumOps, f: k.Sum, exact: piClosedForm, forkable: slices.Contains(forkKernels, name)}
}

// piClosedForm is the pi series' sum over [lo, hi) (ExactSumRange): the
// gate of Run and of every Reduce or Pool call of "pi", as of any Func
// registered WithClosedForm. It costs under a microsecond (15 ns far out in
// the series), next to a pool call's 10 µs or more.
func piClosedForm(_ []byte, lo, hi uint64) float64 { return exact.SumRange(lo, hi) }
