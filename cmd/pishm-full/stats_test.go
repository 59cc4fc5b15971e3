package main

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// writeF64 writes xs as raw little-endian float64s.
func writeF64(t *testing.T, xs []float64) string {
	t.Helper()
	b := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	p := filepath.Join(t.TempDir(), "data.f64")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// statsJSON is the -json output, decoded.
type statsJSON struct {
	Count     uint64 `json:"count"`
	Sum       any    `json:"sum"`
	Mean      any    `json:"mean"`
	Variance  any    `json:"variance"`
	Std       any    `json:"std"`
	Min       any    `json:"min"`
	Max       any    `json:"max"`
	NaN       uint64 `json:"nan"`
	Histogram struct {
		Edges  []float64 `json:"edges"`
		Counts []uint64  `json:"counts"`
		Below  uint64    `json:"below"`
		Above  uint64    `json:"above"`
	} `json:"histogram"`
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case float64:
		return x
	case string:
		switch x {
		case "NaN":
			return math.NaN()
		case "+Inf":
			return math.Inf(1)
		case "-Inf":
			return math.Inf(-1)
		}
	}
	t.Fatalf("not a number: %v", v)
	return 0
}

// The same file gives the same -json bytes whatever the workers, the
// mode and the read method, and those bytes are right: the sum and mean as math/big rounds
// them, the variance within a few ulp of the exact one, a histogram that
// holds every value.
func TestStatsSameBits(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	xs := make([]float64, 300_007)
	for i := range xs {
		xs[i] = 1e8 + r.NormFloat64() // mean 1e8 times the spread
	}
	xs[1000], xs[2000] = math.NaN(), math.NaN()
	xs[3000] = 1e8 + 0x1p-1070 // rounds to 1e8: a value, not a NaN
	path := writeF64(t, xs)

	first := sameJSON(t, path, nil, [][]string{
		{"-workers", "1"}, {"-workers", "2"}, {"-workers", "8"},
		{"-workers", "3", "-mode", "cas"}, {"-workers", "2", "-mode", "mutex"}, {"-workers", "2", "-mode", "goroutines"},
		{"-workers", "3", "-mode", "pipe"}, {"-workers", "2", "-mode", "unix"},
		{"-workers", "2", "-read", "mmap"}, {"-workers", "3", "-read", "pread"}, {"-workers", "2", "-mode", "goroutines", "-read", "mmap"},
	})
	var got statsJSON
	if err := json.Unmarshal([]byte(first), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, first)
	}
	// The reference, with math/big, over the non-NaN values.
	s, s2 := new(big.Rat), new(big.Rat)
	var n uint64
	mn, mx := math.Inf(1), math.Inf(-1)
	for _, x := range xs {
		if x != x {
			continue
		}
		q := new(big.Rat).SetFloat64(x)
		s.Add(s, q)
		s2.Add(s2, q.Mul(q, q))
		n++
		mn, mx = min(mn, x), max(mx, x)
	}
	bn := new(big.Rat).SetUint64(n)
	sum, _ := s.Float64()
	mean, _ := new(big.Rat).Quo(s, bn).Float64()
	v := new(big.Rat).Quo(new(big.Rat).Mul(s, s), bn)
	v.Sub(s2, v).Quo(v, new(big.Rat).SetUint64(n-1))
	variance, _ := v.Float64()

	if got.Count != n || got.NaN != 2 {
		t.Errorf("count %d nan %d, want %d and 2", got.Count, got.NaN, n)
	}
	if g := num(t, got.Sum); g != sum {
		t.Errorf("sum %v, want %v", g, sum)
	}
	if g := num(t, got.Mean); g != mean {
		t.Errorf("mean %v, want %v", g, mean)
	}
	if g := num(t, got.Variance); !(math.Abs(g-variance) <= 4*0x1p-53*variance) {
		t.Errorf("variance %v, want %v", g, variance)
	}
	if num(t, got.Min) != mn || num(t, got.Max) != mx {
		t.Errorf("min %v max %v, want %v and %v", got.Min, got.Max, mn, mx)
	}
	total := got.Histogram.Below + got.Histogram.Above
	for _, c := range got.Histogram.Counts {
		total += c
	}
	if total != n || len(got.Histogram.Counts) != 10 || len(got.Histogram.Edges) != 11 {
		t.Errorf("histogram %+v holds %d values, want %d in 10 bins", got.Histogram, total, n)
	}
	if segmentsOf(t) != 0 {
		t.Error("segments left behind")
	}
}

