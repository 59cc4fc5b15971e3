package kernel

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"

	"github.com/pishm/pishm/engine/internal/exact"
)

// tol is the relative difference allowed between a kernel and the
// reference. Each uses the four-term identity with its own grouping of
// terms, so a short range can differ by a few ulps of one group.
const tol = 1e-15

// starts are the first indices TestKernels tries every length from: the
// odd alignments 0..15 and some large k, up to the top of the domain.
var starts = []uint64{
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
	1e6, 1e6 + 7, 1e12, 1e12 + 13, 1e15 - 1024, MaxIndex - 1024,
}

// force puts the kernel called name first in the table, so that Best
// returns it, and returns a func that restores the table. Tests that use it
// must not call t.Parallel.
func force(tb testing.TB, name string) (restore func()) {
	tb.Helper()
	saved := kernels
	k, err := ByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	kernels = append([]Kernel{k}, saved...)
	return func() { kernels = saved }
}

// relErr is |got-want|/want, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got-want) / want
}

// sumDD is the series summed term by term in double-double, each term
// itself a double-double, rounded once at the end: within half an ulp.
func sumDD(lo, hi uint64) float64 {
	var s, e float64
	for k := hi; k > lo; k-- {
		x := float64(2*(k-1) + 1)
		x2 := x * x
		x2lo := math.FMA(x, x, -x2) // x*x = x2 + x2lo exactly
		q := 1 / x2
		// 1/(x2+x2lo) = q * (1 - (q*x2 - 1) - q*x2lo) to second order.
		r := (-math.FMA(q, x2, -1) - q*x2lo) * q
		for _, v := range [2]float64{q, r} {
			t := s + v
			bb := t - s
			e += (s - (t - bb)) + (v - bb)
			s = t
		}
	}
	return s + e
}

func TestKernels(t *testing.T) {
	for _, k := range All() {
		t.Run("kernel="+k.Name, func(t *testing.T) {
			if !k.Supported() {
				t.Skipf("CPU lacks %v", k.Requires)
			}
			worst := 0.0
			for _, lo := range starts {
				for n := uint64(0); n < 1024; n++ {
					got, want := k.Sum(lo, lo+n), sumGeneric(lo, lo+n)
					if n == 0 && got != 0 {
						t.Fatalf("Sum(%d, %d) = %v, want exactly 0", lo, lo, got)
					}
					e := relErr(got, want)
					if !(e <= tol) { // also catches NaN
						t.Fatalf("Sum(%d, %d) = %v, sumGeneric = %v, relative error %.3g > %g", lo, lo+n, got, want, e, tol)
					}
					worst = max(worst, e)
				}
			}
			t.Logf("worst relative difference from sumGeneric: %.3g", worst)
		})
	}
}

// TestGenericDD checks the reference itself against a term-by-term
// double-double sum, at small and large k.
func TestGenericDD(t *testing.T) {
	worst := 0.0
	for _, lo := range starts {
		for _, n := range []uint64{1, 2, 3, 4, 5, 7, 8, 100, 1023, 1024, 1025, 5000} {
			lo := min(lo, MaxIndex-n)
			got, want := sumGeneric(lo, lo+n), sumDD(lo, lo+n)
			e := relErr(got, want)
			if !(e <= tol) {
				t.Fatalf("sumGeneric(%d, %d) = %v, double-double %v, relative error %.3g > %g", lo, lo+n, got, want, e, tol)
			}
			worst = max(worst, e)
		}
	}
	t.Logf("worst relative error against double-double: %.3g", worst)
}

// TestClosedForm sums [0, n) in one call and checks it against the exact
// closed form (engine/internal/exact) within 1e-15 relative.
func TestClosedForm(t *testing.T) {
	for _, k := range All() {
		t.Run("kernel="+k.Name, func(t *testing.T) {
			if !k.Supported() {
				t.Skipf("CPU lacks %v", k.Requires)
			}
			for _, n := range []uint64{1e3, 1e6, 1e9, 1e10} {
				if n > 1e9 && (testing.Short() || raceEnabled) {
					t.Logf("n=%.0e skipped under -short or -race", float64(n))
					continue
				}
				got, want := k.Sum(0, n), exact.Sum(n)
				e := relErr(got, want)
				t.Logf("n=%.0e S=%.17g exact=%.17g error=%.3g relative", float64(n), got, want, e)
				if !(e <= 1e-15) {
					t.Errorf("n=%.0e: S=%.17g, exact %.17g, relative error %.3g > 1e-15", float64(n), got, want, e)
				}
			}
		})
	}
}

// TestSplit checks that sums over adjacent ranges add up, as the engine
// splits [0, n) between workers.
func TestSplit(t *testing.T) {
	const n = 1 << 20
	for _, k := range All() {
		if !k.Supported() {
			continue
		}
		whole := k.Sum(0, n)
		for _, cut := range []uint64{1, 31, 1000, n / 2, n - 17} {
			if e := relErr(k.Sum(0, cut)+k.Sum(cut, n), whole); e > tol {
				t.Errorf("kernel=%s: split at %d differs by %.3g", k.Name, cut, e)
			}
		}
	}
}

