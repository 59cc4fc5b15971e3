package stats

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
)

// Totals is what pass 1 gives for the whole array.
type Totals struct {
	Count uint64 // the non-NaN values
	NaN   uint64
	// Sum is the exact sum of the non-NaN values: ±Inf when there are
	// infinities of one sign, nil when of both (NaN).
	Sum                  *big.Float
	Min, Max             float64 // of the non-NaN values (NaN when there are none)
	FiniteMin, FiniteMax float64 // of the finite values (±Inf when there are none)
}

// Mean is the exact sum divided by the count, rounded once (NaN for no
// values).
func (t Totals) Mean() float64 {
	switch {
	case t.Count == 0 || t.Sum == nil:
		return math.NaN()
	case t.Sum.IsInf(), t.Sum.Sign() == 0: // ±Inf, or ±0 (a sum of -0s is -0, and so is its mean)
		f, _ := t.Sum.Float64()
		return f
	}
	q := exactRat(t.Sum)
	q.Quo(q, new(big.Rat).SetUint64(t.Count))
	f, _ := q.Float64()
	return f
}

func exactRat(f *big.Float) *big.Rat {
	r, _ := f.Rat(nil) // exact for a finite Float
	return r
}

// Result is the outcome.
type Result struct {
	Count     uint64
	NaN       uint64
	Sum       float64 // correctly rounded (math.fsum of the non-NaN values)
	Mean      float64 // correctly rounded
	Variance  float64 // sample variance (n − 1); NaN for fewer than 2 values or with infinities
	Std       float64 // its square root
	Min, Max  float64
	Histogram Histogram
}

// Histogram is the counts of values in Bins equal bins between Edges[0]
// and Edges[Bins] (the last bin closed); Below and Above count the non-NaN
// values outside (infinities included), so that the counts, Below and
// Above add up to Count.
type Histogram struct {
	Edges  []float64
	Counts []uint64
	Below  uint64
	Above  uint64
}

// Finish combines pass 1's totals and pass 2's sums (sumSq exact, nil
// when the plan took no deviations; bins and the counts outside as pass 2
// reduced them) into the result.
func Finish(t Totals, p Plan, sumSq *big.Float, bins []float64, below, above float64) Result {
	r := Result{Count: t.Count, NaN: t.NaN, Mean: t.Mean(), Min: t.Min, Max: t.Max}
	r.Sum = math.NaN()
	if t.Sum != nil {
		r.Sum, _ = t.Sum.Float64()
	}
	if t.Count == 0 {
		r.Min, r.Max = math.NaN(), math.NaN()
	}
	r.Variance, r.Std = variance(t, p, sumSq)
	r.Histogram = Histogram{Edges: Edges(p.Lo, p.Hi, p.Bins), Counts: make([]uint64, p.Bins), Below: uint64(below), Above: uint64(above)}
	for k := range r.Histogram.Counts {
		r.Histogram.Counts[k] = uint64(bins[k])
	}
	return r
}

// variance is (Σ(x − m)² − (Σx − n·m)²/n) / (n − 1), computed exactly from
// the exact sums and rounded once, and its square root.
func variance(t Totals, p Plan, sumSq *big.Float) (v, std float64) {
	if t.Count < 2 || !p.Deviations || sumSq == nil || sumSq.IsInf() || t.Sum == nil || t.Sum.IsInf() {
		return math.NaN(), math.NaN()
	}
	n := new(big.Rat).SetUint64(t.Count)
	ss := exactRat(sumSq)
	ss.Mul(ss, pow2Rat(2*p.Scale))
	d := exactRat(t.Sum)
	d.Sub(d, new(big.Rat).Mul(n, new(big.Rat).SetFloat64(p.Mean)))
	d.Mul(d, d)
	d.Quo(d, n)
	ss.Sub(ss, d)
	if ss.Sign() < 0 { // cannot happen with exact sums, but never report a negative variance
		ss.SetInt64(0)
	}
	ss.Quo(ss, new(big.Rat).SetUint64(t.Count-1))
	v, _ = ss.Float64()
	x := new(big.Float).SetPrec(256).SetRat(ss)
	std, _ = new(big.Float).SetPrec(53).Sqrt(x).Float64()
	return v, std
}

// pow2Rat is 2^k exactly.
func pow2Rat(k int) *big.Rat {
	one := big.NewInt(1)
	if k >= 0 {
		return new(big.Rat).SetInt(new(big.Int).Lsh(one, uint(k)))
	}
	return new(big.Rat).SetFrac(one, new(big.Int).Lsh(one, uint(-k)))
}

// MarshalJSON writes the result as one object with the fields in a fixed
// order: count, sum, mean, variance, std, min, max, nan and histogram
// {edges, counts, below, above}. Numbers that JSON cannot hold are strings:
// "NaN", "+Inf", "-Inf".
func (r Result) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"count":`)
	b.WriteString(strconv.FormatUint(r.Count, 10))
	for _, f := range []struct {
		name string
		v    float64
	}{{"sum", r.Sum}, {"mean", r.Mean}, {"variance", r.Variance}, {"std", r.Std}, {"min", r.Min}, {"max", r.Max}} {
		b.WriteString(`,"` + f.name + `":`)
		b.WriteString(jsonFloat(f.v))
	}
	b.WriteString(`,"nan":` + strconv.FormatUint(r.NaN, 10))
	b.WriteString(`,"histogram":{"edges":[`)
	for i, e := range r.Histogram.Edges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(jsonFloat(e))
	}
	b.WriteString(`],"counts":[`)
	for i, c := range r.Histogram.Counts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatUint(c, 10))
	}
	b.WriteString(`],"below":` + strconv.FormatUint(r.Histogram.Below, 10))
	b.WriteString(`,"above":` + strconv.FormatUint(r.Histogram.Above, 10) + `}}`)
	return b.Bytes(), nil
}

// jsonFloat formats f as encoding/json does (the shortest decimal that
// reads back as the same bits), or as a string when JSON has no number for
// it.
func jsonFloat(f float64) string {
	switch {
	case f != f:
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"+Inf"`
	case math.IsInf(f, -1):
		return `"-Inf"`
	}
	out, _ := json.Marshal(f)
	return string(out)
}