// A float32 .npy file, written byte by byte, with a -range and -bins.
func TestStatsNPY(t *testing.T) {
	vals := []float32{1.5, -2, 3.25, 0.1, 7}
	h := "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"
	for (10+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), 0)
	b = append(b, h...)
	for _, x := range vals {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	path := filepath.Join(t.TempDir(), "a.npy")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, stderr, code := pishm(t, "stats", "-json", "-workers", "2", "-bins", "4", "-range", "0:4", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var got statsJSON
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	var s float64
	for _, x := range vals {
		s += float64(x) // exact: few bits
	}
	if got.Count != 5 || num(t, got.Sum) != s || num(t, got.Min) != -2 || num(t, got.Max) != 7 {
		t.Errorf("got %s", out)
	}
	want := []uint64{1, 1, 0, 1} // [0,1): 0.1  [1,2): 1.5  [3,4]: 3.25; below: -2; above: 7
	for k, c := range got.Histogram.Counts {
		if c != want[k] {
			t.Errorf("counts %v, want %v", got.Histogram.Counts, want)
			break
		}
	}
	if got.Histogram.Below != 1 || got.Histogram.Above != 1 {
		t.Errorf("below %d above %d, want 1 and 1", got.Histogram.Below, got.Histogram.Above)
	}
}

func TestStatsText(t *testing.T) {
	path := writeF64(t, []float64{1, 2, 3, 4})
	out, stderr, code := pishm(t, "stats", "-workers", "2", "-bins", "3", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"count     4 (and 0 NaN)", "sum       10 ", "mean      2.5\n", "variance  1.6666666666666667", "min       1\n", "max       4\n", "histogram 3 bins over [1, 4]"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// The sum's note says why a sum is not a number.
func TestStatsSumNote(t *testing.T) {
	for _, c := range []struct {
		values []float64
		want   string
	}{
		{[]float64{1, 2}, "sum       3  (correctly rounded)\n"},
		{[]float64{0.1, 0.1}, "sum       0.2  (correctly rounded)\n"}, // the shortest form that reads back, as JSON and numpy print it
		{[]float64{1, math.Inf(1), 2, math.Inf(-1)}, "sum       NaN  (+Inf and -Inf both occur)\n"},
		{[]float64{1, math.Inf(-1)}, "sum       -Inf  (an infinite value occurs)\n"},
		{[]float64{math.MaxFloat64, math.MaxFloat64}, "sum       +Inf  (correctly rounded: the exact sum is beyond float64)\n"},
	} {
		out, stderr, code := pishm(t, "stats", "-workers", "2", writeF64(t, c.values))
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", c.values, code, stderr)
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%v: output lacks %q:\n%s", c.values, c.want, out)
		}
	}
}

// Bad files and bad flags: one line on stderr (and a pointer to -h for a
// flag the parser rejects), exit status 2, nothing left behind.
func TestStatsBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.f64", make([]byte, 16))
	npy := func(descr, fortran, shape string, data int) []byte {
		h := "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }"
		for (10+len(h)+1)%64 != 0 {
			h += " "
		}
		h += "\n"
		b := append([]byte("\x93NUMPY\x01\x00"), byte(len(h)), 0)
		return append(append(b, h...), make([]byte, data)...)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "missing")}, "no such file or directory"},
		{[]string{dir}, "is a directory"},
		{[]string{write("empty", nil)}, "is empty"},
		{[]string{write("odd", make([]byte, 12))}, "12 bytes is not a whole number of f64 elements"},
		{[]string{"-type", "f32", write("odd32", make([]byte, 6))}, "6 bytes is not a whole number of f32 elements"},
		{[]string{write("i4.npy", npy("<i4", "False", "(2,)", 8))}, `dtype "<i4" is not supported`},
		{[]string{write("be.npy", npy(">f8", "False", "(2,)", 16))}, `dtype ">f8" is not supported`},
		{[]string{write("fortran.npy", npy("<f8", "True", "(2, 2)", 32))}, "Fortran order"},
		{[]string{write("short.npy", npy("<f8", "False", "(3,)", 16))}, "truncated .npy"},
		{[]string{}, "no FILE"},
		{[]string{good, "-json"}, "one FILE, and flags before it"},
		{[]string{"-bins", "0", good}, "-bins must be in [1, 4093], got 0"},
		{[]string{"-range", "3:1", good}, "-range: LO 3 is above HI 1"},
		{[]string{"-range", "x", good}, "-range: want LO:HI"},
		{[]string{"-range", "0:inf", good}, "is not a finite number"},
		{[]string{"-type", "i8", good}, `-type: unknown element type "i8"`},
		{[]string{"-workers", "0", good}, "-workers must be in"},
		{[]string{"-mode", "nope", good}, "-mode"},
		{[]string{"-mode", "racy", good}, "-mode racy loses updates on purpose"},
		{[]string{"-read", "mapped", good}, `-read must be auto, mmap or pread, got "mapped"`},
	}
	for _, c := range cases {
		out, stderr, code := pishm(t, append([]string{"stats"}, c.args...)...)
		if code != 2 || out != "" || !strings.Contains(stderr, c.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("stats %q: exit %d, stdout %q, stderr %q; want exit 2 and one line with %q", c.args, code, out, stderr, c.want)
		}
	}
	// A flag the parser rejects: its line and a pointer to -h.
	if _, stderr, code := pishm(t, "stats", "-bogus", good); code != 2 || !strings.Contains(stderr, "run 'pishm stats -h' for usage") {
		t.Errorf("stats -bogus: exit %d, stderr %q", code, stderr)
	}
	if segmentsOf(t) != 0 {
		t.Error("segments left behind")
	}
}