func TestEmptyAndPanics(t *testing.T) {
	for _, k := range All() {
		if !k.Supported() {
			continue
		}
		for _, r := range [][2]uint64{{5, 5}, {9, 3}, {MaxIndex, MaxIndex}} {
			if got := k.Sum(r[0], r[1]); got != 0 {
				t.Errorf("kernel=%s: Sum(%d, %d) = %v, want 0", k.Name, r[0], r[1], got)
			}
		}
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("kernel=%s: Sum(0, MaxIndex+1) did not panic", k.Name)
				}
			}()
			k.Sum(0, MaxIndex+1)
		}()
	}
}

func TestGenericSmall(t *testing.T) {
	// 1 + 1/9 + 1/25
	want := 1.0 + 1.0/9 + 1.0/25
	if got := sumGeneric(0, 3); got != want {
		t.Fatalf("sumGeneric(0,3) = %v, want %v", got, want)
	}
	if got := sumGeneric(5, 5); got != 0 {
		t.Fatalf("empty range = %v", got)
	}
}

func TestTable(t *testing.T) {
	all := All()
	if last := all[len(all)-1]; last.Name != "generic" || len(last.Requires) != 0 {
		t.Fatalf("last kernel = %q requiring %v, want generic requiring nothing", last.Name, last.Requires)
	}
	seen := map[string]bool{}
	for _, k := range all {
		if seen[k.Name] || k.Name != strings.ToLower(k.Name) || k.Name == "auto" {
			t.Errorf("bad or duplicate kernel name %q", k.Name)
		}
		seen[k.Name] = true
	}
	if !Best().Supported() {
		t.Errorf("Best() = %q is not supported", Best().Name)
	}
	for _, name := range []string{"", "auto"} {
		if k, err := ByName(name); err != nil || k.Name != Best().Name {
			t.Errorf("ByName(%q) = %q, %v; want %q", name, k.Name, err, Best().Name)
		}
	}
	if _, err := ByName("sse9"); err == nil || !strings.Contains(err.Error(), "unknown kernel") {
		t.Errorf("ByName(sse9) error = %v, want unknown kernel", err)
	}
	// A kernel this CPU cannot run is an error, not a silent fallback.
	saved := kernels
	kernels = append([]Kernel{{Name: "future", Requires: []cpuid.FeatureID{cpuid.AMXTILE, cpuid.AVX10}, Sum: sumGeneric}}, saved...)
	_, err := ByName("future")
	kernels = saved
	if !cpuid.CPU.Supports(cpuid.AMXTILE, cpuid.AVX10) && (err == nil || !strings.Contains(err.Error(), "lacks")) {
		t.Errorf("ByName(future) error = %v, want missing features", err)
	}
}

func TestForce(t *testing.T) {
	restore := force(t, "generic")
	if Best().Name != "generic" {
		t.Errorf("after force(generic), Best() = %q", Best().Name)
	}
	restore()
	if Best().Name != All()[0].Name && All()[0].Supported() {
		t.Errorf("after restore, Best() = %q", Best().Name)
	}
}

// FuzzKernel compares every supported kernel with sumGeneric on ranges of
// up to 1<<16 terms anywhere below MaxIndex.
func FuzzKernel(f *testing.F) {
	for _, lo := range starts {
		f.Add(lo, lo+37)
	}
	f.Add(uint64(0), uint64(1<<16))
	f.Fuzz(func(t *testing.T, lo, hi uint64) {
		hi %= MaxIndex + 1
		lo %= hi + 1
		if hi-lo > 1<<16 {
			lo = hi - lo%(1<<16)
		}
		want := sumGeneric(lo, hi)
		for _, k := range All() {
			if !k.Supported() {
				continue
			}
			if got := k.Sum(lo, hi); !(relErr(got, want) <= tol) {
				t.Errorf("kernel=%s: Sum(%d, %d) = %v, sumGeneric = %v", k.Name, lo, hi, got, want)
			}
		}
	})
}

// sink keeps benchmark results alive.
var sink float64

func BenchmarkKernel(b *testing.B) {
	for _, k := range All() {
		b.Run("kernel="+k.Name, func(b *testing.B) {
			if !k.Supported() {
				b.Skipf("CPU lacks %v", k.Requires)
			}
			for _, n := range []uint64{1 << 10, 1 << 16, 1 << 22} {
				b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
					lo := uint64(1e6) // away from k = 0, like a worker's share
					var s float64
					b.ResetTimer()
					for b.Loop() {
						s += k.Sum(lo, lo+n)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/term")
					sink = s
				})
			}
		})
	}
}
