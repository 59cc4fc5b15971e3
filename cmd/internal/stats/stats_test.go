package stats

import (
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
)

func TestAdversarial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	subnormals := make([]float64, 5000)
	for i := range subnormals {
		subnormals[i] = math.Float64frombits(r.Uint64()&(1<<52-1) | uint64(i&1)<<63)
	}
	wide := make([]float64, 5000) // exponents all over the range: remainders, huge and tiny values
	for i := range wide {
		wide[i] = math.Ldexp(1+r.Float64(), r.IntN(2040)-1020) * float64(1-2*(i&1))
	}
	withNaN := normals(r, 3000, 5, 2)
	for i := 0; i < len(withNaN); i += 7 {
		withNaN[i] = math.NaN()
	}
	withInf := normals(r, 3000, 5, 2)
	withInf[100], withInf[2000] = math.Inf(1), math.Inf(-1)
	posInf := normals(r, 3000, 5, 2)
	posInf[17] = math.Inf(1)
	huge := []float64{math.MaxFloat64, math.MaxFloat64, -math.MaxFloat64, 1, -0.5 * math.MaxFloat64}
	cases := []struct {
		name string
		xs   []float64
	}{
		{"offset 1e8 std", normals(r, 20000, 1e8, 1)},
		{"offset 1e12 std", normals(r, 20000, 3e12, 0.25)},
		{"offset 2^52", normals(r, 5000, 0x1p52, 3)},
		{"negative offset", normals(r, 5000, -7e9, 1e-3)},
		{"subnormals", subnormals},
		{"wide exponents", wide},
		{"NaNs", withNaN},
		{"both infinities", withInf},
		{"+Inf", posInf},
		{"huge", huge},
		{"all equal", []float64{0.1, 0.1, 0.1, 0.1}},
		{"one", []float64{42}},
		{"only NaN", []float64{math.NaN(), math.NaN()}},
		{"zeros", []float64{0, math.Copysign(0, -1), 0}},
		{"negative zeros", []float64{math.Copysign(0, -1), math.Copysign(0, -1)}},
		{"cancelling", []float64{1e100, 1, -1e100, 1e-100}},
		{"ulp apart", []float64{1, math.Nextafter(1, 2), 1, 1, math.Nextafter(1, 0)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := newReference(c.xs, 10, nil)
			for _, grain := range []int{1, 7, 1000, 1 << 16} {
				check(t, compute(t, c.xs, grain, 10, nil), want, varianceErr)
			}
		})
	}
}

// The variance of data whose mean is 1e8 times its spread comes out right,
// where the one-pass textbook formula returns garbage (checked too, so
// the data is known to be hard).
func TestTextbookFails(t *testing.T) {
	xs := normals(rand.New(rand.NewPCG(3, 4)), 100000, 1e8, 1)
	want := newReference(xs, 4, nil)
	got := compute(t, xs, 4096, 4, nil)
	check(t, got, want, varianceErr)
	var s, s2 float64
	for _, x := range xs {
		s += x
		s2 += x * x
	}
	n := float64(len(xs))
	textbook := (s2/n - (s/n)*(s/n)) * n / (n - 1)
	if math.Abs(textbook-want.vr)/want.vr < 0.01 {
		t.Fatalf("the textbook formula got %v against %v: the test data is not hard", textbook, want.vr)
	}
}

func TestRange(t *testing.T) {
	xs := normals(rand.New(rand.NewPCG(5, 6)), 10000, 0, 1)
	xs[5], xs[9] = math.Inf(1), math.Inf(-1)
	rng := [2]float64{-1, 1.5}
	want := newReference(xs, 7, &rng)
	got := compute(t, xs, 333, 7, &rng)
	check(t, got, want, varianceErr)
	if got.Histogram.Below == 0 || got.Histogram.Above == 0 {
		t.Errorf("below %d above %d: want values on both sides", got.Histogram.Below, got.Histogram.Above)
	}
}

// Values go where numpy puts them, against the edges as computed: 0.3 is
// below the third edge, 0.30000000000000004, so it falls in the bin below,
// and the last edge is in the last bin.
func TestEdges(t *testing.T) {
	xs := []float64{0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}
	got := compute(t, xs, 4, 10, nil)
	check(t, got, newReference(xs, 10, nil), varianceErr)
	// numpy.histogram(xs, 10) gives these counts (numpy 1.24.2).
	want := []uint64{1, 1, 2, 0, 1, 2, 1, 0, 1, 2}
	for k, c := range got.Histogram.Counts {
		if c != want[k] {
			t.Errorf("counts %v, want %v", got.Histogram.Counts, want)
			break
		}
	}
}