func TestStatsHelp(t *testing.T) {
	for _, args := range [][]string{{"stats", "-h"}, {"help", "stats"}} {
		out, _, code := pishm(t, args...)
		if code != 0 || !strings.Contains(out, "usage: pishm stats [flags] FILE") || !strings.Contains(out, "-bins") {
			t.Errorf("%q: exit %d, stdout %q", args, code, out)
		}
	}
}

// pishm with pishm-worker beside it runs stats and the pi series on the
// lean workers, which must link every Func pishm registers
// (cmd/pishm-worker/stats.go, pi.go): without them every worker dies with
// "no Func registered". It takes the pishm-worker beside it only where
// their build stamp names their source (here a link-time build tag): a
// pishm-worker left from an earlier build of a dirty tree, or of a
// -buildvcs=false build, has the same build info as a new pishm and would
// run its old code. The pishm-worker here is a script that notes each
// start and runs the real one.
func TestStatsLeanWorker(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build pishm and pishm-worker")
	}
	for _, c := range []struct {
		name  string
		flags []string
		lean  bool
	}{
		{"tagged", []string{"-ldflags=-X=github.com/pishm/pishm/engine.buildTag=lean-worker-test"}, true},
		{"no VCS state", []string{"-buildvcs=false"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"build", "-o", dir + string(filepath.Separator)}, c.flags...)
			build := exec.Command(gobin, append(args, "github.com/pishm/pishm/cmd/pishm", "github.com/pishm/pishm/cmd/pishm-full", "github.com/pishm/pishm/cmd/pishm-worker")...)
			if out, err := build.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			worker, starts := filepath.Join(dir, "pishm-worker"), filepath.Join(dir, "starts")
			if err := os.Rename(worker, worker+".real"); err != nil {
				t.Fatal(err)
			}
			script := "#!/bin/sh\necho start >> '" + starts + "'\nexec '" + worker + ".real' \"$@\"\n"
			if err := os.WriteFile(worker, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			path := writeF64(t, []float64{1, 2, 3, 4, 5})
			out, err := exec.Command(filepath.Join(dir, "pishm"), "stats", "-json", "-workers", "2", path).CombinedOutput()
			if err != nil {
				t.Fatalf("pishm stats: %v\n%s", err, out)
			}
			if !strings.HasPrefix(string(out), `{"count":5,"sum":15,"mean":3,"variance":2.5,`) {
				t.Errorf("pishm stats -json: %s", out)
			}
			// cas execs its workers (only slots forks): the lean worker runs pi.
			for _, mode := range []string{"cas", "pipe"} {
				if out, err := exec.Command(filepath.Join(dir, "pishm"), "-n", "1e6", "-workers", "2", "-mode", mode).CombinedOutput(); err != nil {
					t.Errorf("pishm -mode %s: %v\n%s", mode, err, out)
				}
			}
			noted, _ := os.ReadFile(starts)
			if n := strings.Count(string(noted), "start"); c.lean && n < 6 || !c.lean && n != 0 {
				t.Errorf("pishm-worker started %d times (lean workers expected: %v)", n, c.lean)
			}
		})
	}
}

