package main

import (
	"context"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// The test binary is re-executed as each worker, which must serve the
// parent instead of running the tests again.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	os.Exit(m.Run())
}

// writeFloats writes xs to a new file in dir.
func writeFloats(t *testing.T, dir, name string, xs []float64) string {
	t.Helper()
	buf := make([]byte, 0, 8*len(xs))
	for _, x := range xs {
		buf = binary.NativeEndian.AppendUint64(buf, math.Float64bits(x))
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// adversarial returns two vectors whose products span hundreds of binades
// and cancel: huge pairs that sum to zero, planted among random values of
// random magnitude, so that a float64 loop loses the small products.
func adversarial(n int) (x, y []float64) {
	r := rand.New(rand.NewPCG(7, 9))
	x, y = make([]float64, n), make([]float64, n)
	for i := range n {
		x[i] = math.Ldexp(r.NormFloat64(), r.IntN(300)-150)
		y[i] = math.Ldexp(r.NormFloat64(), r.IntN(300)-150)
	}
	for k := 0; k+1 < n; k += n / 16 {
		big := math.Ldexp(1+r.Float64(), 200)
		x[k], y[k] = big, big
		x[n-1-k], y[n-1-k] = -big, big // x·y gains big² and loses it again
	}
	return x, y
}

// exactDot is Σ a[i]·b[i] computed exactly, rounded once to nearest.
func exactDot(a, b []float64) float64 {
	var sum, p, q big.Rat
	for i := range a {
		p.SetFloat64(a[i])
		q.SetFloat64(b[i])
		sum.Add(&sum, p.Mul(&p, &q))
	}
	f, _ := sum.Float64()
	return f
}

// TestDotExact checks every element against math/big for the one-shot
// call in every shared-memory mode and in goroutines, for 1 to 3 workers,
// and for calls on a Pool: all the same bits, the correctly rounded ones.
func TestDotExact(t *testing.T) {
	const n = 100_003
	x, y := adversarial(n)
	want := []float64{exactDot(x, y), exactDot(x, x), exactDot(y, y)}
	naive := 0.0
	for i := range x {
		naive += x[i] * y[i]
	}
	if naive == want[elemXY] {
		t.Fatalf("the data is not adversarial: a float64 loop gets x·y = %v right", naive)
	}
	dir := t.TempDir()
	xp, yp := writeFloats(t, dir, "x.f64", x), writeFloats(t, dir, "y.f64", y)
	got, err := count(xp, yp)
	if err != nil || got != n {
		t.Fatalf("count = %d, %v; want %d", got, err, n)
	}
	ctx := context.Background()
	for _, mode := range []lab.Mode{lab.Slots, lab.CAS, lab.Mutex, lab.Goroutines} {
		for w := 1; w <= 3; w++ {
			r, err := reduceOnce(ctx, xp, yp, n, engine.WithWorkers(w), lab.WithMode(mode))
			if err != nil {
				t.Fatalf("%s, %d workers: %v", mode, w, err)
			}
			if !sameBits(r.Values, want) {
				t.Errorf("%s, %d workers: got %v, want %v", mode, w, r.Values, want)
			}
		}
	}
	pooled, _, err := reducePooled(ctx, xp, yp, n, 2, engine.WithWorkers(2))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range pooled {
		if !sameBits(r.Values, want) {
			t.Errorf("pooled call %d: got %v, want %v", i+1, r.Values, want)
		}
	}
}

// TestBadFiles checks the refusals: files of different lengths, a size
// that is not whole float64s, a missing file, and a call whose files
// differ in length fails in the workers with the reason.
func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	a := writeFloats(t, dir, "a.f64", []float64{1, 2, 3})
	b := writeFloats(t, dir, "b.f64", []float64{1, 2})
	odd := filepath.Join(dir, "odd")
	if err := os.WriteFile(odd, []byte{1, 2, 3}, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][2]string{{a, b}, {a, odd}, {a, filepath.Join(dir, "missing")}} {
		if _, err := count(c[0], c[1]); err == nil {
			t.Errorf("count(%s, %s) accepted them", c[0], c[1])
		}
	}
	_, err := reduceOnce(context.Background(), a, b, 2, engine.WithWorkers(2))
	if err == nil {
		t.Fatal("a call over files of different lengths succeeded")
	}
	t.Logf("the call's error: %v", err)
}

func TestTwoProduct(t *testing.T) {
	a, b := 1+math.Ldexp(1, -30), 1+math.Ldexp(1, -30) // (1+2^-30)² = 1 + 2^-29 + 2^-60
	p, e := twoProduct(a, b)
	if p != 1+math.Ldexp(1, -29) || e != math.Ldexp(1, -60) {
		t.Errorf("twoProduct = %v + %v, want 1+2^-29 and 2^-60", p, e)
	}
}
