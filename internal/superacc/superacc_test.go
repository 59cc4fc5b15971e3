package superacc

import (
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
)

var (
	inf    = math.Inf(1)
	nan    = math.NaN()
	negz   = math.Copysign(0, -1)
	tiny   = math.SmallestNonzeroFloat64
	ulpMax = math.Ldexp(1, 971)
	maxF   = math.MaxFloat64
)

// sumAll adds xs one by one with Add.
func sumAll(xs []float64) *Acc {
	var a Acc
	for _, x := range xs {
		a.Add(x)
	}
	return &a
}

func TestEdgeCases(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"-0", []float64{negz}, negz},
		{"-0 -0", []float64{negz, negz}, negz},
		{"-0 +0", []float64{negz, 0}, 0},
		{"+0 -0", []float64{0, negz}, 0},
		{"1 -1", []float64{1, -1}, 0},
		{"-1 1", []float64{-1, 1}, 0},
		{"-0 1 -1", []float64{negz, 1, -1}, 0},
		{"-0 -1", []float64{negz, -1}, -1},
		{"tiny tiny", []float64{tiny, tiny}, 2 * tiny},
		{"tiny -tiny", []float64{tiny, -tiny}, 0},
		{"-tiny", []float64{-tiny}, -tiny},
		{"normal-tiny", []float64{math.Ldexp(1, -1022), -tiny}, math.Float64frombits(1<<52 - 1)},
		{"subnormal+subnormal normal", []float64{math.Float64frombits(1<<52 - 1), tiny}, math.Ldexp(1, -1022)},
		{"max+max", []float64{maxF, maxF}, inf},
		{"-max-max", []float64{-maxF, -maxF}, -inf},
		{"max+max-max", []float64{maxF, maxF, -maxF}, maxF},
		{"max+ulp/2 tie", []float64{maxF, ulpMax / 2}, inf},
		{"-max-ulp/2 tie", []float64{-maxF, -ulpMax / 2}, -inf},
		{"max+ulp/2-tiny", []float64{maxF, ulpMax / 2, -tiny}, maxF},
		{"max+ulp/4", []float64{maxF, ulpMax / 4}, maxF},
		{"max+ulp/2-ulp/2", []float64{maxF, ulpMax / 2, -ulpMax / 2}, maxF},
		{"tie to even down", []float64{1, math.Ldexp(1, -53)}, 1},
		{"tie to even up", []float64{1 + math.Ldexp(1, -52), math.Ldexp(1, -53)}, 1 + math.Ldexp(1, -51)},
		{"tie broken by sticky", []float64{1, math.Ldexp(1, -53), tiny}, 1 + math.Ldexp(1, -52)},
		{"negative tie", []float64{-1, -math.Ldexp(1, -53)}, -1},
		{"1e300+1-1e300", []float64{1e300, 1, -1e300}, 1},
		{"1e308+1e-308-1e308", []float64{1e308, 1e-308, -1e308}, 1e-308},
		{"2^1023+tiny-2^1023", []float64{math.Ldexp(1, 1023), tiny, -math.Ldexp(1, 1023)}, tiny},
		{"max-max+tiny", []float64{maxF, -maxF, tiny}, tiny},
		{"0.1+0.2+0.3", []float64{0.1, 0.2, 0.3}, ref([]float64{0.1, 0.2, 0.3})},
		{"1-1e-17 x2", []float64{1, -1e-17, -1e-17}, ref([]float64{1, -1e-17, -1e-17})},
		{"+inf", []float64{1, inf}, inf},
		{"-inf", []float64{-inf, maxF, maxF}, -inf},
		{"inf inf", []float64{inf, inf}, inf},
		{"inf -inf", []float64{inf, -inf}, nan},
		{"nan", []float64{1, nan}, nan},
		{"nan inf", []float64{nan, inf}, nan},
		{"inf -max", []float64{inf, -maxF, -maxF}, inf},
		{"negative NaN payload", []float64{math.Float64frombits(0xFFF0000000000001)}, nan},
	} {
		for _, order := range []string{"forward", "reverse"} {
			in := slices.Clone(c.in)
			if order == "reverse" {
				slices.Reverse(in)
			}
			if r := ref(in); !same(r, c.want) {
				t.Errorf("%s %s: reference gives %g, table says %g", c.name, order, r, c.want)
			}
			var s Acc
			s.AddSlice(in)
			for m, got := range map[string]float64{
				"Add":       sumAll(in).Round(),
				"AddSlice":  s.Round(),
				"Sum":       Sum(in),
				"AtomicAdd": atomicSum(in),
			} {
				if !same(got, c.want) {
					t.Errorf("%s %s %s: got %g (%#x), want %g (%#x)", c.name, order, m, got, math.Float64bits(got), c.want, math.Float64bits(c.want))
				}
			}
			if z := s.IsZero(); z != (c.want == 0) {
				t.Errorf("%s %s: IsZero = %v", c.name, order, z)
			}
		}
	}
}

