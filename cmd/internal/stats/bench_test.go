package stats

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pishm/pishm/internal/superacc"
)

// accSink is a Sink with a superaccumulator per Sum element, as the
// engine's pieces have: the cost of reporting is part of the benchmark.
type accSink struct{ acc []superacc.Acc }

func (s *accSink) Add(i int, x float64) { s.acc[i].Add(x) }

const benchPiece = 1 << 16

func benchData() []float64 { return normals(rand.New(rand.NewPCG(1, 1)), benchPiece, 1e3, 10) }

func BenchmarkPass1(b *testing.B) {
	xs := benchData()
	var sc Scratch
	s := &accSink{acc: make([]superacc.Acc, pass1Len)}
	b.SetBytes(8 * benchPiece)
	for b.Loop() {
		Pass1F64(xs, s, &sc)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchPiece), "ns/elem")
}

func BenchmarkPass2(b *testing.B) {
	for _, bins := range []int{10, 50, 1000} {
		b.Run(fmt.Sprintf("bins=%d", bins), func(b *testing.B) {
			xs := benchData()
			var sc Scratch
			s1 := newSink(Pass1Ops())
			Pass1F64(xs, s1, &sc)
			tot := Totals{Count: benchPiece, Sum: s1.exact(P1Sum), Min: s1.float(P1Min), Max: s1.float(P1Max),
				FiniteMin: s1.float(P1FiniteMin), FiniteMax: s1.float(P1FiniteMax)}
			p, err := NewPlan(tot, bins, nil)
			if err != nil {
				b.Fatal(err)
			}
			s := &accSink{acc: make([]superacc.Acc, P2Bins+bins)}
			b.SetBytes(8 * benchPiece)
			for b.Loop() {
				p.Pass2F64(xs, s, &sc)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchPiece), "ns/elem")
		})
	}
}

// BenchmarkSuperacc is what the exact sum would cost without extraction.
func BenchmarkSuperacc(b *testing.B) {
	xs := benchData()
	var a superacc.Acc
	b.SetBytes(8 * benchPiece)
	for b.Loop() {
		a.AddSlice(xs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchPiece), "ns/elem")
}

func BenchmarkExtract(b *testing.B) {
	xs := benchData()[:chunkLen]
	e := expAbove(2000)
	for b.Loop() {
		extract(xs, e)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkLen), "ns/elem")
}

func BenchmarkMinMax(b *testing.B) {
	xs := benchData()[:chunkLen]
	var sink float64
	for b.Loop() {
		lmn, lmx := 1e300, -1e300
		for _, x := range xs {
			if x < lmn {
				lmn = x
			}
			if x > lmx {
				lmx = x
			}
		}
		sink += lmn + lmx
	}
	_ = sink
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*chunkLen), "ns/elem")
}