// With -range, both passes run over each piece in one read (a shift
// sampled from the file): the same bytes for any workers and mode, and
// right against math/big; data whose sample misleads (an outlier between
// the sampled runs) falls back to a second pass, and is right too.
func TestStatsRangeOnePass(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, c := range []struct {
		name    string
		outlier bool
	}{{"one pass", false}, {"fallback", true}} {
		t.Run(c.name, func(t *testing.T) {
			xs := make([]float64, 200_003)
			for i := range xs {
				xs[i] = 1e8 + r.NormFloat64()
			}
			if c.outlier {
				xs[123_457] = 1e12
			}
			path := writeF64(t, xs)
			first := sameJSON(t, path, []string{"-bins", "7", "-range", "99999997:100000003"}, [][]string{{"-workers", "1"}, {"-workers", "2"}, {"-workers", "8"},
				{"-workers", "2", "-mode", "cas"}, {"-workers", "2", "-mode", "goroutines"}, {"-workers", "2", "-mode", "pipe"}})
			var got statsJSON
			if err := json.Unmarshal([]byte(first), &got); err != nil {
				t.Fatal(err)
			}
			s, s2 := new(big.Rat), new(big.Rat)
			for _, x := range xs {
				q := new(big.Rat).SetFloat64(x)
				s.Add(s, q)
				s2.Add(s2, q.Mul(q, q))
			}
			n := new(big.Rat).SetUint64(uint64(len(xs)))
			mean, _ := new(big.Rat).Quo(s, n).Float64()
			v := new(big.Rat).Quo(new(big.Rat).Mul(s, s), n)
			v.Sub(s2, v).Quo(v, new(big.Rat).SetUint64(uint64(len(xs)-1)))
			variance, _ := v.Float64()
			if g := num(t, got.Mean); g != mean {
				t.Errorf("mean %v, want %v", g, mean)
			}
			if g := num(t, got.Variance); !(math.Abs(g-variance) <= 5*0x1p-53*variance) {
				t.Errorf("variance %v, want %v", g, variance)
			}
			total := got.Histogram.Below + got.Histogram.Above
			for _, c := range got.Histogram.Counts {
				total += c
			}
			if total != uint64(len(xs)) || got.Histogram.Below == 0 || got.Histogram.Above == 0 {
				t.Errorf("histogram %+v", got.Histogram)
			}
		})
	}
}

// sameJSON runs pishm stats -json with args, then each of runs, on path,
// and returns the first run's output, failing t unless every run exits 0
// with the same bytes.
func sameJSON(t *testing.T, path string, args []string, runs [][]string) string {
	t.Helper()
	var first string
	for _, run := range runs {
		a := append(append([]string{"stats", "-json"}, args...), run...)
		out, stderr, code := pishm(t, append(a, path)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", run, code, stderr)
		}
		if first == "" {
			first = out
		} else if out != first {
			t.Errorf("%v gives\n%s\nwhere %v gave\n%s", run, out, runs[0], first)
		}
	}
	return first
}