// TestManyTiny: long runs of the smallest subnormal, which exercise the
// automatic normalization, and 2^80 copies of one made by merging.
func TestManyTiny(t *testing.T) {
	const n = 3_000_000
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = tiny
	}
	if got := Sum(xs); got != math.Float64frombits(n) {
		t.Errorf("AddSlice: %d × tiny = %g, want %g", n, got, math.Float64frombits(n))
	}
	if got := sumAll(xs).Round(); got != math.Float64frombits(n) {
		t.Errorf("Add: %d × tiny = %g", n, got)
	}
	for i := range xs {
		xs[i] = -tiny
	}
	if got := Sum(xs); got != -math.Float64frombits(n) {
		t.Errorf("%d × -tiny = %g", n, got)
	}

	a := sumAll([]float64{tiny})
	for range 80 {
		a.Merge(a)
	}
	if got := a.Round(); got != math.Ldexp(1, 80-1074) {
		t.Errorf("2^80 × tiny = %g", got)
	}
	a.Add(1)
	if got, want := a.Round(), 1+math.Ldexp(1, 80-1074); got != want {
		t.Errorf("2^80 × tiny + 1 = %g, want %g", got, want)
	}

	// 1024 × MaxFloat64 overflows; taking 1023 of them away again is exact.
	m := sumAll([]float64{maxF})
	b := *m
	for range 10 {
		b.Merge(&b)
	}
	if got := b.Round(); got != inf {
		t.Errorf("1024 × max = %g", got)
	}
	for range 1023 {
		b.Sub(m)
	}
	if got := b.Round(); got != maxF {
		t.Errorf("1024 × max - 1023 × max = %g", got)
	}
	if b.Count() != 1 {
		t.Errorf("Count = %d, want 1", b.Count())
	}
}

// value returns Σ l[k]·2^(32k), exactly.
func value(l *[numLimbs]int64) *big.Int {
	v := new(big.Int)
	for k := topLimb; k >= 0; k-- {
		v.Lsh(v, digitBits)
		v.Add(v, big.NewInt(l[k]))
	}
	return v
}

// randLimb is an int64 of random size and sign, extremes included.
func randLimb(r *rand.Rand) int64 {
	switch r.IntN(8) {
	case 0:
		return 0
	case 1:
		return math.MaxInt64 - r.Int64N(3)
	case 2:
		return math.MinInt64 + r.Int64N(3)
	}
	return int64(r.Uint64()) >> r.IntN(64)
}

// TestNormalizeAnyLimbs: Normalize keeps the value of limbs holding any
// int64s and makes them canonical digits, and Round of such limbs is the
// correctly rounded value.
func TestNormalizeAnyLimbs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		var a Acc
		for k := range a.limbs {
			if r.IntN(4) == 0 || i%3 == 0 {
				a.limbs[k] = randLimb(r)
			}
		}
		// A small top limb and a small N come up too.
		a.limbs[topLimb] = r.Int64N(5) - 2
		if i%5 == 0 {
			for k := r.IntN(numLimbs); k < numLimbs; k++ {
				a.limbs[k] = 0
			}
			a.limbs[r.IntN(numLimbs)] = -randLimb(r) >> 3
		}
		want := value(&a.limbs)
		wantF := new(big.Float).SetInt(want)
		wantF.SetMantExp(wantF, -1074)
		wf, _ := wantF.Float64()
		a.sign[0] = 1

		if got := a.Round(); got != wf {
			t.Fatalf("case %d: Round = %g, want %g", i, got, wf)
		}
		a.Normalize()
		if got := value(&a.limbs); got.Cmp(want) != 0 {
			t.Fatalf("case %d: Normalize changed the value", i)
		}
		for k, d := range a.limbs[:topLimb] {
			if d < 0 || d > digitMask {
				t.Fatalf("case %d: limb %d = %d after Normalize", i, k, d)
			}
		}
		b := a
		b.Normalize()
		if b != a {
			t.Fatalf("case %d: Normalize is not idempotent", i)
		}
	}
}

