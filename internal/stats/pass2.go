package stats

import (
	"errors"
	"fmt"
	"math"
)

// minScale is the least Plan.Scale: 2^1020 is a float64.
const minScale = -1020

// MaxBins bounds a histogram's bins: with the three other elements of pass
// 2 they fit in the engine's widest reduction (4096 elements).
const MaxBins = 4093

// Plan is what pass 2 needs from pass 1 and the command line. It travels
// to the workers as JSON; Prepare derives the rest.
type Plan struct {
	// Deviations says whether to sum (x − Mean)²: false when the mean is
	// not finite (an infinity in the data), and the variance is NaN.
	Deviations bool `json:"deviations"`
	// Mean is the mean rounded to float64: deviations are taken from it.
	Mean float64 `json:"mean"`
	// Spread is the least e with |x − Mean| < 2^e for every x, and Scale
	// the power of two the deviations are divided by: Spread, but at least
	// minScale (2^−Scale must be a float64). Every scaled deviation is
	// below 1 and its square neither overflows nor underflows.
	Spread int `json:"spread"`
	Scale  int `json:"scale"`
	// Lo and Hi are the histogram's range, Bins its number of bins: bin k
	// holds Lo+k·step <= x < Lo+(k+1)·step (the last one closed), step
	// = (Hi − Lo)/Bins, with the edges computed as numpy.linspace does.
	Lo   float64 `json:"lo"`
	Hi   float64 `json:"hi"`
	Bins int     `json:"bins"`

	edges     []float64
	norm      float64 // Bins / (Hi − Lo), on values scaled by half
	half      float64 // 1, or 0.5 when Hi − Lo overflows
	loHalf    float64 // Lo·half
	scale     float64 // 2^−Scale
	sqExp     int     // the squares of the scaled deviations are below 2^sqExp
	meanScale float64 // Mean·2^−Scale
}

// NewPlan makes pass 2's plan from pass 1's totals. lo, hi give the
// histogram's range; when nil, it is the finite values' [min, max], widened
// by a half on each side when they are equal (as numpy does).
func NewPlan(t Totals, bins int, rng *[2]float64) (Plan, error) {
	if bins < 1 || bins > MaxBins {
		return Plan{}, fmt.Errorf("bins must be in [1, %d], got %d", MaxBins, bins)
	}
	p := Plan{Bins: bins}
	if rng != nil {
		p.Lo, p.Hi = rng[0], rng[1]
		if math.IsInf(p.Lo, 0) || math.IsInf(p.Hi, 0) || p.Lo != p.Lo || p.Hi != p.Hi {
			return Plan{}, fmt.Errorf("range %v:%v is not finite", p.Lo, p.Hi)
		}
		if p.Lo > p.Hi {
			return Plan{}, fmt.Errorf("range %v:%v has its low end above its high end", p.Lo, p.Hi)
		}
	} else if t.Count > 0 && t.FiniteMin <= t.FiniteMax {
		p.Lo, p.Hi = t.FiniteMin, t.FiniteMax
	}
	if p.Lo == p.Hi {
		p.Lo, p.Hi = p.Lo-0.5, p.Hi+0.5
	}
	mean := t.Mean()
	if !math.IsInf(mean, 0) && mean == mean {
		p.Deviations, p.Mean = true, mean
		// The largest deviation: from the finite extremes, halved first
		// where the difference would overflow.
		s := max(t.FiniteMax-mean, mean-t.FiniteMin)
		e := 0
		if math.IsInf(s, 0) {
			s, e = max(t.FiniteMax/2-mean/2, mean/2-t.FiniteMin/2), 1
		}
		if s > 0 {
			e += expAbove(s)
		}
		p.Spread, p.Scale = e, max(e, minScale)
	}
	if err := p.Prepare(); err != nil {
		return Plan{}, err
	}
	return p, nil
}

// Prepare derives the histogram's edges and the scale factors from the
// exported fields (after a Plan was decoded).
func (p *Plan) Prepare() error {
	if p.Bins < 1 || p.Bins > MaxBins || !(p.Lo < p.Hi) || math.IsInf(p.Lo, 0) || math.IsInf(p.Hi, 0) {
		return errors.New("stats: bad plan")
	}
	if p.Scale < minScale || p.Scale > 1030 || p.Spread > p.Scale || p.Spread < -1080 {
		return errors.New("stats: bad plan scale")
	}
	p.sqExp = 2*(p.Spread-p.Scale) + 1 // every square is below 2^sqExp
	p.edges = Edges(p.Lo, p.Hi, p.Bins)
	p.half = 1
	if math.IsInf(p.Hi-p.Lo, 0) {
		p.half = 0.5
	}
	p.loHalf = p.Lo * p.half
	p.norm = float64(p.Bins) / (p.Hi*p.half - p.loHalf)
	p.scale = math.Ldexp(1, -p.Scale)
	p.meanScale = p.Mean * p.scale
	return nil
}

