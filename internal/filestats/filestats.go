// Package filestats runs the statistics of package stats over the elements
// of a file on the engine: pass 1 and pass 2 are k-wide reductions whose
// Funcs read their pieces of the file themselves. Its init registers them,
// so every binary that may serve as a worker of pishm stats (pishm and
// pishm-worker) must link it.
package filestats

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/internal/floatfile"
	"github.com/pishm/pishm/internal/stats"
)

// The registered names. Pass 2 has a fixed number of elements per name, so
// it is registered once per tier of bins and a call uses the smallest tier
// that holds its histogram (the bins beyond stay zero).
const (
	pass1Name   = "stats.pass1"
	pass2Prefix = "stats.pass2."
)

var binTiers = []int{16, 128, 1024, stats.MaxBins}

func pass2Name(bins int) string {
	for _, t := range binTiers {
		if bins <= t {
			return fmt.Sprintf("%s%d", pass2Prefix, t)
		}
	}
	panic(fmt.Sprintf("filestats: %d bins", bins))
}

func init() {
	engine.RegisterVectorParams(pass1Name, engineOps(stats.Pass1Ops()), pass1)
	for _, t := range binTiers {
		engine.RegisterVectorParams(pass2Name(t), engineOps(stats.Pass2Ops(t)), pass2)
	}
}

func engineOps(ops []stats.Op) []engine.Op {
	out := make([]engine.Op, len(ops))
	for i, op := range ops {
		switch op {
		case stats.Sum:
			out[i] = engine.Sum
		case stats.Min:
			out[i] = engine.Min
		case stats.Max:
			out[i] = engine.Max
		}
	}
	return out
}

// params is what a call hands its Funcs: the file, where its elements
// are, and for pass 2 the plan.
type params struct {
	Path   string           `json:"path"`
	Layout floatfile.Layout `json:"layout"`
	Plan   *stats.Plan      `json:"plan,omitempty"`
}

// state is what a worker keeps for one call's params: the open file and
// the decoded plan. A pool worker serves both passes and keeps both.
type state struct {
	r    *floatfile.Reader
	plan *stats.Plan
}

var states = struct {
	sync.Mutex
	m map[string]*state
}{m: map[string]*state{}}

// stateFor opens (once per worker) what params names. It panics on
// failure: the worker then dies with the message and the parent reports
// it. The command checks the file before any worker starts, so this is a
// file that changed under it.
func stateFor(raw []byte) *state {
	states.Lock()
	defer states.Unlock()
	if s, ok := states.m[string(raw)]; ok {
		return s
	}
	var p params
	if err := json.Unmarshal(raw, &p); err != nil {
		panic(fmt.Sprintf("filestats: bad params: %v", err))
	}
	if p.Plan != nil {
		if err := p.Plan.Prepare(); err != nil {
			panic(err)
		}
	}
	r, err := floatfile.Open(p.Path, p.Layout)
	if err != nil {
		panic(err)
	}
	s := &state{r: r, plan: p.Plan}
	states.m[string(raw)] = s
	return s
}

// release closes and forgets what stateFor opened for these params in
// this process: Compute calls it when it is done, for the pieces that ran
// in the calling process (the goroutines mode; a pool's workers exit with
// the pool).
func release(raws ...[]byte) {
	states.Lock()
	defer states.Unlock()
	for _, raw := range raws {
		if s, ok := states.m[string(raw)]; ok {
			s.r.Close()
			delete(states.m, string(raw))
		}
	}
}

// buffers are one piece's working memory, reused across pieces.
type buffers struct {
	f64 []float64
	f32 []float32
	sc  stats.Scratch
}

var bufPool = sync.Pool{New: func() any { return new(buffers) }}

// read reads the piece [lo, hi) into b and calls f64 or f32 on it.
func read(s *state, lo, hi uint64, b *buffers, f64 func([]float64), f32 func([]float32)) {
	n := int(hi - lo)
	if s.r.Layout().Elem == floatfile.Float64 {
		if cap(b.f64) < n {
			b.f64 = make([]float64, n)
		}
		xs := b.f64[:n]
		if err := s.r.ReadF64(lo, xs); err != nil {
			panic(err)
		}
		f64(xs)
		return
	}
	if cap(b.f32) < n {
		b.f32 = make([]float32, n)
	}
	xs := b.f32[:n]
	if err := s.r.ReadF32(lo, xs); err != nil {
		panic(err)
	}
	f32(xs)
}

