package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/internal/opt"
	"github.com/pishm/pishm/shmem"
)

// Config is one run of the lab, every setting a field: what the command
// line's flags and the benchmark tables fill in. The zero value of every
// field but N means its default. Run turns it into engine's options
// (Options), so a Config runs exactly as a Reduce given those options.
type Config struct {
	N       uint64 // terms, 1..1e15
	Offset  uint64 // the terms are [Offset, Offset+N) (engine.WithOffset)
	Workers int    // processes (goroutines in the goroutines mode); 0: one per CPU
	Mode    Mode
	// Shm is the segment's backing: shmem.Posix (default) or shmem.File
	// at Path; Force lets the file replace an existing regular file.
	Shm   shmem.Backing
	Path  string
	Force bool
	// Publish is the static schedule's publish interval (WithPublish).
	Publish uint64
	// Grain is the terms per piece of the grid (engine.WithGrain).
	Grain uint64
	// Sched is "static" (default: lab.Run is one-shot) or "dynamic"; Chunk the dynamic
	// schedule's terms per chunk (engine.WithDynamic).
	Sched Schedule
	Chunk uint64
	// RedisURL is the Redis mode's server (WithRedisURL), passed only
	// with Mode Redis: a flag's default may set it for every mode.
	RedisURL string
	Timeout  time.Duration // 0: none
	// Retries after a worker dies: 0 means the default (1), negative
	// none (engine.WithRetries).
	Retries int
	// Pad gives each worker a lane Pad bytes from the next (WithPad).
	Pad int
	// Progress, if set, is called about every 100 ms (engine.WithProgress).
	Progress func(engine.Progress)
	// Stall: 0 means the default (2 minutes), negative never
	// (engine.WithStall).
	Stall        time.Duration
	WorkerBinary string // WithWorkerBinary
	Params       []byte // engine.WithParams
	AllowRacy    bool   // AllowRacy
	CallerShare  bool   // engine.WithCallerShare
	Spawn        string // WithSpawn: SpawnAuto (""), SpawnExec or SpawnFork
}

// Schedule is Config.Sched.
type Schedule string

// The schedules.
const (
	Static  Schedule = "static"
	Dynamic Schedule = "dynamic"
)

// Options are c's settings as engine's options (all but N).
func (c Config) Options() []engine.PoolOption {
	opts := []engine.PoolOption{
		engine.WithWorkers(c.Workers), WithMode(c.Mode), engine.WithOffset(c.Offset), engine.WithGrain(c.Grain),
		engine.WithParams(c.Params), engine.WithProgress(c.Progress), engine.WithCallerShare(c.CallerShare),
		lab(func(l *opt.Lab) {
			l.Shm, l.Path, l.Force, l.Publish, l.Timeout = c.Shm, c.Path, c.Force, c.Publish, c.Timeout
			if c.Mode == Redis {
				l.RedisURL = c.RedisURL
			}
			l.Pad, l.WorkerBinary, l.AllowRacy, l.Spawn, l.Sched, l.Chunk = c.Pad, c.WorkerBinary, c.AllowRacy, c.Spawn, string(c.Sched), c.Chunk
		}),
	}
	switch {
	case c.Retries < 0:
		opts = append(opts, engine.WithRetries(0))
	case c.Retries > 0:
		opts = append(opts, engine.WithRetries(c.Retries))
	}
	switch {
	case c.Stall < 0:
		opts = append(opts, engine.WithStall(0))
	case c.Stall > 0:
		opts = append(opts, engine.WithStall(c.Stall))
	}
	return opts
}

// Validate reports what Run(ctx, name, c) would refuse before it starts
// anything, an *engine.ConfigError naming the field, or nil. With name ""
// it checks c alone, for no Func in particular.
func (c Config) Validate(name string) error {
	_, err := engine.Reduce(context.Background(), name, c.N, append(c.Options(), lab(func(l *opt.Lab) { l.DryRun = true }))...)
	return err
}

