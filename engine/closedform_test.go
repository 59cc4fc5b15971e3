package engine

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
)

// Funcs with a closed form: a telescoping series, 1/((k+1)(k+2)) summed
// over [lo, hi) is 1/(lo+1) − 1/(hi+1); the liar drops the term k = 1000
// (about 1e-6 of a sum near 1: far beyond Tolerance), as a kernel bug
// might.
func init() {
	tele := func(lo, hi uint64) float64 {
		var s float64
		for k := lo; k < hi; k++ {
			s += 1 / (float64(k+1) * float64(k+2))
		}
		return s
	}
	closed := func(_ []byte, lo, hi uint64) float64 {
		// 1/(lo+1) − 1/(hi+1) = (hi − lo) / ((lo+1)(hi+1)), without cancellation
		return float64(hi-lo) / (float64(lo+1) * float64(hi+1))
	}
	Register("test-closed", func(_ []byte, lo, hi uint64) float64 { return tele(lo, hi) }, []Op{Sum}, WithClosedForm(closed))
	Register("test-closed-liar", func(_ []byte, lo, hi uint64) float64 {
		s := tele(lo, hi)
		if lo <= 1000 && 1000 < hi {
			s -= 1 / (1001.0 * 1002.0)
		}
		return s
	}, []Op{Sum}, WithClosedForm(closed))
}

// TestClosedFormGate: a Func registered with a closed form is checked
// against it as every call is checked, whichever way it runs: a right sum passes,
// a wrong one comes back with ErrInexact and the Result.
func TestClosedFormGate(t *testing.T) {
	checkClean(t)
	ctx := context.Background()
	const n = 1 << 20
	exact := float64(n) / float64(n+1)
	pool, err := NewPool(ctx, WithWorkers(2), WithInProcessBelow(1<<12))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	runs := map[string]func(name string, n uint64) (Result, error){
		"Reduce":            func(name string, n uint64) (Result, error) { return Reduce(ctx, name, n, WithWorkers(2)) },
		"Reduce/goroutines": func(name string, n uint64) (Result, error) { return Reduce(ctx, name, n, WithMode(modeGoroutines)) },
		"Pool":              func(name string, n uint64) (Result, error) { return pool.Reduce(ctx, name, n) },
	}
	for how, run := range runs {
		r, err := run("test-closed", n)
		if err != nil || math.Abs(r.Value-exact) > Tolerance*exact {
			t.Errorf("%s: test-closed = %v, %v; want %v", how, r.Value, err, exact)
		}
		r, err = run("test-closed-liar", n)
		if !errors.Is(err, ErrInexact) || !strings.Contains(err.Error(), `"test-closed-liar" over [0, 1048576)`) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: the liar gave %v, err %v; want one line wrapping ErrInexact naming the Func and range", how, r.Value, err)
		} else if r.Value == 0 || r.N != n {
			t.Errorf("%s: the liar's Result is not returned with the error: %+v", how, r)
		}
	}
	// Below the pool's in-process threshold, and on a range that does not
	// hold the lie: the gate uses the call's own range.
	if r, err := pool.Reduce(ctx, "test-closed-liar", 1000); err != nil {
		t.Errorf("pool, in-process, n=1000: %v, %v", r.Value, err)
	}
	if _, err := pool.Reduce(ctx, "test-closed-liar", 2000); !errors.Is(err, ErrInexact) {
		t.Errorf("pool, in-process, n=2000: err %v, want ErrInexact", err)
	}
	// The pool is still whole after the failed calls.
	if r, err := pool.Reduce(ctx, "test-closed", n); err != nil || math.Abs(r.Value-exact) > Tolerance*exact {
		t.Errorf("pool after the liar: %v, %v", r.Value, err)
	}
}

func TestClosedFormOnlyForSum(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "scalar Sum") {
			t.Errorf("Register of a Max with a closed form: recover() = %v", r)
		}
	}()
	Register("test-closed-max", func(_ []byte, lo, hi uint64) float64 { return 0 }, []Op{Max}, WithClosedForm(func([]byte, uint64, uint64) float64 { return 0 }))
}
