package superacc

// The atomic accumulator: concurrent adds, merges, subtractions and
// spills give the exact total.

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
)

func atomicSum(xs []float64) float64 {
	var a Acc
	for _, x := range xs {
		AtomicAdd(&a, x)
	}
	s := Snapshot(&a)
	return s.Round()
}

// TestAtomicConcurrent: goroutines adding into one shared Acc, some value
// by value and some by merging private ones, give the exact total; then a
// "dead" worker's part is taken out again with AtomicSub.
func TestAtomicConcurrent(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const workers = 8
	var parts [workers][]float64
	var all []float64
	for w := range parts {
		parts[w] = genValues(r, 2000, false)
		all = append(all, parts[w]...)
	}
	var shared Acc
	var own [workers]Acc // what each worker added, as a supervisor would keep it
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i, x := range parts[w] {
				own[w].Add(x)
				if w%2 == 0 {
					AtomicAdd(&shared, x)
				} else if i%100 == 99 || i == len(parts[w])-1 {
					var batch Acc
					batch.AddSlice(parts[w][i-i%100 : i+1])
					AtomicMerge(&shared, &batch)
				}
			}
		})
	}
	wg.Wait()
	s := Snapshot(&shared)
	if got, want := s.Round(), ref(all); !same(got, want) {
		t.Fatalf("shared sum = %g, want %g", got, want)
	}
	if !s.Equal(sumAll(all)) {
		t.Fatal("shared sum not Equal to the sequential one")
	}
	AtomicSub(&shared, &own[3])
	s = Snapshot(&shared)
	rest := slices.Concat(parts[:3]...)
	rest = append(rest, slices.Concat(parts[4:]...)...)
	if got, want := s.Round(), ref(rest); !same(got, want) {
		t.Fatalf("after AtomicSub: %g, want %g", got, want)
	}
	if s.Count() != int64(len(rest)) {
		t.Fatalf("Count = %d, want %d", s.Count(), len(rest))
	}
}

// TestSpill: limbs pushed past the spill threshold by concurrent writers
// move their excess up and stay bounded, and the value stays exact.
func TestSpill(t *testing.T) {
	for _, start := range []int64{spillAt - 1<<33, -spillAt + 1<<33, 0} {
		var a Acc
		// Limb 32 has weight 2^(1024-1074) = 2^-50; start it (and limb 33)
		// near the threshold.
		a.limbs[32] = start
		a.limbs[33] = start
		want := value(&a.limbs)
		var wg sync.WaitGroup
		const workers, n = 4, 20000
		for w := range workers {
			wg.Go(func() {
				for i := range n {
					// 2^-18·(1+f) splits into limbs 31..33, with a digit of
					// about 2^31 in limb 32: without spills limb 32 would
					// end near start ± 2^47, past the bound checked below.
					x := math.Ldexp(1+float64(i%997)/997, -18)
					if start < 0 || (start == 0 && w%2 == 1) {
						x = -x
					}
					AtomicAdd(&a, x)
				}
			})
		}
		wg.Wait()
		var b Acc
		for w := range workers {
			for i := range n {
				x := math.Ldexp(1+float64(i%997)/997, -18)
				if start < 0 || (start == 0 && w%2 == 1) {
					x = -x
				}
				b.Add(x)
			}
		}
		b.Normalize()
		want.Add(want, value(&b.limbs))
		if got := value(&a.limbs); got.Cmp(want) != 0 {
			t.Fatalf("start %d: value changed by spills", start)
		}
		for k, l := range a.limbs {
			if l >= spillAt+1<<42 || l <= -spillAt-1<<42 {
				t.Fatalf("start %d: limb %d = %d out of bounds", start, k, l)
			}
		}
	}
}
