package stats

import (
	"math"
	"math/big"
)

// One pass. When the histogram's range is given, pass 1 and pass 2 can run
// together over each piece, reading the file once, if the deviations are
// taken from a shift K known beforehand instead of the mean: the variance
// is then (Σ(x − K)² − (Σx − n·K)²/n) / (n − 1), exact but for the
// rounding of each term, as with the mean, times the cancellation
// F = Σ(x − K)² / Σ(x − mean)² = 1 + n(mean − K)²/Σ(x − mean)². A K from
// an even sample of the values keeps F within a hair of 1 for any data
// that the sample represents; ShiftHolds checks F (and that no value went
// beyond the spread the plan was scaled for) afterwards, and where it
// fails the caller runs pass 2 as usual.

// MaxShiftCancellation is the most F that ShiftHolds accepts: the
// variance's error stays below (1.25 × the two-pass bound).
const MaxShiftCancellation = 1.25

// ShiftPlan is the plan of a one-pass run: deviations from K, the mean of
// the finite values of sample, scaled for a spread sixteen times the
// sample's, over the histogram range rng. Without finite values in the
// sample there is no K: the plan takes no deviations, and the caller runs
// two passes.
func ShiftPlan(sample []float64, bins int, rng [2]float64) (Plan, error) {
	t := Totals{FiniteMin: math.Inf(1), FiniteMax: math.Inf(-1)}
	s := new(big.Float).SetPrec(2300)
	for _, x := range sample {
		if math.IsInf(x, 0) || x != x {
			continue
		}
		t.Count++
		s.Add(s, new(big.Float).SetFloat64(x))
		t.FiniteMin, t.FiniteMax = min(t.FiniteMin, x), max(t.FiniteMax, x)
	}
	t.Sum = s
	p, err := NewPlan(t, bins, &rng)
	if err != nil || !p.Deviations {
		return p, err
	}
	p.Spread += 4
	p.Scale = max(p.Spread, minScale)
	if err := p.Prepare(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// ShiftHolds reports whether a one-pass run under p gave a variance as
// good as two passes would: every value within the spread p was scaled
// for, and a cancellation F of at most MaxShiftCancellation. It holds
// trivially where there is no variance to compute (fewer than 2 values,
// an infinity).
func ShiftHolds(t Totals, p Plan, sumSq *big.Float) bool {
	if t.Count < 2 || t.Sum == nil || t.Sum.IsInf() {
		return true
	}
	if !p.Deviations || sumSq == nil || sumSq.IsInf() {
		return false
	}
	// The largest |x − K| must be below 2^Spread, where the plan's scale
	// keeps the squares finite and below 2^sqExp, and above 2^(Spread−12),
	// so that the first level of sumNonNeg still takes the squares' top
	// bits (where the sample's spread was far too wide, it takes none).
	k := new(big.Float).SetFloat64(p.Mean)
	var most *big.Float
	for _, x := range []float64{t.FiniteMin, t.FiniteMax} {
		d := new(big.Float).SetPrec(2300).Sub(new(big.Float).SetFloat64(x), k) // exact at this precision
		if d.Abs(d); most == nil || d.Cmp(most) > 0 {
			most = d
		}
	}
	if most.Cmp(new(big.Float).SetMantExp(big.NewFloat(1), p.Spread)) >= 0 {
		return false
	}
	if most.Sign() != 0 && most.Cmp(new(big.Float).SetMantExp(big.NewFloat(1), p.Spread-12)) < 0 {
		return false
	}
	ss := exactRat(sumSq)
	ss.Mul(ss, pow2Rat(2*p.Scale))
	n := new(big.Rat).SetUint64(t.Count)
	d := exactRat(t.Sum)
	d.Sub(d, new(big.Rat).Mul(n, new(big.Rat).SetFloat64(p.Mean)))
	d.Mul(d, d)
	d.Quo(d, n)
	dev := new(big.Rat).Sub(ss, d) // Σ(x − mean)², as the terms give it
	if dev.Sign() <= 0 {
		return d.Sign() == 0 // all equal, and K one of them
	}
	// F = ss/dev <= MaxShiftCancellation
	return new(big.Rat).Mul(dev, new(big.Rat).SetFloat64(MaxShiftCancellation)).Cmp(ss) >= 0
}

// OnePassOps are the ops of a one-pass reduction: pass 1's elements, then
// pass 2's from OnePassOffset on.
func OnePassOps(bins int) []Op { return append(Pass1Ops(), Pass2Ops(bins)...) }

// OnePassOffset is where pass 2's elements start in a one-pass reduction.
const OnePassOffset = pass1Len

// Offset is s with every element index moved up by off: pass 2's view of
// a one-pass reduction's elements.
func Offset(s Sink, off int) Sink { return offsetSink{s, off} }

type offsetSink struct {
	s   Sink
	off int
}

func (o offsetSink) Add(i int, x float64) { o.s.Add(i+o.off, x) }

// Sample is where a one-pass run takes its sample of n values from: 64
// runs of 64 values, evenly spaced from the first to the last ([lo, hi)
// ranges; all n values when there are no more than 4096).
func Sample(n uint64) [][2]uint64 {
	const runs, run = 64, 64
	if n <= runs*run {
		return [][2]uint64{{0, n}}
	}
	out := make([][2]uint64, runs)
	for j := range uint64(runs) {
		lo := j * (n - run) / (runs - 1)
		out[j] = [2]uint64{lo, lo + run}
	}
	return out
}
