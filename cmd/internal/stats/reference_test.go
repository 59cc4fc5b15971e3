package stats

// The reference the tests check against: exact sums in math/big, and
// the statistics computed from them.

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/pishm/pishm/internal/superacc"
)

// exactSink is a Sink that keeps its Sum elements in big.Floats wide
// enough to hold any sum of float64s exactly, and its Min and Max
// elements as the engine does: the reference the pieces report to.
type exactSink struct {
	ops            []Op
	sums           []*big.Float
	nan, pos, negi []int
	ext            []float64
}

func newSink(ops []Op) *exactSink {
	s := &exactSink{ops: ops, sums: make([]*big.Float, len(ops)), nan: make([]int, len(ops)),
		pos: make([]int, len(ops)), negi: make([]int, len(ops)), ext: make([]float64, len(ops))}
	for i, op := range ops {
		s.sums[i] = new(big.Float).SetPrec(2300)
		switch op {
		case Min:
			s.ext[i] = math.Inf(1)
		case Max:
			s.ext[i] = math.Inf(-1)
		}
	}
	return s
}

func (s *exactSink) Add(i int, x float64) {
	switch s.ops[i] {
	case Sum:
		switch {
		case x != x:
			s.nan[i]++
		case math.IsInf(x, 1):
			s.pos[i]++
		case math.IsInf(x, -1):
			s.negi[i]++
		default:
			s.sums[i].Add(s.sums[i], new(big.Float).SetFloat64(x))
		}
	case Min:
		s.ext[i] = superacc.MinOf(s.ext[i], x)
	case Max:
		s.ext[i] = superacc.MaxOf(s.ext[i], x)
	}
}

// exact is element i as the engine's Reduction.Exact gives it.
func (s *exactSink) exact(i int) *big.Float {
	switch {
	case s.nan[i] > 0 || s.pos[i] > 0 && s.negi[i] > 0:
		return nil
	case s.pos[i] > 0:
		return new(big.Float).SetInf(false)
	case s.negi[i] > 0:
		return new(big.Float).SetInf(true)
	}
	return s.sums[i]
}

func (s *exactSink) float(i int) float64 {
	if s.ops[i] != Sum {
		return s.ext[i]
	}
	f := s.exact(i)
	if f == nil {
		return math.NaN()
	}
	v, _ := f.Float64()
	return v
}

// compute runs both passes over xs (float64 or float32) in pieces of
// grain values, as the engine's grid would, and finishes.
func compute[T float](t *testing.T, xs []T, grain, bins int, rng *[2]float64) Result {
	t.Helper()
	var sc Scratch
	s1 := newSink(Pass1Ops())
	for lo := 0; lo < len(xs); lo += grain {
		switch v := any(xs[lo:min(lo+grain, len(xs))]).(type) {
		case []float64:
			Pass1F64(v, s1, &sc)
		case []float32:
			Pass1F32(v, s1, &sc)
		}
	}
	nan := uint64(s1.float(P1NaN))
	tot := Totals{Count: uint64(len(xs)) - nan, NaN: nan, Sum: s1.exact(P1Sum),
		Min: s1.float(P1Min), Max: s1.float(P1Max), FiniteMin: s1.float(P1FiniteMin), FiniteMax: s1.float(P1FiniteMax)}
	plan, err := NewPlan(tot, bins, rng)
	if err != nil {
		t.Fatal(err)
	}
	// The plan travels to the workers as JSON.
	b, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	var wire Plan
	if err := json.Unmarshal(b, &wire); err != nil {
		t.Fatal(err)
	}
	if err := wire.Prepare(); err != nil {
		t.Fatal(err)
	}
	s2 := newSink(Pass2Ops(bins))
	for lo := 0; lo < len(xs); lo += grain {
		switch v := any(xs[lo:min(lo+grain, len(xs))]).(type) {
		case []float64:
			wire.Pass2F64(v, s2, &sc)
		case []float32:
			wire.Pass2F32(v, s2, &sc)
		}
	}
	counts := make([]float64, bins)
	for k := range counts {
		counts[k] = s2.float(P2Bins + k)
	}
	var ss *big.Float
	if plan.Deviations {
		ss = s2.exact(P2SumSq)
	}
	return Finish(tot, plan, ss, counts, s2.float(P2Below), s2.float(P2Above))
}

// reference computes the statistics of the non-NaN values of xs with
// math/big: the sum and mean exactly rounded, the variance exactly as
// (Σx² − (Σx)²/n)/(n − 1), and the histogram by searching the edges.
type reference struct {
	count, nan    uint64
	sum, mean, vr float64
	min, max      float64
	counts        []uint64
	below, above  uint64
	edges         []float64
}

