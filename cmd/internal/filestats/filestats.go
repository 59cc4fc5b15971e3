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
	"strconv"

	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/stats"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// The registered names. Pass 2 has a fixed number of elements per name, so
// it is registered once per tier of bins and a call uses the smallest tier
// that holds its histogram (the bins beyond stay zero).
const (
	pass1Name   = "stats.pass1"
	pass2Prefix = "stats.pass2."
	oncePrefix  = "stats.once." // both passes over each piece, for a given range
)

// The tiers of bins each pass is registered for; a one-pass reduction
// carries pass 1's elements too, so its widest tier holds fewer bins.
var (
	pass2Tiers = []int{16, 128, 1024, stats.MaxBins}
	onceTiers  = []int{16, 128, 1024, maxOnceBins}
)

func pass2Name(bins int) string { return pass2Prefix + strconv.Itoa(tier(pass2Tiers, bins)) }

func onceName(bins int) string { return oncePrefix + strconv.Itoa(tier(onceTiers, bins)) }

// tier is the smallest of tiers that holds bins.
func tier(tiers []int, bins int) int {
	for _, t := range tiers {
		if bins <= t {
			return t
		}
	}
	panic(fmt.Sprintf("filestats: %d bins", bins))
}

func init() {
	engine.Register(pass1Name, pass1, engineOps(stats.Pass1Ops()))
	for _, t := range pass2Tiers {
		engine.Register(pass2Name(t), pass2, engineOps(stats.Pass2Ops(t)))
	}
	for _, t := range onceTiers {
		engine.Register(onceName(t), once, engineOps(stats.OnePassOps(t)))
	}
}

// maxK is the widest reduction Compute makes for opt: the Pool's segment
// is sized for it (engine.WithMaxK), not for the widest Func registered
// (4096 elements, megabytes of accumulators per worker) whatever the
// histogram's bins.
func maxK(opt Options) int {
	k := len(stats.Pass2Ops(tier(pass2Tiers, opt.Bins)))
	if opt.Range != nil && opt.Bins <= maxOnceBins {
		k = max(k, len(stats.OnePassOps(tier(onceTiers, opt.Bins))))
	}
	return max(k, len(stats.Pass1Ops()))
}

// maxOnceBins is the most bins a one-pass run holds: pass 1's elements
// and pass 2's must fit in one reduction.
const maxOnceBins = lab.MaxK - stats.OnePassOffset - stats.P2Bins

func engineOps(ops []stats.Op) []partial.Op {
	out := make([]partial.Op, len(ops))
	for i, op := range ops {
		switch op {
		case stats.Sum:
			out[i] = partial.Sum
		case stats.Min:
			out[i] = partial.Min
		case stats.Max:
			out[i] = partial.Max
		}
	}
	return out
}