// genValues returns n values that stress exactness: random exponents over
// the whole range, values that cancel, subnormals, ties, and sometimes
// infinities and NaN.
func genValues(r *rand.Rand, n int, specials bool) []float64 {
	xs := make([]float64, 0, n)
	for len(xs) < n {
		var x float64
		switch r.IntN(10) {
		case 0:
			x = math.Float64frombits(r.Uint64() & (1<<52 - 1)) // subnormal or 0
		case 1, 2:
			x = math.Float64frombits(r.Uint64()&^(expMask<<52) | uint64(1+r.IntN(2046))<<52)
		case 3:
			x = math.Ldexp(1+r.Float64(), r.IntN(40)-20)
		case 4:
			x = math.Ldexp(float64(r.Int64N(1<<53)), r.IntN(2098)-1074) // ties, exact powers
		case 5:
			x = []float64{maxF, -maxF, tiny, -tiny, 0, negz, 1, -1}[r.IntN(8)]
		case 6:
			if specials && r.IntN(20) == 0 {
				x = []float64{inf, -inf, nan}[r.IntN(3)]
			} else {
				x = r.NormFloat64() * 1e10
			}
		default:
			if len(xs) > 0 { // cancel an earlier value, perhaps scaled
				x = -xs[r.IntN(len(xs))]
				if r.IntN(2) == 0 {
					x *= math.Ldexp(1, r.IntN(5)-2)
				}
			} else {
				x = r.Float64()
			}
		}
		if math.IsInf(x, 0) && !specials {
			continue
		}
		xs = append(xs, x)
	}
	return xs
}

// randomGrouping sums xs in a random order and grouping: a random
// permutation cut into random parts, each summed in its own Acc by a
// random method, the parts merged in random order, some with Merge and
// some by goroutines with AtomicMerge into a shared Acc, which is then
// merged in.
func randomGrouping(r *rand.Rand, xs []float64) Acc {
	xs = slices.Clone(xs)
	r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
	var parts []Acc
	for len(xs) > 0 {
		n := 1 + r.IntN(len(xs))
		if r.IntN(2) == 0 {
			n = 1 + r.IntN(min(len(xs), 8))
		}
		var a Acc
		switch r.IntN(3) {
		case 0:
			a.AddSlice(xs[:n])
		case 1:
			for _, x := range xs[:n] {
				a.Add(x)
			}
		case 2:
			for _, x := range xs[:n] {
				AtomicAdd(&a, x)
			}
		}
		parts = append(parts, a)
		xs = xs[n:]
	}
	r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })

	var local, shared Acc
	var wg sync.WaitGroup
	for i := range parts {
		if r.IntN(2) == 0 {
			local.Merge(&parts[i])
			continue
		}
		wg.Go(func() { AtomicMerge(&shared, &parts[i]) })
	}
	wg.Wait()
	s := Snapshot(&shared)
	if r.IntN(2) == 0 {
		local.Merge(&s)
		return local
	}
	s.Merge(&local)
	return s
}

func TestOrderIndependence(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		xs := genValues(r, 1+r.IntN(300), i%4 == 0)
		want := ref(xs)
		base := sumAll(xs)
		if got := base.Round(); !same(got, want) {
			t.Fatalf("case %d: Round = %g, reference %g", i, got, want)
		}
		base.Normalize()
		for j := range 5 {
			g := randomGrouping(r, xs)
			if got := g.Round(); math.Float64bits(got) != math.Float64bits(base.Round()) {
				t.Fatalf("case %d/%d: grouped Round = %g (%#x), want %g", i, j, got, math.Float64bits(got), want)
			}
			if !g.Equal(base) {
				t.Fatalf("case %d/%d: grouped sum not Equal", i, j)
			}
			g.Normalize()
			if g != *base {
				t.Fatalf("case %d/%d: normalized states differ", i, j)
			}
		}
	}
}

func TestNeg(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 300 {
		xs := genValues(r, 1+r.IntN(50), i%3 == 0)
		neg := make([]float64, len(xs))
		for j, x := range xs {
			neg[j] = -x
		}
		a := sumAll(xs)
		a.Neg()
		if got, want := a.Round(), ref(neg); !same(got, want) {
			t.Fatalf("case %d: Neg then Round = %g, want %g", i, got, want)
		}
		if !a.Equal(sumAll(neg)) {
			t.Fatalf("case %d: Neg not Equal to the sum of negations", i)
		}
	}
	a := sumAll([]float64{negz})
	a.Neg()
	if got := a.Round(); math.Signbit(got) || got != 0 {
		t.Errorf("Neg(-0) = %g", got)
	}
}

