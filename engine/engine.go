// Package engine splits a numeric reduction over worker processes that meet
// in a shared-memory segment, and gathers their partial sums by one of
// several publishing strategies so that the strategies can be compared on
// the same work. It owns the worker protocol (protocol.go: the segment's
// control block, slots and journals, the calls, the faults), the
// strategies and the only code that starts processes; shmem lays out
// bytes, sem locks a word, kernel sums numbers.
//
// Run, Reduce and Pool sum a Func registered by name. A Func registered
// with its closed form (WithClosedForm) has every result checked against
// it, failing beyond Tolerance. The pi series S_n = sum_{k<n} 1/(2k+1)^2
// is registered that way, once per CPU kernel (piseries.go); package
// engine/pi computes pi = sqrt(8 S_n) on top.
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
	"strings"
	"time"
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

// Result is what one Run computed and how long it took.
type Result struct {
	// Func is the name the Func was registered under ("pi/avx512").
	Func    string `json:"func"`
	N       uint64 `json:"n"`
	Workers int    `json:"workers"`
	Mode    Mode   `json:"mode"`
	Shm     string `json:"shm"`
	Sched   string `json:"sched"`
	// Spawn is how the workers started: "exec" or "fork" (see
	// Config.Spawn), or "" in the goroutines mode.
	Spawn string `json:"spawn,omitempty"`
	// Grain is the terms per piece of the grid the Func was called on
	// (Config.Grain): with the Func and N, it fixes the result's bits.
	Grain uint64 `json:"grain"`
	// Publish is, under the static schedule, the most terms a worker
	// summed between two publishes (at most its share; a message-passing
	// worker sends once per share).
	Publish uint64 `json:"publish,omitempty"`
	// Chunk is, under the dynamic schedule, the terms per chunk.
	Chunk uint64 `json:"chunk,omitempty"`

	Sum float64 `json:"sum"`
	// SumExact is the Func's closed form over the terms (WithClosedForm),
	// and SumRelError (Sum - SumExact) / SumExact; both 0 for a Func
	// without one.
	SumExact    float64 `json:"sum_exact"`
	SumRelError float64 `json:"sum_rel_error"`

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
	// Offset is Config.Offset: the terms were [Offset, Offset+N).
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

// Tolerance is the relative error |S - S_exact| / S_exact that Run
// accepts. Every kernel and mode stays well inside it, at any Offset and
// chunk (the kernels are within 2.5e-16, and the shared accumulators carry
// their rounding errors): anything beyond it is a wrong answer.
const Tolerance = 1e-15

// ErrInexact is wrapped by the error Run returns when S is further from
// the closed form than Tolerance, whatever the cause. The Result is
// returned with it, for the racy mode's demonstration of lost updates.
var ErrInexact = errors.New("engine: the sum is wrong")

// Run sums the scalar Func registered as name over [Offset, Offset+N) as
// cfg says, and reports how (Result). A Func with a closed form
// (WithClosedForm, as the pi series has) is checked against it: a result
// outside Tolerance is an error wrapping ErrInexact, returned with the
// Result. Run removes the segment and every worker before it returns,
// whatever happens; cancelling ctx stops the workers. Where Reduce and
// Pool always exec their workers, Run forks them when the Func and cfg
// allow it (Config.Spawn).
func Run(ctx context.Context, name string, cfg Config) (Result, error) {
	if err := notAWorker(); err != nil {
		return Result{}, err
	}
	wallStart := time.Now()
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Result{}, err
	}
	j, err := jobFor(name)
	if err != nil {
		return Result{}, err
	}
	if j.k() != 1 || j.vector() {
		return Result{}, fmt.Errorf("engine: Run sums a scalar Func, and %q has ops %s (use Reduce)", name, FormatOps(j.ops))
	}
	if cfg.Spawn, err = spawnFor(cfg, j); err != nil {
		return Result{}, err
	}
	out, shm, err := execute(ctx, cfg, j, cfg.Params)
	if err != nil {
		return Result{}, err
	}
	res := Result{
		Func: name, N: cfg.N, Workers: cfg.Workers, Mode: cfg.Mode, Shm: shm, Spawn: cfg.Spawn,
		Chunk: cfg.Chunk, Publish: publishInterval(cfg), Grain: cfg.Grain, Sched: string(cfg.Sched), Sum: out.total[0].value(), Elapsed: out.elapsed,
		WorkersDetail: out.workers, Failures: out.failures, Rebuilt: out.rebuilt,
		Publishes: out.publishes, LostSum: out.lostSum, Offset: cfg.Offset, Pad: cfg.Pad,
	}
	if j.exact != nil {
		res.SumExact = j.exact(cfg.Params, cfg.Offset, cfg.Offset+cfg.N)
		res.SumRelError = relError(res.Sum, res.SumExact)
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