func newReference(xs []float64, bins int, rng *[2]float64) reference {
	r := reference{min: math.Inf(1), max: math.Inf(-1)}
	s, s2 := new(big.Rat), new(big.Rat)
	var pos, neg int
	fmn, fmx := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		switch {
		case x != x:
			r.nan++
			continue
		case math.IsInf(x, 1):
			pos++
		case math.IsInf(x, -1):
			neg++
		default:
			q := new(big.Rat).SetFloat64(x)
			s.Add(s, q)
			s2.Add(s2, q.Mul(q, q))
			fmn, fmx = min(fmn, x), max(fmx, x)
		}
		r.count++
		r.min, r.max = min(r.min, x), max(r.max, x)
	}
	switch {
	case pos > 0 && neg > 0:
		r.sum, r.mean, r.vr = math.NaN(), math.NaN(), math.NaN()
	case pos > 0:
		r.sum, r.mean, r.vr = math.Inf(1), math.Inf(1), math.NaN()
	case neg > 0:
		r.sum, r.mean, r.vr = math.Inf(-1), math.Inf(-1), math.NaN()
	default:
		r.sum, _ = s.Float64()
		n := new(big.Rat).SetUint64(r.count)
		if r.count > 0 {
			m := new(big.Rat).Quo(s, n)
			r.mean, _ = m.Float64()
		} else {
			r.mean = math.NaN()
		}
		if r.count > 1 {
			v := new(big.Rat).Mul(s, s)
			v.Quo(v, n)
			v.Sub(s2, v)
			v.Quo(v, new(big.Rat).SetUint64(r.count-1))
			r.vr, _ = v.Float64()
		} else {
			r.vr = math.NaN()
		}
	}
	if r.count == 0 {
		r.min, r.max = math.NaN(), math.NaN()
	}
	lo, hi := 0.0, 0.0
	if rng != nil {
		lo, hi = rng[0], rng[1]
	} else if fmn <= fmx {
		lo, hi = fmn, fmx
	}
	if lo == hi {
		lo, hi = lo-0.5, hi+0.5
	}
	r.edges = Edges(lo, hi, bins)
	r.counts = make([]uint64, bins)
	for _, x := range xs {
		switch {
		case x != x:
		case x < lo:
			r.below++
		case x > hi:
			r.above++
		default:
			k := sort.Search(bins, func(k int) bool { return x < r.edges[k+1] })
			r.counts[min(k, bins-1)]++
		}
	}
	return r
}

func same(a, b float64) bool { return math.Float64bits(a) == math.Float64bits(b) || a != a && b != b }

// check compares a result with the reference: everything exact but the
// variance, within relErr of the exact one.
func check(t *testing.T, got Result, want reference, relErr float64) {
	t.Helper()
	if got.Count != want.count || got.NaN != want.nan {
		t.Errorf("count %d nan %d, want %d and %d", got.Count, got.NaN, want.count, want.nan)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{{"sum", got.Sum, want.sum}, {"mean", got.Mean, want.mean}, {"min", got.Min, want.min}, {"max", got.Max, want.max}} {
		if !same(c.got, c.want) {
			t.Errorf("%s = %v (%#x), want %v (%#x)", c.name, c.got, math.Float64bits(c.got), c.want, math.Float64bits(c.want))
		}
	}
	switch {
	case want.vr != want.vr || got.Variance != got.Variance || math.IsInf(want.vr, 0):
		if !same(got.Variance, want.vr) {
			t.Errorf("variance = %v, want %v", got.Variance, want.vr)
		}
	case want.vr == 0:
		if got.Variance != 0 {
			t.Errorf("variance = %v, want 0", got.Variance)
		}
	default:
		if e := math.Abs(got.Variance-want.vr) / want.vr; !(e <= relErr) {
			t.Errorf("variance = %v, want %v: relative error %.3g > %.3g", got.Variance, want.vr, e, relErr)
		}
		if want.vr > 0 && !same(got.Std, math.Sqrt(got.Variance)) && math.Abs(got.Std-math.Sqrt(want.vr))/math.Sqrt(want.vr) > relErr {
			t.Errorf("std = %v, want about %v", got.Std, math.Sqrt(want.vr))
		}
	}
	h := got.Histogram
	if len(h.Edges) != len(want.edges) {
		t.Fatalf("%d edges, want %d", len(h.Edges), len(want.edges))
	}
	for k := range h.Edges {
		if !same(h.Edges[k], want.edges[k]) {
			t.Errorf("edge %d = %v, want %v", k, h.Edges[k], want.edges[k])
		}
	}
	total := h.Below + h.Above
	for k, c := range h.Counts {
		total += c
		if c != want.counts[k] {
			t.Errorf("bin %d [%v, %v] holds %d, want %d", k, h.Edges[k], h.Edges[k+1], c, want.counts[k])
		}
	}
	if h.Below != want.below || h.Above != want.above {
		t.Errorf("below %d above %d, want %d and %d", h.Below, h.Above, want.below, want.above)
	}
	if total != got.Count {
		t.Errorf("the histogram holds %d values, the count is %d", total, got.Count)
	}
}

// varianceErr is what the variance may be off by, relative: the rounding
// of each deviation and its square, and of the result.
const varianceErr = 4 * 0x1p-53

func normals(r *rand.Rand, n int, mean, std float64) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = mean + std*r.NormFloat64()
	}
	return xs
}