func TestSubAndEqual(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for i := range 300 {
		xs := genValues(r, 2+r.IntN(100), i%3 == 0)
		cut := r.IntN(len(xs))
		all, head, tail := sumAll(xs), sumAll(xs[:cut]), sumAll(xs[cut:])
		all.Sub(head)
		if !all.Equal(tail) {
			t.Fatalf("case %d: all - head != tail", i)
		}
		if got, want := all.Round(), ref(xs[cut:]); !same(got, want) {
			t.Fatalf("case %d: (all - head).Round() = %g, want %g", i, got, want)
		}
		all.Sub(all)
		if !all.IsZero() || !all.Equal(&Acc{}) || all.Count() != 0 {
			t.Fatalf("case %d: a - a is not empty", i)
		}
	}
	if sumAll([]float64{1}).Equal(sumAll([]float64{2})) {
		t.Error("1 Equal 2")
	}
	if !sumAll([]float64{-1}).Equal(sumAll([]float64{-3, 2})) {
		t.Error("-1 not Equal -3+2")
	}
	if sumAll([]float64{negz}).Equal(sumAll([]float64{0})) {
		t.Error("-0 Equal +0")
	}
	if sumAll([]float64{inf}).Equal(sumAll([]float64{inf, inf})) {
		t.Error("different Inf counts Equal")
	}
	var z Acc
	z.Add(5)
	z.Reset()
	if z != (Acc{}) {
		t.Error("Reset left state behind")
	}
}

func TestMinMax(t *testing.T) {
	for _, c := range []struct{ a, b, min, max float64 }{
		{1, 2, 1, 2},
		{negz, 0, negz, 0},
		{0, negz, negz, 0},
		{negz, negz, negz, negz},
		{-inf, inf, -inf, inf},
		{nan, 1, nan, nan},
		{1, math.Float64frombits(0xFFF8000000000123), nan, nan},
		{-1, -1, -1, -1},
	} {
		if got := MinOf(c.a, c.b); !same(got, c.min) {
			t.Errorf("MinOf(%g, %g) = %g", c.a, c.b, got)
		}
		if got := MaxOf(c.a, c.b); !same(got, c.max) {
			t.Errorf("MaxOf(%g, %g) = %g", c.a, c.b, got)
		}
		if got := MinOf(c.a, c.b); math.IsNaN(got) && math.Float64bits(got) != math.Float64bits(math.NaN()) {
			t.Errorf("MinOf(%g, %g) is not the canonical NaN", c.a, c.b)
		}
	}
	// Folding in any order gives the same bits.
	r := rand.New(rand.NewPCG(11, 12))
	for i := range 500 {
		xs := []float64{0, negz, 1, -1, inf, -inf, tiny, -tiny}[:1+r.IntN(8)]
		if i%4 == 0 {
			xs = append(xs, math.Float64frombits(0x7FF0000000000000|r.Uint64()&fracMask|1))
		}
		fold := func(f func(a, b float64) float64, id float64) uint64 {
			ys := slices.Clone(xs)
			r.Shuffle(len(ys), func(i, j int) { ys[i], ys[j] = ys[j], ys[i] })
			acc := id
			for _, y := range ys {
				acc = f(acc, y)
			}
			return math.Float64bits(acc)
		}
		min1, min2 := fold(MinOf, inf), fold(MinOf, inf) // two random orders
		max1, max2 := fold(MaxOf, -inf), fold(MaxOf, -inf)
		if min1 != min2 || max1 != max2 {
			t.Fatalf("fold over %v depends on order", xs)
		}
	}
}

// TestLayout: Acc is plain int64s, 8-byte aligned, of the documented size,
// so it can live in shared memory.
func TestLayout(t *testing.T) {
	if Size != 584 || reflect.TypeFor[Acc]().Align() != 8 {
		t.Fatalf("Size = %d, align %d", Size, reflect.TypeFor[Acc]().Align())
	}
	var check func(reflect.Type)
	check = func(ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Int64:
		case reflect.Array:
			check(ty.Elem())
		case reflect.Struct:
			for f := range ty.Fields() {
				check(f.Type)
			}
		default:
			t.Errorf("Acc holds a %v", ty)
		}
	}
	check(reflect.TypeFor[Acc]())
}
