package superacc

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func minTimeTmp(f func([]float64), xs []float64) float64 {
	var ts []float64
	for range 3000 {
		t0 := time.Now()
		f(xs)
		ts = append(ts, float64(time.Since(t0).Nanoseconds())/float64(len(xs)))
	}
	slices.Sort(ts)
	return ts[len(ts)/10]
}

func TestTmpTiming(t *testing.T) {
	for _, w := range []bool{false, true} {
		xs := benchData(w)
		var a, b, c Acc
		for round := range 3 {
			fmt.Printf("wide=%v round %d: plain %.3f Add %.3f AddSlice %.3f AtomicAdd %.3f\n", w, round,
				minTimeTmp(func(xs []float64) {
					s := 0.0
					for _, x := range xs {
						s += x
					}
					sink = s
				}, xs),
				minTimeTmp(func(xs []float64) {
					for _, x := range xs {
						a.Add(x)
					}
				}, xs),
				minTimeTmp(b.AddSlice, xs),
				minTimeTmp(func(xs []float64) {
					for _, x := range xs {
						AtomicAdd(&c, x)
					}
				}, xs[:512]))
		}
	}
}
