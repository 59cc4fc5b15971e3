package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"
)

// Op says how partial results combine.
type Op uint8

// The operations a reduction can use.
const (
	// Sum adds the partials, compensated (double-double), in worker order.
	Sum Op = iota + 1
	// Min keeps the smallest partial (NaN-free inputs assumed).
	Min
	// Max keeps the largest partial.
	Max
)

func (op Op) String() string {
	switch op {
	case Sum:
		return "sum"
	case Min:
		return "min"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Op(%d)", uint8(op))
}

// identity is the value of an empty reduction.
func (op Op) identity() float64 {
	switch op {
	case Min:
		return math.Inf(1)
	case Max:
		return math.Inf(-1)
	}
	return 0
}

// better reports whether x should replace the running value v of a Min or
// Max reduction.
func (op Op) better(x, v float64) bool {
	if op == Min {
		return x < v
	}
	return x > v
}

// Func reduces the terms [lo, hi) of a series or array: their sum, or
// their minimum or maximum, as the Op it is registered with says. It runs
// in a child process, so it must not depend on state the parent built
// after start-up: read inputs from files or the environment instead.
type Func func(lo, hi int64) float64

// job is one named piece of work in the form the workers run it.
type job struct {
	name string
	op   Op
	f    func(lo, hi uint64) float64
	// cancelled, if set, is polled between calls of f; true abandons the
	// work (in-process runs, which cannot be killed).
	cancelled func() bool
}

// piJob is the built-in workload; its Func is the chosen CPU kernel.
const piJob = "pi"

var registry = struct {
	sync.RWMutex
	jobs map[string]job
}{jobs: map[string]job{}}

// Register makes f available to Reduce under name. Call it from an init
// function (or at least before the child hook in main): workers are
// re-executions of the binary, and they find f by name. It panics if name
// is empty, too long, taken, or op is unknown, as http.Handle does for a
// bad pattern.
func Register(name string, op Op, f Func) {
	if name == "" || len(name) > maxJobName || strings.ContainsAny(name, "\x00 ") || name == piJob {
		panic(fmt.Sprintf("engine: Register: bad name %q", name))
	}
	if op < Sum || op > Max || f == nil {
		panic(fmt.Sprintf("engine: Register %q: bad op %v or nil func", name, op))
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.jobs[name]; dup {
		panic(fmt.Sprintf("engine: Register: %q registered twice", name))
	}
	registry.jobs[name] = job{name: name, op: op, f: func(lo, hi uint64) float64 { return f(int64(lo), int64(hi)) }}
}

// Registered lists the names given to Register, sorted.
func Registered() []string {
	registry.RLock()
	defer registry.RUnlock()
	var names []string
	for n := range registry.jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func lookup(name string) (job, bool) {
	registry.RLock()
	defer registry.RUnlock()
	j, ok := registry.jobs[name]
	return j, ok
}

// maxJobName bounds a registered name (it travels in the segment header).
const maxJobName = 40

// Reduction is the outcome of Reduce.
type Reduction struct {
	Name    string        `json:"name"`
	Op      string        `json:"op"`
	N       uint64        `json:"n"`
	Value   float64       `json:"value"`
	Workers int           `json:"workers"`
	Mode    Mode          `json:"mode"`
	Sched   Schedule      `json:"sched"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Wall    time.Duration `json:"wall_ns"`

	WorkersDetail []WorkerResult `json:"workers_detail"`
	Failures      []Failure      `json:"failures,omitempty"`
	Rebuilt       bool           `json:"rebuilt,omitempty"`
}

// Option adjusts a Reduce call's Config.
type Option func(*Config)

// WithWorkers sets the number of worker processes.
func WithWorkers(n int) Option { return func(c *Config) { c.Workers = n } }

// WithMode sets the publishing strategy.
func WithMode(m Mode) Option { return func(c *Config) { c.Mode = m } }

// WithChunk sets how many terms a worker takes between publishes.
func WithChunk(k uint64) Option { return func(c *Config) { c.Chunk = k } }

// WithSchedule picks static ranges or dynamic chunks.
func WithSchedule(s Schedule) Option { return func(c *Config) { c.Sched = s } }

// WithTimeout bounds the run.
func WithTimeout(d time.Duration) Option { return func(c *Config) { c.Timeout = d } }

// WithConfig replaces every setting but N with cfg's.
func WithConfig(cfg Config) Option { return func(c *Config) { n := c.N; *c = cfg; c.N = n } }

// Reduce runs the Func registered as name over the terms [0, n) on child
// processes (or goroutines, in the Goroutines mode), publishing partials by
// the chosen strategy, and combines them with its Op. Like Run, it leaves
// nothing behind, whatever happens.
func Reduce(ctx context.Context, name string, n uint64, opts ...Option) (Reduction, error) {
	wallStart := time.Now()
	j, ok := lookup(name)
	if !ok {
		return Reduction{}, fmt.Errorf("engine: no Func registered as %q (have %s)", name, strings.Join(Registered(), ", "))
	}
	cfg := Config{N: n}
	for _, o := range opts {
		o(&cfg)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Reduction{}, err
	}
	out, err := execute(ctx, cfg, j)
	if err != nil {
		return Reduction{}, err
	}
	return Reduction{
		Name: name, Op: j.op.String(), N: cfg.N, Value: out.value, Workers: cfg.Workers,
		Mode: cfg.Mode, Sched: cfg.Sched, Elapsed: out.elapsed, Wall: time.Since(wallStart),
		WorkersDetail: out.workers, Failures: out.failures, Rebuilt: out.rebuilt,
	}, nil
}
