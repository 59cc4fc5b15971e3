package engine

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/pishm/pishm/internal/superacc"
)

// Adversarial Funcs for the reproducibility contract: each returns, for a
// piece [lo, hi), a plain left-to-right float64 sum of its terms (so the
// piece's value is a deterministic function of lo and hi, as the contract
// asks, but rounds at every step), and their terms make any reordering or
// regrouping of the pieces show in the last bits.
var reproFuncs = []struct {
	name string
	op   Op
	term func(k uint64) float64
}{
	{"repro-harmonic", Sum, func(k uint64) float64 { return 1 / float64(k+1) }},
	{"repro-sin", Sum, func(k uint64) float64 { return 1e6 * math.Sin(float64(k)) }},
	// Terms spread over 600 binades whose neighbours cancel.
	{"repro-binades", Sum, func(k uint64) float64 {
		e := int((k/2)*37%600) - 300
		x := math.Ldexp(1+float64(k%5)*0x1p-40, e)
		if k%2 == 1 {
			return -math.Ldexp(1, e) + 0x1p-900
		}
		return x
	}},
	{"repro-subnormal", Sum, func(k uint64) float64 { return math.SmallestNonzeroFloat64 * float64(k%7) }},
	{"repro-inf", Sum, func(k uint64) float64 {
		if k == 777_777 {
			return math.Inf(1)
		}
		return 1e300
	}},
	{"repro-inf-nan", Sum, func(k uint64) float64 {
		switch k {
		case 1_234_567:
			return math.Inf(1)
		case 222:
			return math.Inf(-1)
		}
		return 1
	}},
	{"repro-min-zero", Min, func(k uint64) float64 {
		if k%1000 == 999 {
			return math.Copysign(0, -1)
		}
		return float64(k%1000) * 0 // +0
	}},
	{"repro-max-nan", Max, func(k uint64) float64 {
		if k == 1_500_000 {
			return math.NaN()
		}
		return float64(k)
	}},
}

func init() {
	for _, f := range reproFuncs {
		term, op := f.term, f.op
		Register(f.name, func(_ []byte, lo, hi uint64) float64 {
			acc := op.Identity()
			for k := lo; k < hi; k++ {
				switch x := term(k); op {
				case Sum:
					acc += x
				case Min:
					acc = op.Pick(x, acc)
				default:
					acc = op.Pick(x, acc)
				}
			}
			return acc
		}, []Op{op})
	}
}

// reproWant is the contract's answer, computed here without the engine:
// the Func called on every piece of the grid, the values added exactly
// (math/big checks superacc itself) and rounded once.
func reproWant(name string, n uint64) float64 {
	j, _ := lookup(name)
	grain := DefaultGrain(n)
	var acc superacc.Acc
	op := j.ops[0]
	best := op.Identity()
	for lo := uint64(0); lo < n; lo += grain {
		v := j.f(nil, lo, min(n, lo+grain))
		acc.Add(v)
		if op != Sum {
			best = op.Pick(v, best)
		}
	}
	if op == Sum {
		return acc.Round()
	}
	return best
}

// TestReproducible reduces every adversarial Func under random worker
// counts, every mode, both schedules, random chunks and publish
// intervals, a pool, and injected SIGKILLs, and requires one bit pattern
// per Func: the exact combine of the grid's pieces.
func TestReproducible(t *testing.T) {
	checkClean(t)
	const n = 2_000_003
	rng := rand.New(rand.NewPCG(2026, 12))
	type run struct {
		name string
		opts []PoolOption
	}
	var runs []run
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex, modeGoroutines, Pipe} {
		for _, sched := range []Schedule{Static, Dynamic} {
			if sched == Dynamic && mode.IsTransport() {
				continue
			}
			w := 1 + rng.IntN(16)
			step := uint64(1 + rng.IntN(400_000))
			runs = append(runs, run{fmt.Sprintf("mode=%s/sched=%s/workers=%d/step=%d", mode, sched, w, step),
				[]PoolOption{WithWorkers(w), WithMode(mode), WithSchedule(sched), stepOf(sched, step)}})
		}
	}
	pool, err := NewPool(context.Background(), WithWorkers(3), WithMode(modeCAS), WithSchedule(Dynamic), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, f := range reproFuncs {
		t.Run(f.name, func(t *testing.T) {
			want := reproWant(f.name, n)
			check := func(how string, r Result, err error) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if math.Float64bits(r.Value) != math.Float64bits(want) && !(math.IsNaN(r.Value) && math.IsNaN(want)) {
					t.Errorf("%s: %v (%#x), want %v (%#x)", how, r.Value, math.Float64bits(r.Value), want, math.Float64bits(want))
				}
			}
			for _, r := range runs {
				v, err := Reduce(context.Background(), f.name, n, r.opts...)
				check(r.name, v, err)
			}
			v, err := pool.Reduce(context.Background(), f.name, n, WithChunk(uint64(1+rng.IntN(300_000))))
			check("pool", v, err)
			// A worker killed at its second publish: its share is redone.
			t.Setenv("PISHM_TEST_KILL", "1:journal-half:2:1")
			v, err = Reduce(context.Background(), f.name, n, WithWorkers(3), WithMode(modeMutex), WithPublish(50_000))
			check("killed", v, err)
			if len(v.Failures) == 0 {
				t.Errorf("killed: no worker died")
			}
		})
	}
}

// TestPiSameBits: the series gives one S for every worker count from 1
// to 64, every shared-memory mode, both schedules, the goroutines and a
// worker killed and redone: the grid and the exact combine make it so by
// construction, and this checks the construction.
func TestSeriesSameBits(t *testing.T) {
	checkClean(t)
	const n = 10_000_019
	var want uint64
	first := true
	check := func(how string, res Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", how, err)
		}
		if first {
			want, first = math.Float64bits(res.Value), false
			return
		}
		if math.Float64bits(res.Value) != want {
			t.Errorf("%s: S = %.17g (%#x), want %#x", how, res.Value, math.Float64bits(res.Value), want)
		}
	}
	workers := []int{1, 2, 3, 5, 8, 13, 16, 31, 64}
	if testing.Short() || raceEnabled {
		workers = []int{1, 3, 16}
	}
	// Pairwise: every worker count with every mode and both schedules, and
	// every mode with both schedules, in half the runs of the full product
	// (the schedule alternates with the worker count and the mode).
	for wi, w := range workers {
		for mi, mode := range []strategy{modeSlots, modeCAS, modeMutex, modeGoroutines} {
			sched := []Schedule{Static, Dynamic}[(wi+mi)%2]
			res, err := Run(context.Background(), "oddsq", Config{N: n, Workers: w, Mode: mode, Sched: sched})
			check(fmt.Sprintf("workers=%d mode=%s sched=%s", w, mode, sched), res, err)
		}
	}
	// Forked workers run the assembly kernel auto picks, on the same pieces.
	if auto, _ := lookup("oddsq"); auto.forkable() && forkSupported {
		for _, w := range []int{1, 3, 16} {
			res, err := Run(context.Background(), "oddsq", Config{N: n, Workers: w, Spawn: SpawnFork})
			check(fmt.Sprintf("workers=%d spawn=fork", w), res, err)
		}
	}
	t.Setenv("PISHM_TEST_KILL", "1:journal-half:1:1")
	res, err := Run(context.Background(), "oddsq", Config{N: n, Workers: 3, Mode: modeCAS, Publish: 100_000})
	check("a worker killed", res, err)
	if len(res.Failures) == 0 {
		t.Errorf("a worker killed: no worker died")
	}
}
