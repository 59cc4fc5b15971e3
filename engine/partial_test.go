package engine

import (
	"context"
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/pishm/pishm/engine/partial"
)

// TestPartialMerge cuts reductions into grid-aligned ranges, reduces each
// apart (other worker counts, modes and schedules), and checks that the
// merged Partials give, bit for bit, the Value of one Reduce over the
// whole, in any merge order, and that the binary form round-trips.
func TestPartialMerge(t *testing.T) {
	ctx := context.Background()
	const n = 3_000_001
	for _, f := range reproFuncs {
		t.Run(f.name, func(t *testing.T) {
			whole, err := Reduce(ctx, f.name, n, WithWorkers(2))
			if err != nil {
				t.Fatal(err)
			}
			g := whole.Grain
			pieces := (n + g - 1) / g
			cuts := []uint64{0, 1 * g, pieces / 3 * g, (pieces - 1) * g, n}
			var parts []partial.Partial
			for i := 0; i+1 < len(cuts); i++ {
				lo, hi := cuts[i], cuts[i+1]
				r, err := Reduce(ctx, f.name, hi-lo, WithOffset(lo), WithGrain(g), WithWorkers(1+i%3), WithMode([]strategy{modeSlots, modeCAS, modeMutex, modeGoroutines}[i%4]))
				if err != nil {
					t.Fatal(err)
				}
				p := r.Partial
				if len(p.Ops()) != 1 || p.Ops()[0] != f.op || math.Float64bits(p.Value()) != math.Float64bits(r.Value) {
					t.Fatalf("[%d, %d): partial.Partial %v of op %v, Value %v; the Result's %v", lo, hi, p, p.Ops()[0], p.Value(), r.Value)
				}
				b, _ := p.MarshalBinary()
				var q partial.Partial
				if err := q.UnmarshalBinary(b); err != nil || !q.Equal(p) {
					t.Fatalf("round trip: %v, equal %v", err, q.Equal(p))
				}
				parts = append(parts, q)
			}
			for _, order := range [][]int{{0, 1, 2, 3}, {3, 1, 0, 2}} {
				total := partial.New(f.op)
				for _, i := range order {
					if err := total.Merge(parts[i]); err != nil {
						t.Fatal(err)
					}
				}
				if got, want := total.Value(), whole.Value; math.Float64bits(got) != math.Float64bits(want) {
					t.Fatalf("order %v: merged %v (%x), one Reduce %v (%x)", order, got, math.Float64bits(got), want, math.Float64bits(want))
				}
				if !total.Equal(whole.Partial) {
					t.Fatalf("order %v: merged state differs from one Reduce's", order)
				}
			}
			total := partial.New(f.op)
			for _, p := range parts {
				total.Merge(p)
			}
			if v := total.Value(); v != whole.Value && !math.IsNaN(v) || FormatOps(total.Ops()) != f.op.String() || !total.Equal(whole.Partial) {
				t.Fatalf("merged %v, want the value and state of %+v", total, whole)
			}
			if ops, ok := FuncOps(f.name); !ok || len(ops) != 1 || ops[0] != f.op {
				t.Fatalf("FuncOps(%q) = %v, %v", f.name, ops, ok)
			}
		})
	}
}

// TestPartialExact checks a merged Sum against the exact answer: a sum of
// subnormal multiples over [0, n) cut in two, each reduced apart, must be
// the exact integer count of units.
func TestPartialExact(t *testing.T) {
	ctx := context.Background()
	const n = 1 << 20
	g := DefaultGrain(n)
	total := partial.New(Sum)
	for _, r := range [][2]uint64{{0, 7 * g}, {7 * g, n}} {
		red, err := Reduce(ctx, "repro-subnormal", r[1]-r[0], WithOffset(r[0]), WithGrain(g), WithWorkers(2))
		if err != nil {
			t.Fatal(err)
		}
		if err := total.Merge(red.Partial); err != nil {
			t.Fatal(err)
		}
	}
	// Each term is SmallestNonzero * (k%7), exact in float64 and in any
	// sum of them below 2^53 units: the total is exactly units*2^-1074.
	units := new(big.Int)
	for k := uint64(0); k < n; k++ {
		units.Add(units, big.NewInt(int64(k%7)))
	}
	want, _ := new(big.Float).SetMantExp(new(big.Float).SetInt(units), -1074).Float64()
	if got := total.Value(); got != want {
		t.Fatalf("merged %v, exact %v", got, want)
	}
}