func TestFloat32(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	xs32 := make([]float32, 5003)
	xs := make([]float64, len(xs32))
	for i := range xs32 {
		xs32[i] = float32(1e4 + r.NormFloat64())
		xs[i] = float64(xs32[i])
	}
	xs32[3], xs[3] = float32(math.NaN()), math.NaN()
	xs32[4000], xs[4000] = 1e-30, float64(float32(1e-30)) // a remainder on the fused path
	want := compute(t, xs, 1000, 5, nil)
	for _, fused := range []bool{true, false} {
		func() {
			defer func(v bool) { haveExtract8 = v }(haveExtract8)
			haveExtract8 = haveExtract8 && fused
			got := compute(t, xs32, 1000, 5, nil)
			a, _ := json.Marshal(got)
			b, _ := json.Marshal(want)
			if string(a) != string(b) {
				t.Errorf("float32 pieces (fused %v):\n%s\nfloat64 of the same values:\n%s", fused, a, b)
			}
			check(t, got, newReference(xs, 5, nil), varianceErr)
		}()
	}
}

func TestJSON(t *testing.T) {
	got := compute(t, []float64{1, math.Inf(1), math.NaN()}, 2, 2, nil)
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"count":2,"sum":"+Inf","mean":"+Inf","variance":"NaN","std":"NaN","min":1,"max":"+Inf","nan":1,` +
		`"histogram":{"edges":[0.5,1,1.5],"counts":[0,1],"below":0,"above":1}}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Errorf("not JSON: %v", err)
	}
}

func TestPlanErrors(t *testing.T) {
	tot := Totals{Count: 1, Sum: big.NewFloat(1), Min: 1, Max: 1, FiniteMin: 1, FiniteMax: 1}
	for _, c := range []struct {
		bins int
		rng  *[2]float64
		want string
	}{
		{0, nil, "bins must be in"},
		{MaxBins + 1, nil, "bins must be in"},
		{3, &[2]float64{2, 1}, "low end above"},
		{3, &[2]float64{math.Inf(-1), 1}, "not finite"},
	} {
		if _, err := NewPlan(tot, c.bins, c.rng); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewPlan(bins %d, range %v) = %v, want %q", c.bins, c.rng, err, c.want)
		}
	}
}

// The fused AVX-512 path of pass 1 and the Go path give the same bits
// (where the CPU has AVX-512; elsewhere both runs take the Go path).
func TestFusedSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	data := map[string][]float64{
		"normal":  normals(r, 50000, 1e8, 1),
		"growing": make([]float64, 50000),
		"mixed":   normals(r, 50000, 0, 1),
	}
	for i := range data["growing"] { // each chunk's magnitude above the last one's guess
		data["growing"][i] = math.Ldexp(1+r.Float64(), i/300-60)
	}
	shrinking := make([]float64, 50000) // each chunk's far below the last one's
	for i := range shrinking {
		shrinking[i] = math.Ldexp(1+r.Float64(), 500-i/100)
	}
	data["shrinking"] = shrinking
	m := data["mixed"]
	m[10], m[5000], m[7000], m[9001] = math.NaN(), math.Inf(1), 0x1p-1060, -1e300
	for i := 20000; i < 21100; i++ {
		m[i] = math.Copysign(0, float64(i%3-1))
	}
	for name, xs := range data {
		t.Run(name, func(t *testing.T) {
			run := func(fused bool) string {
				defer func(v bool) { haveExtract8 = v }(haveExtract8)
				haveExtract8 = haveExtract8 && fused
				b, _ := json.Marshal(compute(t, xs, 1<<14, 8, nil))
				return string(b)
			}
			if a, b := run(true), run(false); a != b {
				t.Errorf("fused:\n%s\nGo:\n%s", a, b)
			}
			check(t, compute(t, xs, 1<<14, 8, nil), newReference(xs, 8, nil), varianceErr)
		})
	}
}