// Edges are the Bins+1 edges of a histogram of [lo, hi], as
// numpy.linspace(lo, hi, bins+1) computes them: lo + k·step with step =
// (hi − lo)/bins, and hi itself last.
func Edges(lo, hi float64, bins int) []float64 {
	e := make([]float64, bins+1)
	if step := (hi - lo) / float64(bins); !math.IsInf(hi-lo, 0) {
		for k := range bins {
			e[k] = float64(float64(k)*step) + lo // no fused multiply-add: numpy rounds twice
		}
	} else { // hi − lo overflows: work on halves (numpy gives NaNs)
		step = (hi/2 - lo/2) / float64(bins)
		for k := range bins {
			e[k] = 2 * (float64(float64(k)*step) + lo/2)
		}
	}
	e[bins] = hi
	return e
}

// Pass2F64 reduces the piece xs for pass 2 into sink.
func (p *Plan) Pass2F64(xs []float64, sink Sink, sc *Scratch) {
	h := p.hist(sc)
	var below, above int
	for len(xs) > 0 {
		n := min(len(xs), chunkLen)
		b, a := p.chunk(xs[:n], h, sink, sc)
		below, above = below+b, above+a
		xs = xs[n:]
	}
	p.flush(h, below, above, sink)
}

// Pass2F32 is Pass2F64 for float32 values.
func (p *Plan) Pass2F32(xs []float32, sink Sink, sc *Scratch) {
	h := p.hist(sc)
	var below, above int
	for len(xs) > 0 {
		n := min(len(xs), chunkLen)
		c := sc.conv[:n]
		for i, x := range xs[:n] {
			c[i] = float64(x)
		}
		b, a := p.chunk(c, h, sink, sc)
		below, above = below+b, above+a
		xs = xs[n:]
	}
	p.flush(h, below, above, sink)
}

func (p *Plan) hist(sc *Scratch) []uint32 {
	if cap(sc.hist) < p.Bins {
		sc.hist = make([]uint32, p.Bins)
	}
	h := sc.hist[:p.Bins]
	clear(h)
	return h
}

func (p *Plan) flush(h []uint32, below, above int, sink Sink) {
	for k, c := range h {
		if c != 0 {
			sink.Add(P2Bins+k, float64(c))
		}
	}
	sink.Add(P2Below, float64(below))
	sink.Add(P2Above, float64(above))
}

// chunk bins at most chunkLen values into h and, with Deviations, adds
// their squared scaled deviations to sink exactly. It returns the counts
// below and above the range.
func (p *Plan) chunk(c []float64, h []uint32, sink Sink, sc *Scratch) (below, above int) {
	lo, hi, last := p.Lo, p.Hi, p.Bins-1
	edges := p.edges[:p.Bins+1]
	half, loHalf, norm := p.half, p.loHalf, p.norm
	bin := func(x float64) int {
		f := float64(float64(x*half)-loHalf) * norm
		if !(f < float64(last)) { // x at the top, or a NaN estimate (a range so narrow that norm is +Inf)
			f = float64(last)
		}
		k := int(f)
		for x < edges[k] { // the estimate is off by one at most, but for bins of no width or that NaN
			k--
		}
		for k < last && x >= edges[k+1] {
			k++
		}
		return k
	}
	if !p.Deviations {
		for _, x := range c {
			switch {
			case x >= lo && x <= hi:
				h[bin(x)]++
			case x < lo:
				below++
			case x > hi:
				above++
			}
		}
		return below, above
	}
	sq := sc.sq[:len(c)]
	s, ms := p.scale, p.meanScale
	for i, x := range c {
		d := float64(x*s) - ms
		sq[i] = float64(d * d)
		switch {
		case x >= lo && x <= hi:
			h[bin(x)]++
		case x < lo:
			below++
		case x > hi:
			above++
		}
	}
	a, b := sumNonNeg(sq, p.sqExp)
	if a != a {
		fin := sc.fin[:0] // drop the NaNs' squares
		for _, v := range sq {
			if v == v {
				fin = append(fin, v)
			}
		}
		a, b = sumNonNeg(fin, p.sqExp)
	}
	sink.Add(P2SumSq, a)
	sink.Add(P2SumSq, b)
	return below, above
}