// params is what a call hands its Funcs: the file, where its elements
// are, and for pass 2 the plan.
type params struct {
	Path   string           `json:"path"`
	Layout floatfile.Layout `json:"layout"`
	Mapped bool             `json:"mapped,omitempty"` // read in place from a mapping, not with pread
	Plan   *stats.Plan      `json:"plan,omitempty"`
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

// once runs both passes over each piece, read once: a given range and a
// sampled shift in the plan (stats.ShiftPlan).
func once(raw []byte, lo, hi uint64, v *engine.Vector) {
	s := stateFor(raw)
	if s.plan == nil {
		panic("filestats: one pass without a plan")
	}
	b := bufPool.Get().(*buffers)
	defer bufPool.Put(b)
	v2 := stats.Offset(v, stats.OnePassOffset)
	read(s, lo, hi, b,
		func(xs []float64) {
			stats.Pass1F64(xs, v, &b.sc)
			s.plan.Pass2F64(xs, v2, &b.sc)
		},
		func(xs []float32) {
			stats.Pass1F32(xs, v, &b.sc)
			s.plan.Pass2F32(xs, v2, &b.sc)
		})
}

// ReadMethod is how the workers read the file.
type ReadMethod int

const (
	// ReadProbe maps the file where floatfile.MapPays finds that it pays
	// on this machine, else reads it with pread.
	ReadProbe ReadMethod = iota
	ReadMmap             // in place, from a shared read-only mapping
	ReadPread            // copied out of the page cache with pread
)

// maps says whether the workers read mapped under m: pays, the probe,
// runs only for ReadProbe.
func (m ReadMethod) maps(pays func() bool) bool {
	return m == ReadMmap || m == ReadProbe && pays()
}

// ReadMethods names the methods as a flag gives them.
var ReadMethods = map[string]ReadMethod{"auto": ReadProbe, "mmap": ReadMmap, "pread": ReadPread}

// Options say how to run.
type Options struct {
	Workers int
	Mode    lab.Mode
	Bins    int
	Range   *[2]float64 // the histogram's; nil: the finite values' [min, max]
	Read    ReadMethod  // how the workers read the file (text too); ReadProbe, the zero value, measures
	// WorkerBinary is lab.Config.WorkerBinary: a lean worker that links
	// this package, or "" for the running binary.
	WorkerBinary string
	// Progress, if set, is called as lab.Config.Progress is, during
	// each pass; pass is 1 or 2.
	Progress func(pass int, p engine.Progress)
}

// Compute runs both passes over the elements of path that l describes:
// one after the other, or, with a Range, both over each piece as it is
// read, the deviations taken from a shift sampled from the file; where
// that shift turns out not to serve (stats.ShiftHolds), pass 2 runs again
// with the mean.
func Compute(ctx context.Context, path string, l floatfile.Layout, opt Options) (stats.Result, error) {
	abs, err := filepath.Abs(path) // the workers may not share our directory
	if err != nil {
		return stats.Result{}, err
	}
	r, err := newReducer(ctx, opt, maxK(opt))
	if err != nil {
		return stats.Result{}, err
	}
	defer r.close()
	return r.stats(ctx, abs, l, opt)
}

// stats runs both passes over the elements of path (absolute, or
// /proc/PID/fd/N) that l describes, on r.
func (r *reducer) stats(ctx context.Context, abs string, l floatfile.Layout, opt Options) (stats.Result, error) {
	pass := &r.pass
	pass.Store(1)
	mapped := opt.Read.maps(func() bool {
		passes := 2
		if opt.Range != nil {
			passes = 1
		}
		return floatfile.MapPays(abs, l, passes)
	})
	reduce := func(name string, p []byte) (engine.Result, error) { return r.reduce(name, l.Count, p) }
	var tot stats.Totals
	ran := false // pass 1's totals are in tot
	if opt.Range != nil && opt.Bins <= maxOnceBins {
		res, t, done, err := onePass(abs, l, mapped, opt, reduce)
		if err != nil || done {
			return res, err
		}
		tot, ran = t, t.Count+t.NaN > 0
	}
	if !ran {
		p1, err := json.Marshal(params{Path: abs, Layout: l, Mapped: mapped})
		if err != nil {
			return stats.Result{}, err
		}
		defer release(p1)
		r1, err := reduce(pass1Name, p1)
		if err != nil {
			return stats.Result{}, err
		}
		tot = totals(l, &r1)
	}
	plan, err := stats.NewPlan(tot, opt.Bins, opt.Range)
	if err != nil {
		return stats.Result{}, err
	}
	p2, err := json.Marshal(params{Path: abs, Layout: l, Mapped: mapped, Plan: &plan})
	if err != nil {
		return stats.Result{}, err
	}
	defer release(p2)
	pass.Store(2)
	r2, err := reduce(pass2Name(plan.Bins), p2)
	if err != nil {
		return stats.Result{}, err
	}
	var sumSq = r2.Partial.Exact(stats.P2SumSq)
	if !plan.Deviations {
		sumSq = nil
	}
	w := r2.Values
	return stats.Finish(tot, plan, sumSq, w[stats.P2Bins:stats.P2Bins+plan.Bins], w[stats.P2Below], w[stats.P2Above]), nil
}

// onePass runs both passes over each piece as it is read, the deviations
// from a shift sampled from the file (a given range). done says the result
// is final; otherwise pass 2 must run again with the mean, on the totals
// given (zero, counting no value, when the sample gave no shift and
// nothing ran).
func onePass(path string, l floatfile.Layout, mapped bool, opt Options, reduce func(string, []byte) (engine.Result, error)) (res stats.Result, tot stats.Totals, done bool, err error) {
	shift, err := samplePlan(path, l, opt.Bins, *opt.Range)
	if err != nil || !shift.Deviations { // no finite value in the sample to shift by
		return res, tot, false, err
	}
	p0, err := json.Marshal(params{Path: path, Layout: l, Mapped: mapped, Plan: &shift})
	if err != nil {
		return res, tot, false, err
	}
	defer release(p0)
	r, err := reduce(onceName(opt.Bins), p0)
	if err != nil {
		return res, tot, false, err
	}
	tot = totals(l, &r)
	ss := r.Partial.Exact(stats.OnePassOffset + stats.P2SumSq)
	if !stats.ShiftHolds(tot, shift, ss) {
		return res, tot, false, nil
	}
	w := r.Values[stats.OnePassOffset:]
	return stats.Finish(tot, shift, ss, w[stats.P2Bins:stats.P2Bins+shift.Bins], w[stats.P2Below], w[stats.P2Above]), tot, true, nil
}

// totals reads pass 1's elements of r.
func totals(l floatfile.Layout, r *engine.Result) stats.Totals {
	v := r.Values
	nan := uint64(v[stats.P1NaN])
	return stats.Totals{Count: l.Count - nan, NaN: nan, Sum: r.Partial.Exact(stats.P1Sum),
		Min: v[stats.P1Min], Max: v[stats.P1Max], FiniteMin: v[stats.P1FiniteMin], FiniteMax: v[stats.P1FiniteMax]}
}

// samplePlan reads the sample stats.Sample names from the file and makes
// the one-pass plan from it.
func samplePlan(path string, l floatfile.Layout, bins int, rng [2]float64) (stats.Plan, error) {
	r, err := floatfile.Open(path, l, false)
	if err != nil {
		return stats.Plan{}, err
	}
	defer r.Close()
	var sample []float64
	for _, run := range stats.Sample(l.Count) {
		n := int(run[1] - run[0])
		if l.Elem == floatfile.Float64 {
			xs := make([]float64, n)
			if err := r.ReadF64(run[0], xs); err != nil {
				return stats.Plan{}, err
			}
			sample = append(sample, xs...)
			continue
		}
		xs := make([]float32, n)
		if err := r.ReadF32(run[0], xs); err != nil {
			return stats.Plan{}, err
		}
		for _, x := range xs {
			sample = append(sample, float64(x))
		}
	}
	return stats.ShiftPlan(sample, bins, rng)
}
