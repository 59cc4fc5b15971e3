package engine

import (
	"context"
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine/internal/exact"
)

// The adversarial vector Func: k = vecFixed + vecBins elements, each term
// k contributing to every element, so that each element's exact answer
// is known from the terms alone (math/big below), whatever the pieces.
const (
	vecFixed = 6
	vecBins  = 64
	vecName  = "vec-adversarial"
	vecWide  = "vec-maxk"
)

var vecOps = func() []Op {
	ops := []Op{Sum, Sum, Sum, Min, Max, Max}
	for range vecBins {
		ops = append(ops, Sum)
	}
	return ops
}()

// vecTerm is term k's value for each fixed element: a count, terms over
// 600 binades whose neighbours cancel, 1e6·sin(k) (its sum, min and max),
// and a Max that one NaN term decides.
func vecTerm(k uint64) [vecFixed]float64 {
	e := int((k/2)*37%600) - 300
	b := math.Ldexp(1+float64(k%5)*0x1p-40, e)
	if k%2 == 1 {
		b = -math.Ldexp(1, e) + 0x1p-900
	}
	s := 1e6 * math.Sin(float64(k))
	nan := float64(k)
	if k == 123_457 {
		nan = math.NaN()
	}
	return [vecFixed]float64{1, b, s, s, s, nan}
}

// vecBin is term k's histogram bin.
func vecBin(k uint64) int { return int(k * k % vecBins) }

func init() {
	Register(vecName, func(_ []byte, lo, hi uint64, v *Vector) {
		sines := make([]float64, 0, hi-lo)
		for k := lo; k < hi; k++ {
			t := vecTerm(k)
			for e, x := range t {
				if e != 2 {
					v.Add(e, x)
				}
			}
			sines = append(sines, t[2])
			v.Add(vecFixed+vecBin(k), 1)
		}
		v.AddSlice(2, sines)
	}, vecOps)
	wide := make([]Op, MaxK)
	for i := range wide {
		wide[i] = Sum
	}
	wide[MaxK-1] = Max
	Register(vecWide, func(_ []byte, lo, hi uint64, v *Vector) {
		for k := lo; k < hi; k++ {
			v.Add(int(k%(MaxK-1)), 1)
			v.Add(MaxK-1, float64(k))
		}
	}, wide)
}

// vecWant is each element's exact answer over [0, n), computed with
// math/big and the terms alone: the sums exactly, rounded once.
func vecWant(n uint64) (values []float64, exact []*big.Float) {
	k := len(vecOps)
	sums := make([]*big.Float, k)
	for i := range sums {
		sums[i] = new(big.Float).SetPrec(2400)
	}
	best := []float64{3: math.Inf(1), 4: math.Inf(-1), 5: math.Inf(-1)}
	var x big.Float
	for t := uint64(0); t < n; t++ {
		v := vecTerm(t)
		for _, e := range []int{0, 1, 2} {
			sums[e].Add(sums[e], x.SetFloat64(v[e]))
		}
		best[3] = math.Min(best[3], v[3])
		best[4] = math.Max(best[4], v[4])
		if math.IsNaN(v[5]) || math.IsNaN(best[5]) {
			best[5] = math.NaN()
		} else {
			best[5] = math.Max(best[5], v[5])
		}
		b := sums[vecFixed+vecBin(t)]
		b.Add(b, x.SetFloat64(1))
	}
	values = make([]float64, k)
	for e := range values {
		if vecOps[e] == Sum {
			values[e], _ = sums[e].Float64()
		} else {
			values[e] = best[e]
			sums[e] = nil
			if !math.IsNaN(best[e]) {
				sums[e] = new(big.Float).SetFloat64(best[e])
			}
		}
	}
	return values, sums
}

