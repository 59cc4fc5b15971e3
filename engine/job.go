package engine

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strings"
	"sync"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/opt"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/engine/partial"
)

// Func reduces the terms [lo, hi) of a series or array: their sum, or
// their minimum or maximum, as the Op it is registered with says. Terms
// are numbered from 0 to the n given to Reduce, and a Func is called on
// the pieces of the grid (at most 65536 terms up to 2^26 terms, at most
// 1024 pieces beyond); progress shows and a cancelled call stops at piece
// boundaries. It runs in a worker process, so it must not depend on state
// the parent built after start-up: params are the bytes the call passed
// with WithParams (nil without; read-only, valid during the call), and
// anything larger travels in a shared array (package shared) or a file.
type Func func(params []byte, lo, hi uint64) float64

// job is one named piece of work in the form the workers run it.
type job struct {
	name string
	ops  []fold.Op  // one per element: a Func has one
	f    Func       // a scalar Func, or
	vf   VectorFunc // a vector one
	// params is the call's parameters (bind).
	params []byte
	// cancelled, if set, is polled between calls of f; true abandons the
	// work (in-process runs, which cannot be killed).
	cancelled func() bool
	// exact, if set, is the Func's sum in closed form (WithClosedForm):
	// every result is checked against it.
	exact func(params []byte, lo, hi uint64) float64
	// kernel names the kernel package's assembly loop that f is, for a
	// Func registered with opt.Kernel; "" for any other.
	kernel string
}

// RegisterOption adds to what Register records.
type RegisterOption = opt.RegisterOption

// WithClosedForm gives a scalar Sum Func its sum over [lo, hi) in closed
// form, rounded to float64, for the call's params. Every result of the
// Func (one-shot or on a Pool, in worker processes or in-process) is then
// checked against it: a relative error beyond 1e-15 returns the Result
// with an error wrapping ErrInexact, never a quiet wrong sum.
func WithClosedForm(exact func(params []byte, lo, hi uint64) float64) RegisterOption {
	return func(r *opt.Registration) { r.ClosedForm = exact }
}

// closedFormOf returns the closed form of the Func registered as name,
// or nil when it has none or no Func has that name in this program.
func closedFormOf(name string) func(params []byte, lo, hi uint64) float64 {
	j, _ := lookup(name)
	return j.exact
}

// tolerance is the relative error |got - exact| / exact a Func with a
// closed form may show. The shared accumulators carry their rounding
// errors, so the reduction adds none of its own: what is left is the
// Func's rounding of each piece, and a Func within a few ulps per piece
// stays well inside it (anything beyond is a wrong answer).
const tolerance = 1e-15

// checkExact is the gate of a Func with a closed form: got must be within
// tolerance of the exact sum of the call's terms [Offset, Offset+N).
func (j job) checkExact(cfg config, got float64) error {
	if j.exact == nil {
		return nil
	}
	want := j.exact(cfg.Params, cfg.Offset, cfg.Offset+cfg.N)
	if rel := relError(got, want); !(math.Abs(rel) <= tolerance) {
		return fmt.Errorf("%w: %q over [%d, %d) gave %v, the closed form gives %v: relative error %.2e, tolerance %.0e",
			ErrInexact, j.name, cfg.Offset, cfg.Offset+cfg.N, got, want, rel, tolerance)
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

// bind gives a job its call's parameters.
func (j job) bind(params []byte) job {
	j.params = params
	return j
}

// vector reports whether the job's Func adds into a Vector.
func (j job) vector() bool { return j.vf != nil }

// k is the job's number of elements.
func (j job) k() int { return len(j.ops) }

var registry = struct {
	sync.RWMutex
	jobs map[string]job
}{jobs: map[string]job{}}

// Register makes f available to Reduce and Pools under name, reduced
// under ops: one Op for a Func, one per element (1 to 4096) for a
// VectorFunc. Call it from an init function (or at least before the child
// hook in main): workers are re-executions of the binary, and they find f
// by name. It panics if name is empty, too long or taken, or ops do not
// fit f, as http.Handle does for a bad pattern.
func Register[F ~func([]byte, uint64, uint64) float64 | ~func([]byte, uint64, uint64, *Vector)](name string, f F, ops []partial.Op, opts ...RegisterOption) {
	j := job{name: name, ops: append([]fold.Op(nil), ops...)}
	switch f := any(f).(type) {
	case func([]byte, uint64, uint64) float64:
		j.f = f
	case Func:
		j.f = f
	case func([]byte, uint64, uint64, *Vector):
		j.vf = f
	case VectorFunc:
		j.vf = f
	default: // a type of the caller's own, with one of these underlying types
		if v := reflect.ValueOf(f); v.Type().ConvertibleTo(reflect.TypeFor[Func]()) {
			j.f = v.Convert(reflect.TypeFor[Func]()).Interface().(Func)
		} else {
			j.vf = v.Convert(reflect.TypeFor[VectorFunc]()).Interface().(VectorFunc)
		}
	}
	if j.f == nil && j.vf == nil {
		panic(fmt.Sprintf("engine: Register %q: nil func", name))
	}
	var r opt.Registration
	for _, o := range opts {
		o(&r)
	}
	j.exact, j.kernel = r.ClosedForm, r.Kernel
	register(j)
}

func register(j job) {
	if j.exact != nil && (j.k() != 1 || j.ops[0] != fold.Sum || j.vector()) {
		panic(fmt.Sprintf("engine: Register %q: a closed form is for a scalar Sum Func, not %s", j.name, fold.Format(j.ops)))
	}
	if _, err := segment.CString([]byte(j.name)); err != nil || j.name == "" || len(j.name) > maxJobName {
		panic(fmt.Sprintf("engine: Register: bad name %q (want 1..%d printable ASCII bytes, no spaces)", j.name, maxJobName))
	}
	if j.f != nil && len(j.ops) != 1 {
		panic(fmt.Sprintf("engine: Register %q: a Func has one Op, got %d", j.name, len(j.ops)))
	}
	if len(j.ops) < 1 || len(j.ops) > maxK {
		panic(fmt.Sprintf("engine: Register %q: %d elements, want 1 to %d", j.name, len(j.ops), maxK))
	}
	for _, op := range j.ops {
		if op < fold.Sum || op > fold.Max {
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

// registered lists the names given to Register, sorted.
func registered() []string {
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
		return job{}, &ConfigError{Reason: fmt.Sprintf("no Func registered as %q (have %s)", name, strings.Join(registered(), ", "))}
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
const maxJobName = segment.MaxJobName

func init() {
	opt.Catalog.Funcs = registered
	opt.Catalog.Ops = func(name string) ([]uint8, bool) {
		j, ok := lookup(name)
		ops := make([]uint8, len(j.ops))
		for i, op := range j.ops {
			ops[i] = uint8(op)
		}
		return ops, ok
	}
	opt.Catalog.ClosedForm = closedFormOf
	opt.Catalog.BuildID = buildID
	opt.Catalog.BuildFromSource = buildFromSource
	opt.Catalog.DefaultGrain = defaultGrain
	opt.Catalog.Runnable = func(name string) error {
		_, err := jobFor(name)
		return err
	}
}
