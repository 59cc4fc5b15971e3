package superacc

import (
	"math/rand/v2"
	"testing"
)

// Every benchmark's op is one element, so ns/op is ns per element.

const benchN = 1 << 12

func benchData(wide bool) []float64 {
	r := rand.New(rand.NewPCG(1, 1))
	xs := make([]float64, benchN)
	for i := range xs {
		if wide {
			xs[i] = genValues(r, 1, false)[0]
		} else {
			xs[i] = r.Float64()*2 - 1
		}
	}
	return xs
}

var sink float64

// runSlices feeds b.N elements to f, a slice of up to benchN at a time.
func runSlices(b *testing.B, xs []float64, f func([]float64)) {
	b.ResetTimer()
	for n := b.N; n > 0; n -= len(xs) {
		f(xs[:min(n, len(xs))])
	}
}

func benchAll(b *testing.B, wide bool) {
	xs := benchData(wide)
	b.Run("PlainSum", func(b *testing.B) {
		var s float64
		runSlices(b, xs, func(xs []float64) {
			t := 0.0 // a local, so that the loop keeps it in a register
			for _, x := range xs {
				t += x
			}
			s += t
		})
		sink = s
	})
	b.Run("Add", func(b *testing.B) {
		var a Acc
		runSlices(b, xs, func(xs []float64) {
			for _, x := range xs {
				a.Add(x)
			}
		})
		sink = a.Round()
	})
	b.Run("AddSlice", func(b *testing.B) {
		var a Acc
		runSlices(b, xs, a.AddSlice)
		sink = a.Round()
	})
	b.Run("AtomicAdd", func(b *testing.B) {
		var a Acc
		runSlices(b, xs, func(xs []float64) {
			for _, x := range xs {
				AtomicAdd(&a, x)
			}
		})
		s := Snapshot(&a)
		sink = s.Round()
	})
}

func BenchmarkUniform(b *testing.B) { benchAll(b, false) }
func BenchmarkWide(b *testing.B)    { benchAll(b, true) }

// benchShapes runs f on an Acc of uniform values in [-1, 1) (a few
// limbs in use, as most sums have) and of values of every exponent.
func benchShapes(b *testing.B, f func(b *testing.B, o *Acc)) {
	for _, wide := range []bool{false, true} {
		b.Run(map[bool]string{false: "uniform", true: "wide"}[wide], func(b *testing.B) {
			var o Acc
			o.AddSlice(benchData(wide))
			f(b, &o)
		})
	}
}

func BenchmarkRound(b *testing.B) {
	benchShapes(b, func(b *testing.B, a *Acc) {
		for b.Loop() {
			sink = a.Round()
		}
	})
}

func BenchmarkMerge(b *testing.B) {
	benchShapes(b, func(b *testing.B, o *Acc) {
		var a Acc
		for b.Loop() {
			a.Merge(o)
		}
	})
}

func BenchmarkAtomicMerge(b *testing.B) {
	benchShapes(b, func(b *testing.B, o *Acc) {
		var a Acc
		for b.Loop() {
			AtomicMerge(&a, o)
		}
	})
}
