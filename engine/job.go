package engine

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/pishm/pishm/internal/superacc"
)

// Op says how partial results combine.
type Op uint8

// The operations a reduction can use.
const (
	// Sum adds the pieces' values exactly and rounds once: the correctly
	// rounded sum, whatever the order (IEEE for ±Inf and NaN: +Inf with
	// -Inf gives NaN).
	Sum Op = iota + 1
	// Min keeps the smallest piece value: NaN if any is NaN, and -0 is
	// below +0, so that the result does not depend on the order.
	Min
	// Max keeps the largest piece value, under the same rules.
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

// pick is a Min or Max reduction's choice of x and v, the same whatever
// their order: NaN wins over any number, and -0 is below +0.
func (op Op) pick(x, v float64) float64 {
	if op == Min {
		return superacc.MinOf(x, v)
	}
	return superacc.MaxOf(x, v)
}

// Func reduces the terms [lo, hi) of a series or array: their sum, or
// their minimum or maximum, as the Op it is registered with says. Terms
// are numbered from 0 to the n given to Reduce, and a Func is called on
// the pieces of the grid (DefaultGrain: at most 65536 terms up to 2^26
// terms, at most 1024 pieces beyond); progress shows and a cancelled call
// stops at piece boundaries. It runs in a worker process, so it must not
// depend on state the parent built after start-up: pass a call's inputs
// with WithParams (see ParamsFunc), or read them from files.
type Func func(lo, hi uint64) float64

// ParamsFunc is a Func that also receives the bytes the caller passed with
// WithParams: read-only, valid during the call.
type ParamsFunc func(params []byte, lo, hi uint64) float64

// job is one named piece of work in the form the workers run it.
type job struct {
	name string
	ops  []Op // one per element: a Func has one
	f    func(lo, hi uint64) float64
	pf   ParamsFunc       // set instead of f for RegisterParams
	vf   VectorFunc       // set instead of f for RegisterVector
	vpf  VectorParamsFunc // set instead of f for RegisterVectorParams
	// params is the call's parameters for pf or vpf (bind).
	params []byte
	// cancelled, if set, is polled between calls of f; true abandons the
	// work (in-process runs, which cannot be killed).
	cancelled func() bool
	// exact, if set, is the Func's sum in closed form (WithClosedForm):
	// every result is checked against it.
	exact ClosedForm
	// kernel names the kernel package's loop that f is, for the pi
	// series' Funcs (withKernel); "" for any other.
	kernel string
}

// ClosedForm is the exact sum of a scalar Sum Func over the terms
// [lo, hi), rounded to float64, for the call's params (nil for a Func
// registered without them).
type ClosedForm func(params []byte, lo, hi uint64) float64

// RegisterOption adds to what Register and RegisterParams record.
type RegisterOption func(*job)

// WithClosedForm gives a scalar Sum Func its sum in closed form. Every
// result of the Func (Reduce, a Pool, in worker processes or in-process)
// is then checked against it: a relative error beyond Tolerance returns
// the Reduction (or Result) with an error wrapping ErrInexact, never a
// quiet wrong sum. The pi series is registered with its closed form the
// same way.
func WithClosedForm(exact ClosedForm) RegisterOption {
	return func(j *job) { j.exact = exact }
}

// ClosedFormOf returns the closed form of the Func registered as name
// (WithClosedForm), or nil when it has none or no Func has that name in
// this program.
func ClosedFormOf(name string) ClosedForm {
	j, _ := lookup(name)
	return j.exact
}

// checkExact is the gate of a Func with a closed form: got must be within
// Tolerance of the exact sum of the call's terms [Offset, Offset+N).
func (j job) checkExact(cfg Config, got float64) error {
	if j.exact == nil {
		return nil
	}
	want := j.exact(cfg.Params, cfg.Offset, cfg.Offset+cfg.N)
	if rel := relError(got, want); !(math.Abs(rel) <= Tolerance) {
		return fmt.Errorf("%w: %q over [%d, %d) gave %v, the closed form gives %v: relative error %.2e, tolerance %.0e",
			ErrInexact, j.name, cfg.Offset, cfg.Offset+cfg.N, got, want, rel, Tolerance)
	}
	return nil
}

// relError is (got − want) / want, and 0 when the two are equal (also
// both 0).
func relError(got, want float64) float64 {
	if got == want {
		return 0
	}
	return (got - want) / want
}

// bind gives a ParamsFunc job its call's parameters.
func (j job) bind(params []byte) job {
	j.params = params
	return j
}

// vector reports whether the job's Func adds into a Vector.
func (j job) vector() bool { return j.vf != nil || j.vpf != nil }

// k is the job's number of elements.
func (j job) k() int { return len(j.ops) }

var registry = struct {
	sync.RWMutex
	jobs map[string]job
}{jobs: map[string]job{}}

// Register makes f available to Reduce under name. Call it from an init
// function (or at least before the child hook in main): workers are
// re-executions of the binary, and they find f by name. It panics if name
// is empty, too long, taken, or op is unknown, as http.Handle does for a
// bad pattern.
func Register(name string, op Op, f Func, opts ...RegisterOption) {
	if f == nil {
		panic(fmt.Sprintf("engine: Register %q: nil func", name))
	}
	register(job{name: name, ops: []Op{op}, f: f}, opts)
}

// RegisterParams is Register for a Func that reads its call's parameters
// (WithParams).
func RegisterParams(name string, op Op, f ParamsFunc, opts ...RegisterOption) {
	if f == nil {
		panic(fmt.Sprintf("engine: RegisterParams %q: nil func", name))
	}
	register(job{name: name, ops: []Op{op}, pf: f}, opts)
}

func register(j job, opts []RegisterOption) {
	for _, o := range opts {
		o(&j)
	}
	if j.exact != nil && (j.k() != 1 || j.ops[0] != Sum) {
		panic(fmt.Sprintf("engine: Register %q: a closed form is for a scalar Sum, not %s", j.name, FormatOps(j.ops)))
	}
	if _, err := cString([]byte(j.name)); err != nil || j.name == "" || len(j.name) > maxJobName {
		panic(fmt.Sprintf("engine: Register: bad name %q (want 1..%d printable ASCII bytes, no spaces)", j.name, maxJobName))
	}
	for _, op := range j.ops {
		if op < Sum || op > Max {
			panic(fmt.Sprintf("engine: Register %q: bad op %v", j.name, op))
		}
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.jobs[j.name]; dup {
		panic(fmt.Sprintf("engine: Register: %q registered twice", j.name))
	}
	registry.jobs[j.name] = j
}

// maxRegisteredK is the most elements of any registered Func (1 if none).
func maxRegisteredK() int {
	registry.RLock()
	defer registry.RUnlock()
	k := 1
	for _, j := range registry.jobs {
		k = max(k, j.k())
	}
	return k
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

// jobFor finds the Func registered as name, and checks that this CPU
// can run it.
func jobFor(name string) (job, error) {
	j, ok := lookup(name)
	if !ok {
		return job{}, fmt.Errorf("engine: no Func registered as %q (have %s)", name, strings.Join(Registered(), ", "))
	}
	return j, j.runnable()
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
	Name  string  `json:"name"`
	Op    string  `json:"op"`
	N     uint64  `json:"n"`
	Value float64 `json:"value"`
	// Values is each element's result, rounded once, for a vector Func
	// (RegisterVector): k values, Values[0] == Value. For a scalar Func
	// it holds Value alone.
	Values  []float64 `json:"values,omitempty"`
	Workers int       `json:"workers"`
	Mode    Mode      `json:"mode"`
	Sched   Schedule  `json:"sched"`
	// Grain is the terms per piece of the grid the Func was called on:
	// with the Func, N and the params it fixes the result's bits.
	Grain   uint64        `json:"grain"`
	Elapsed time.Duration `json:"elapsed_ns"`
	Wall    time.Duration `json:"wall_ns"`

	WorkersDetail []WorkerResult `json:"workers_detail"`
	Failures      []Failure      `json:"failures,omitempty"`
	Rebuilt       bool           `json:"rebuilt,omitempty"`
	Publishes     uint64         `json:"publishes"`
	// LostSum is what the racy mode lost (see Result.LostSum).
	LostSum float64 `json:"lost_sum,omitempty"`

	folds folds // the exact results (Exact), memory reused by ReduceInto
}

// Reduce runs the Func registered as name ("pi" for the built-in series)
// over n terms, [0, n) or [lo, lo+n) with WithOffset(lo), on worker
// processes started for this call (or
// goroutines, in the Goroutines mode), publishing partials by the chosen
// strategy, and combines them with its Op. Like Run, it leaves nothing
// behind, whatever happens. A program that reduces many times should use a
// Pool, whose workers start once. A Func registered WithClosedForm is
// checked against it: a wrong sum returns the Reduction with an error
// wrapping ErrInexact.
func Reduce(ctx context.Context, name string, n uint64, opts ...Option) (Reduction, error) {
	if err := notAWorker(); err != nil {
		return Reduction{}, err
	}
	wallStart := time.Now()
	st := settingsOf(opts)
	st.N = n
	if err := st.refusePoolOnly("Reduce"); err != nil {
		return Reduction{}, err
	}
	cfg, j, err := resolve(st, name)
	if err != nil {
		return Reduction{}, err
	}
	return reduceOnce(ctx, name, j, cfg, wallStart)
}

// resolve fills st's defaults and finds the job name stands for.
func resolve(st settings, name string) (Config, job, error) {
	cfg, err := st.Config.withDefaults()
	if err != nil {
		return cfg, job{}, err
	}
	j, err := jobFor(name)
	if err == nil {
		err = cfg.execOnly()
	}
	if err == nil && j.k() > 1 && cfg.Mode == Racy {
		err = fmt.Errorf("engine: mode racy loses scalar adds on purpose, and %q has %d elements (use slots, cas, mutex, goroutines or a transport)", name, j.k())
	}
	return cfg, j, err
}

// reduceOnce runs one call of j on workers started for it, or on
// goroutines in the Goroutines mode.
func reduceOnce(ctx context.Context, name string, j job, cfg Config, wallStart time.Time) (Reduction, error) {
	out, _, err := execute(ctx, cfg, j, cfg.Params)
	if err != nil {
		return Reduction{}, err
	}
	r := reductionOf(name, j, cfg, out, time.Since(wallStart), nil)
	return r, j.checkExact(cfg, r.Value)
}

func reductionOf(name string, j job, cfg Config, out callResult, wall time.Duration, values []float64) Reduction {
	values = out.total.values(values[:0])
	return Reduction{
		Name: name, Op: FormatOps(j.ops), N: cfg.N, Value: values[0], Values: values, Workers: cfg.Workers,
		Mode: cfg.Mode, Sched: cfg.Sched, Grain: cfg.Grain, Elapsed: out.elapsed, Wall: wall,
		WorkersDetail: out.workers, Failures: out.failures, Rebuilt: out.rebuilt,
		Publishes: out.publishes, LostSum: out.lostSum, folds: out.total,
	}
}

// FormatOps names ops as Reduction.Op does: "sum" for a scalar Sum,
// "sum,sum,min" for a vector. ParseOps reads it back.
func FormatOps(ops []Op) string {
	if len(ops) == 1 {
		return ops[0].String()
	}
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = op.String()
	}
	return strings.Join(s, ",")
}