// Values on every edge and one ulp either side land in the bins the edges
// say, on the fast path (bins without a look at the edges) as on the slow.
func TestEdgeNeighbours(t *testing.T) {
	for _, rng := range [][2]float64{{-3.3, 12.9}, {1e8, 1e8 + 7}, {-1e-300, 3e-300}} {
		edges := Edges(rng[0], rng[1], 7)
		var xs []float64
		for _, e := range edges {
			xs = append(xs, e, math.Nextafter(e, math.Inf(-1)), math.Nextafter(e, math.Inf(1)))
		}
		r := rand.New(rand.NewPCG(13, 14))
		for range 5000 {
			xs = append(xs, rng[0]+(rng[1]-rng[0])*r.Float64())
		}
		for _, fused := range []bool{true, false} {
			func() {
				defer func(v bool) { haveExtract8 = v }(haveExtract8)
				haveExtract8 = haveExtract8 && fused
				check(t, compute(t, xs, 1000, 7, &rng), newReference(xs, 7, &rng), varianceErr)
			}()
		}
	}
}

// computeOnce runs the one-pass reduction over xs in pieces (pass 1 and
// pass 2 on each piece, into one sink), as filestats does with a given
// range, and reports whether ShiftHolds; if not, it runs pass 2 again
// with the mean.
func computeOnce(t *testing.T, xs []float64, grain, bins int, rng [2]float64) (Result, bool) {
	t.Helper()
	var sample []float64
	for _, r := range Sample(uint64(len(xs))) {
		sample = append(sample, xs[r[0]:r[1]]...)
	}
	plan, err := ShiftPlan(sample, bins, rng)
	if err != nil {
		t.Fatal(err)
	}
	var sc Scratch
	s := newSink(OnePassOps(bins))
	for lo := 0; lo < len(xs); lo += grain {
		piece := xs[lo:min(lo+grain, len(xs))]
		Pass1F64(piece, s, &sc)
		plan.Pass2F64(piece, Offset(s, OnePassOffset), &sc)
	}
	nan := uint64(s.float(P1NaN))
	tot := Totals{Count: uint64(len(xs)) - nan, NaN: nan, Sum: s.exact(P1Sum),
		Min: s.float(P1Min), Max: s.float(P1Max), FiniteMin: s.float(P1FiniteMin), FiniteMax: s.float(P1FiniteMax)}
	ss := s.exact(OnePassOffset + P2SumSq)
	if !ShiftHolds(tot, plan, ss) {
		return compute(t, xs, grain, bins, &rng), false
	}
	counts := make([]float64, bins)
	for k := range counts {
		counts[k] = s.float(OnePassOffset + P2Bins + k)
	}
	return Finish(tot, plan, ss, counts, s.float(OnePassOffset+P2Below), s.float(OnePassOffset+P2Above)), true
}

func TestOnePass(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	sorted := normals(r, 40000, 3, 2)
	sort.Float64s(sorted)
	outlier := normals(r, 40000, 0, 1)
	outlier[12345] = 1e9 // between the sample's runs: beyond the spread the plan was scaled for
	withNaN := normals(r, 40000, 1e8, 1)
	withNaN[7], withNaN[30000] = math.NaN(), math.Inf(1)
	small := normals(r, 3000, -5, 0.5)
	cases := []struct {
		name  string
		xs    []float64
		holds bool
	}{
		{"offset 1e8", normals(r, 60000, 1e8, 1), true},
		{"sorted", sorted, true},
		{"small", small, true},
		{"outlier", outlier, false},
		{"NaN and Inf", withNaN, true}, // no variance to compute
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rng := [2]float64{c.xs[1] - 3, c.xs[1] + 3}
			got, held := computeOnce(t, c.xs, 4096, 6, rng)
			if held != c.holds {
				t.Errorf("ShiftHolds = %v, want %v", held, c.holds)
			}
			check(t, got, newReference(c.xs, 6, &rng), MaxShiftCancellation*varianceErr)
		})
	}
}

func TestSample(t *testing.T) {
	if s := Sample(100); len(s) != 1 || s[0] != [2]uint64{0, 100} {
		t.Errorf("Sample(100) = %v", s)
	}
	s := Sample(1_000_000)
	if len(s) != 64 || s[0][0] != 0 || s[63][1] != 1_000_000 {
		t.Errorf("Sample(1e6) = %v ... %v", s[0], s[len(s)-1])
	}
	for j := 1; j < len(s); j++ {
		if s[j][0] < s[j-1][1] {
			t.Errorf("runs %v and %v overlap", s[j-1], s[j])
		}
	}
}