// TestVectorReproducible: every element of a vector reduction is its
// exact answer, bit for bit, under every shared-memory mode, both
// schedules, the transports of package transport (a message per element;
// unix, tcp and redis are cmd/pishm-full's to test), worker counts from 1 to 16, the goroutines, a pool with and
// without the caller's share, and a worker killed mid-share.
func TestVectorReproducible(t *testing.T) {
	checkClean(t)
	const n = 300_007
	want, exact := vecWant(n)
	check := func(how string, r Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if len(r.Values) != len(want) {
			t.Fatalf("%s: %d values, want %d", how, len(r.Values), len(want))
		}
		for e, v := range r.Values {
			if math.Float64bits(v) != math.Float64bits(want[e]) && !(math.IsNaN(v) && math.IsNaN(want[e])) {
				t.Errorf("%s: element %d = %v (%#x), want %v (%#x)", how, e, v, math.Float64bits(v), want[e], math.Float64bits(want[e]))
			}
			got := r.Partial.Exact(e)
			switch {
			case (got == nil) != (exact[e] == nil):
				t.Errorf("%s: Exact(%d) = %v, want %v", how, e, got, exact[e])
			case got != nil && got.Cmp(exact[e]) != 0:
				t.Errorf("%s: Exact(%d) = %s, want %s", how, e, got.Text('g', 30), exact[e].Text('g', 30))
			}
		}
		if math.Float64bits(r.Value) != math.Float64bits(r.Values[0]) {
			t.Errorf("%s: Value %v is not Values[0] %v", how, r.Value, r.Values[0])
		}
		var count float64
		for _, c := range r.Values[vecFixed:] {
			count += c
		}
		if count != n {
			t.Errorf("%s: the histogram counts %v terms, want %d", how, count, n)
		}
	}
	workers := []int{1, 2, 5, 16}
	i := 0
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex, modeGoroutines, File, Pipe, FIFO, Socketpair, PosixMQ, SysVMQ} {
		for _, sched := range []Schedule{Static, Dynamic} {
			if sched == Dynamic && mode.IsTransport() {
				continue
			}
			w := workers[i%len(workers)]
			i++
			step := uint64(7_919 * i)
			r, err := Reduce(context.Background(), vecName, n, WithWorkers(w), WithMode(mode), WithSchedule(sched), stepOf(sched, step))
			check(fmt.Sprintf("mode=%s/sched=%s/workers=%d/step=%d", mode, sched, w, step), r, err)
		}
	}
	for _, caller := range []bool{false, true} {
		p, err := NewPool(context.Background(), WithWorkers(3), WithMode(modeCAS), WithInProcessBelow(0), WithCallerShare(caller))
		if err != nil {
			t.Fatal(err)
		}
		var r Result
		for call := range 2 { // the second call reuses r's memory
			err := p.ReduceInto(context.Background(), &r, vecName, n, WithSchedule(Dynamic), WithChunk(20_000))
			check(fmt.Sprintf("pool caller=%v call %d", caller, call), r, err)
		}
		// A scalar call on the same pool between vector calls.
		s, err := p.Reduce(context.Background(), "oddsq", 1000)
		if err != nil || len(s.Values) != 1 || s.Values[0] != s.Value {
			t.Errorf("pool caller=%v: a scalar call gave %v, %v", caller, s.Values, err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// A worker killed at its second publish: its share is redone.
	t.Setenv("PISHM_TEST_KILL", "1:journal-half:2:1")
	for _, mode := range []strategy{modeMutex, FIFO} {
		r, err := Reduce(context.Background(), vecName, n, WithWorkers(3), WithMode(mode), WithPublish(20_000))
		check("killed/mode="+string(mode), r, err)
		if len(r.Failures) == 0 {
			t.Errorf("killed/mode=%s: no worker died", mode)
		}
	}
}

// TestVectorMaxK: a reduction of MaxK elements runs in every
// shared-memory mode and through a stream and a queue, and gives each
// element its exact count.
func TestVectorMaxK(t *testing.T) {
	checkClean(t)
	const n = 100_003
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex, modeGoroutines, Pipe, PosixMQ} {
		r, err := Reduce(context.Background(), vecWide, n, WithWorkers(3), WithMode(mode))
		if err != nil {
			t.Fatalf("mode=%s: %v", mode, err)
		}
		for e := range MaxK - 1 {
			want := float64(n / (MaxK - 1))
			if uint64(e) < n%(MaxK-1) {
				want++
			}
			if r.Values[e] != want {
				t.Fatalf("mode=%s: element %d = %v, want %v", mode, e, r.Values[e], want)
			}
		}
		if r.Values[MaxK-1] != n-1 {
			t.Errorf("mode=%s: max = %v, want %d", mode, r.Values[MaxK-1], n-1)
		}
	}
}

// TestVectorErrors: the limits of k say what went wrong.
func TestVectorErrors(t *testing.T) {
	checkClean(t)
	mustPanic := func(what string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", what)
			}
		}()
		f()
	}
	mustPanic("k = MaxK+1", func() { Register("vec-too-wide", func([]byte, uint64, uint64, *Vector) {}, make([]Op, MaxK+1)) })
	mustPanic("k = 0", func() { Register("vec-empty", func([]byte, uint64, uint64, *Vector) {}, nil) })
	mustPanic("a bad op", func() { Register("vec-bad-op", func([]byte, uint64, uint64, *Vector) {}, []Op{Sum, 9}) })
	_, err := Reduce(context.Background(), vecName, 1000, WithConfig(Config{Mode: Racy, AllowRacy: true}))
	if err == nil || !strings.Contains(err.Error(), "racy") {
		t.Errorf("the racy mode: err = %v", err)
	}
	p, err := NewPool(context.Background(), WithWorkers(1), WithMaxK(4), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	_, err = p.Reduce(context.Background(), vecName, 1000)
	if err == nil || !strings.Contains(err.Error(), "WithMaxK") {
		t.Errorf("a pool too narrow: err = %v", err)
	}
	// The pool is still usable.
	if r, err := p.Reduce(context.Background(), "oddsq", 1000); err != nil || r.Value != exact.Sum(1000) && math.Abs(r.Value-exact.Sum(1000)) > 1e-15 {
		t.Errorf("after a refused call: %v, %v", r.Value, err)
	}
	if _, err := NewPool(context.Background(), WithWorkers(1), WithMaxK(MaxK+1)); err == nil {
		t.Errorf("WithMaxK(MaxK+1): no error")
	}
}