// Result is what one Run computed and how, as the command line's -json
// prints it.
type Result struct {
	Func    string `json:"func"` // the name the Func was registered under ("pi/avx512")
	N       uint64 `json:"n"`
	Workers int    `json:"workers"`
	Mode    Mode   `json:"mode"`
	Shm     string `json:"shm"`
	Sched   string `json:"sched"`
	// Spawn is how the workers started: "exec" or "fork", or "" in the
	// goroutines mode.
	Spawn string `json:"spawn,omitempty"`
	// Grain is the terms per piece of the grid the Func was called on:
	// with the Func and N, it fixes the result's bits.
	Grain uint64 `json:"grain"`
	// Publish is, under the static schedule, the most terms a worker
	// summed between two publishes (at most its share; a message-passing
	// worker sends once per share).
	Publish uint64 `json:"publish,omitempty"`
	// Chunk is, under the dynamic schedule, the terms per chunk.
	Chunk uint64 `json:"chunk,omitempty"`

	Sum float64 `json:"sum"`
	// SumExact is the Func's closed form over the terms, and SumRelError
	// (Sum - SumExact) / SumExact; both 0 for a Func without one.
	SumExact    float64 `json:"sum_exact"`
	SumRelError float64 `json:"sum_rel_error"`

	// Elapsed runs from the start barrier's release to the moment the
	// last worker marked the call done (before the workers exit): the
	// work, without process start-up or tear-down.
	Elapsed     time.Duration `json:"elapsed_ns"`
	Wall        time.Duration `json:"wall_ns"` // the whole Run, set-up and tear-down included
	TermsPerSec float64       `json:"terms_per_sec"`

	WorkersDetail []WorkerResult `json:"workers_detail"`
	Failures      []Failure      `json:"failures,omitempty"`
	Rebuilt       bool           `json:"rebuilt,omitempty"`
	Publishes     uint64         `json:"publishes"`
	LostSum       float64        `json:"lost_sum,omitempty"`
	// Offset is Config.Offset: the terms were [Offset, Offset+N).
	Offset uint64 `json:"offset,omitempty"`
	Pad    int    `json:"pad,omitempty"`
}

// WorkerResult is one worker's share of a Run.
type WorkerResult struct {
	Index   int           `json:"index"`
	Lo      uint64        `json:"lo"` // its range, static schedule (0, 0 when dynamic)
	Hi      uint64        `json:"hi"`
	Terms   uint64        `json:"terms"` // how many terms it summed
	Elapsed time.Duration `json:"elapsed_ns"`
	Partial float64       `json:"partial"` // its sum, rounded
}

// Failure is one worker death that a Run survived (engine.Result.Failures).
type Failure struct {
	Worker  int    `json:"worker"`
	Attempt int    `json:"attempt"` // retries of the range before this process: 0 for the first try
	Pid     int    `json:"pid"`
	How     string `json:"how"`
	When    string `json:"when"`
	Action  string `json:"action"` // "retried", "replaced" or "kept its published result"
}

// Run sums the scalar Func registered as name over [Offset, Offset+N) as
// cfg says: engine.Reduce with cfg.Options(). A Func with a closed form
// is checked against it: a wrong sum is an error wrapping
// engine.ErrInexact, returned with the Result. Otherwise, on error, the
// Result is zero.
func Run(ctx context.Context, name string, cfg Config) (Result, error) {
	if ops, ok := catalog.Ops(name); ok && len(ops) != 1 {
		return Result{}, fmt.Errorf("lab: Run sums a scalar Func, and %q has ops %s (use engine.Reduce)", name, catalog.FormatOps(ops))
	}
	var detail []opt.WorkerResult
	r, err := engine.Reduce(ctx, name, cfg.N, append(cfg.Options(), lab(func(l *opt.Lab) { l.Detail = &detail }))...)
	if r.Func == "" {
		return Result{}, err
	}
	res := Result{
		Func: r.Func, N: r.N, Workers: r.Workers, Mode: Mode(r.Mode), Shm: r.Shm, Sched: r.Sched, Spawn: r.Spawn,
		Grain: r.Grain, Publish: r.Publish, Chunk: r.Chunk, Sum: r.Value, SumExact: r.ClosedForm, SumRelError: r.RelError,
		Elapsed: r.Elapsed, Wall: r.Wall, Rebuilt: r.Rebuilt,
		Publishes: r.Publishes, LostSum: r.LostSum, Offset: r.Offset, Pad: cfg.Pad,
	}
	for _, w := range detail {
		res.WorkersDetail = append(res.WorkersDetail, WorkerResult(w))
	}
	for _, f := range r.Failures {
		res.Failures = append(res.Failures, Failure{Worker: f.Worker, Attempt: f.Attempt, Pid: f.Pid, How: f.How, When: f.When, Action: f.Action})
	}
	if res.Elapsed > 0 {
		res.TermsPerSec = float64(res.N) / res.Elapsed.Seconds()
	}
	return res, err
}