func pass1(raw []byte, lo, hi uint64, v *engine.Vector) {
	s := stateFor(raw)
	b := bufPool.Get().(*buffers)
	defer bufPool.Put(b)
	read(s, lo, hi, b,
		func(xs []float64) { stats.Pass1F64(xs, v, &b.sc) },
		func(xs []float32) { stats.Pass1F32(xs, v, &b.sc) })
}

func pass2(raw []byte, lo, hi uint64, v *engine.Vector) {
	s := stateFor(raw)
	if s.plan == nil {
		panic("filestats: pass 2 without a plan")
	}
	b := bufPool.Get().(*buffers)
	defer bufPool.Put(b)
	read(s, lo, hi, b,
		func(xs []float64) { s.plan.Pass2F64(xs, v, &b.sc) },
		func(xs []float32) { s.plan.Pass2F32(xs, v, &b.sc) })
}

// Options say how to run.
type Options struct {
	Workers int
	Mode    engine.Mode
	Bins    int
	Range   *[2]float64 // the histogram's; nil: the finite values' [min, max]
	// WorkerBinary is engine.Config.WorkerBinary: a lean worker that links
	// this package, or "" for the running binary.
	WorkerBinary string
	// Progress, if set, is called as engine.Config.Progress is, during
	// each pass; pass is 1 or 2.
	Progress func(pass int, p engine.Progress)
}

// Compute runs both passes over the elements of path that l describes.
func Compute(ctx context.Context, path string, l floatfile.Layout, opt Options) (stats.Result, error) {
	abs, err := filepath.Abs(path) // the workers may not share our directory
	if err != nil {
		return stats.Result{}, err
	}
	var pass atomic.Int32 // the engine may call Progress from a goroutine of its own
	pass.Store(1)
	cfg := engine.Config{Workers: opt.Workers, Mode: opt.Mode, WorkerBinary: opt.WorkerBinary}
	if opt.Progress != nil {
		cfg.Progress = func(p engine.Progress) { opt.Progress(int(pass.Load()), p) }
	}
	reduce := func(name string, p []byte) (engine.Reduction, error) {
		return engine.Reduce(ctx, name, l.Count, engine.WithConfig(cfg), engine.WithParams(p))
	}
	if opt.Mode != engine.Goroutines && !opt.Mode.IsTransport() {
		pool, err := engine.NewPool(ctx, engine.WithConfig(cfg), engine.WithInProcessBelow(0))
		if err != nil {
			return stats.Result{}, err
		}
		defer pool.Close()
		reduce = func(name string, p []byte) (engine.Reduction, error) {
			return pool.Reduce(ctx, name, l.Count, engine.WithParams(p))
		}
	}
	p1, err := json.Marshal(params{Path: abs, Layout: l})
	if err != nil {
		return stats.Result{}, err
	}
	defer release(p1)
	r1, err := reduce(pass1Name, p1)
	if err != nil {
		return stats.Result{}, err
	}
	v := r1.Values
	nan := uint64(v[stats.P1NaN])
	tot := stats.Totals{Count: l.Count - nan, NaN: nan, Sum: r1.Exact(stats.P1Sum),
		Min: v[stats.P1Min], Max: v[stats.P1Max], FiniteMin: v[stats.P1FiniteMin], FiniteMax: v[stats.P1FiniteMax]}
	plan, err := stats.NewPlan(tot, opt.Bins, opt.Range)
	if err != nil {
		return stats.Result{}, err
	}
	p2, err := json.Marshal(params{Path: abs, Layout: l, Plan: &plan})
	if err != nil {
		return stats.Result{}, err
	}
	defer release(p2)
	pass.Store(2)
	r2, err := reduce(pass2Name(plan.Bins), p2)
	if err != nil {
		return stats.Result{}, err
	}
	var sumSq = r2.Exact(stats.P2SumSq)
	if !plan.Deviations {
		sumSq = nil
	}
	w := r2.Values
	return stats.Finish(tot, plan, sumSq, w[stats.P2Bins:stats.P2Bins+plan.Bins], w[stats.P2Below], w[stats.P2Above]), nil
}