// A histogram of one repeated value gets numpy's [x-0.5, x+0.5] where
// that range exists, and otherwise (|x| ≥ 2^53, up to the largest float64)
// a finite range around x whose bins all have distinct edges: a constant
// column of large values (timestamps in ns) once failed with "bad plan".
func TestWiden(t *testing.T) {
	for _, x := range []float64{0, 1, -3.5, 1 << 52, 1 << 53, 1.7e18, 1e20, -1e20, math.MaxFloat64, -math.MaxFloat64} {
		for _, bins := range []int{1, 10, MaxBins} {
			lo, hi := widen(x, bins)
			if !(lo < hi) || lo > x || x > hi || math.IsInf(lo, 0) || math.IsInf(hi, 0) {
				t.Fatalf("widen(%v, %d) = [%v, %v]", x, bins, lo, hi)
			}
			if x-0.5 < x+0.5 {
				if lo != x-0.5 || hi != x+0.5 {
					t.Errorf("widen(%v, %d) = [%v, %v], want numpy's [x-0.5, x+0.5]", x, bins, lo, hi)
				}
				continue
			}
			e := Edges(lo, hi, bins)
			for k := 1; k < len(e); k++ {
				if !(e[k-1] < e[k]) {
					t.Fatalf("widen(%v, %d) = [%v, %v]: edges %d and %d are %v and %v", x, bins, lo, hi, k-1, k, e[k-1], e[k])
				}
			}
			p, err := NewPlan(Totals{Count: 2, Sum: new(big.Float).Mul(big.NewFloat(x), big.NewFloat(2)), Min: x, Max: x, FiniteMin: x, FiniteMax: x}, bins, nil)
			if err != nil {
				t.Fatalf("NewPlan of two %v in %d bins: %v", x, bins, err)
			}
			if p.Lo != lo || p.Hi != hi {
				t.Errorf("NewPlan of two %v: range [%v, %v], want [%v, %v]", x, p.Lo, p.Hi, lo, hi)
			}
		}
	}
}

// The bins counted in registers (dev8count up to 16, dev8count64 up to
// countBins) and those counted in memory (beyond) agree with the
// reference and with the Go code, for float64 and float32 input: bin
// counts at either end of each path (1, 15, 16, 17, 63, 64, 65 bins), a
// whole chunk in one bin (the counters' widest; the last bin: the last
// accumulator's last counter), and a range narrower than the data, so
// that many values are left to the Go code (the -1s) beside counted ones.
func TestBinCounting(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	data := map[string][]float64{
		"normal":   normals(r, 5000, 3, 1),
		"one bin":  make([]float64, 3000),
		"last bin": make([]float64, 3000),
	}
	for i := range data["one bin"] {
		data["one bin"][i] = 1.5 + float64(i%7)*1e-9
		data["last bin"][i] = 10 - float64(i%7)*1e-9
	}
	data["one bin"][0], data["last bin"][0] = 0, 0 // the range: [0, 10]
	data["last bin"][1] = 10
	data["normal"][77] = math.NaN()
	for name, xs := range data {
		for _, bins := range []int{1, 2, 9, 15, 16, 17, 33, 40, 63, 64, 65, 300} {
			for _, rng := range []*[2]float64{nil, {2.5, 3.5}} {
				xs32 := make([]float32, len(xs))
				xs64 := make([]float64, len(xs)) // the float32 values, as float64s
				for i, x := range xs {
					xs32[i] = float32(x)
					xs64[i] = float64(xs32[i])
				}
				want := newReference(xs64, bins, rng)
				for _, fused := range []bool{true, false} {
					func() {
						defer func(v bool) { haveExtract8 = v }(haveExtract8)
						haveExtract8 = haveExtract8 && fused
						got := compute(t, xs64, 1100, bins, rng)
						check(t, got, want, varianceErr)
						got32 := compute(t, xs32, 1100, bins, rng)
						a, _ := json.Marshal(got32)
						b, _ := json.Marshal(got)
						if string(a) != string(b) {
							t.Errorf("%s, %d bins, range %v, fused %v: float32 pieces\n%s\nfloat64 of the same values\n%s", name, bins, rng, fused, a, b)
						}
					}()
				}
			}
		}
	}
}