func TestPartialErrors(t *testing.T) {
	s, m := partial.New(Sum), partial.New(Max)
	if err := s.Merge(m); err == nil {
		t.Fatal("a Sum merged a Max")
	}
	if _, ok := FuncOps("no-such-func"); ok {
		t.Fatal("FuncOps found an unregistered name")
	}
	if ops, err := ParseOps("sum,min,max"); err != nil || len(ops) != 3 || ops[1] != Min {
		t.Fatalf("ParseOps: %v, %v", ops, err)
	}
	if _, err := ParseOps("sum,avg"); err == nil {
		t.Fatal("ParseOps took avg")
	}
	if err := s.Merge(partial.Partial{}); err == nil {
		t.Fatal("an empty partial.Partial merged into a Sum")
	}
	var zero Result
	if len(zero.Partial.Ops()) != 0 {
		t.Fatal("a zero Result has a partial.Partial")
	}
	b, _ := s.MarshalBinary()
	for _, bad := range [][]byte{nil, b[:5], b[:len(b)-1], append(b, 0), append([]byte("xsp1"), b[4:]...)} {
		var p partial.Partial
		if err := p.UnmarshalBinary(bad); !errors.Is(err, partial.ErrBadForm) {
			t.Errorf("%d bytes: err %v, want partial.ErrBadForm", len(bad), err)
		}
	}
	if v := partial.New(Min).Value(); !math.IsInf(v, 1) {
		t.Fatalf("empty Min: %v", v)
	}
	// A copy does not change with the original.
	c := s
	one := partial.New(Sum)
	one.Add(0, 1)
	if err := s.Merge(one); err != nil || c.Value() != 0 || s.Value() != 1 {
		t.Fatalf("copy %v, merged %v (%v)", c.Value(), s.Value(), err)
	}
	if len(BuildID()) != 32 {
		t.Fatalf("BuildID %q", BuildID())
	}
}

// TestPartialVector: a k-wide reduction cut into grid-aligned ranges on
// several strategies merges, through the binary form, into the exact
// answer of each element (vecWant, from the terms alone).
func TestPartialVector(t *testing.T) {
	ctx := context.Background()
	const n = 400_000
	g := DefaultGrain(n)
	var total partial.Partial
	for i, r := range [][2]uint64{{0, 3 * g}, {3 * g, 5 * g}, {5 * g, n}} {
		red, err := Reduce(ctx, vecName, r[1]-r[0], WithOffset(r[0]), WithGrain(g), WithWorkers(2), WithMode([]strategy{modeSlots, modeCAS, modeGoroutines}[i]))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := red.Partial.MarshalBinary()
		var p partial.Partial
		if err := p.UnmarshalBinary(b); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			total = p
		} else if err := total.Merge(p); err != nil {
			t.Fatal(err)
		}
	}
	want, _ := vecWant(n)
	got := total.Values()
	if len(got) != len(vecOps) || FormatOps(total.Ops()) != FormatOps(vecOps) {
		t.Fatalf("%d values, ops %v", len(got), total.Ops())
	}
	for e := range want {
		if math.Float64bits(got[e]) != math.Float64bits(want[e]) && !(math.IsNaN(got[e]) && math.IsNaN(want[e])) {
			t.Errorf("element %d: %v, exact %v", e, got[e], want[e])
		}
	}
	if ops, ok := FuncOps(vecName); !ok || len(ops) != len(vecOps) {
		t.Errorf("FuncOps: %v %v", ops, ok)
	}
}

// TestPartialFolds checks the pointer conversion from a partial.Partial to
// its folds (partialFolds) against package partial's own methods.
func TestPartialFolds(t *testing.T) {
	p := partial.New(Sum, Min)
	p.Add(0, 1.5)
	p.Add(1, -2)
	f := *partialFolds(&p)
	if len(f) != 2 || f[0].Value() != 1.5 || f[1].Value() != -2 || f[1].Op != Min {
		t.Fatalf("the folds of %v read %+v", p, f)
	}
	var q partial.Partial
	*partialFolds(&q) = f
	if !q.Equal(p) || q.Len() != 2 {
		t.Fatalf("a Partial given %+v reads %v, want %v", f, q, p)
	}
}
