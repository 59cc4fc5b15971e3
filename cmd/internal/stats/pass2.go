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
	dev       devConsts
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
		p.Lo, p.Hi = widen(p.Lo, bins)
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

// widen is the range of a histogram whose values are all x: numpy's
// [x-0.5, x+0.5], or, where x's rounding loses the 0.5 (|x| of 2^53 or
// more), 2·bins units in the last place of x on each side, so that the
// bins have distinct edges; shifted to end at x where that side would
// overflow.
func widen(x float64, bins int) (lo, hi float64) {
	if lo, hi = x-0.5, x+0.5; lo < hi {
		return lo, hi
	}
	ax := math.Abs(x)
	d := float64(2*bins) * (ax - math.Nextafter(ax, 0))
	lo, hi = x-d, x+d
	switch {
	case math.IsInf(hi, 1):
		lo, hi = x-2*d, x
	case math.IsInf(lo, -1):
		lo, hi = x, x+2*d
	}
	return lo, hi
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
	// delta bounds, in bins, how far the estimate f can be from the true
	// position (x − Lo)/(Hi − Lo)·Bins (a few roundings of values up to
	// Bins) plus how far an edge can be from its true place (roundings of
	// values up to max(|Lo|, |Hi|), divided by the bin width), with a
	// factor of two to spare, and what a subnormal x loses when halved.
	m := max(math.Abs(p.Lo), math.Abs(p.Hi)) * p.half
	delta := 16 * 0x1p-53 * float64(p.Bins) * (1 + m/(p.Hi*p.half-p.loHalf))
	delta += 4 * 0x1p-1074 * p.norm
	if !(delta < 0.25) {
		delta = 1 // no value is certain: every one is looked up against the edges
	}
	p.dev = devConsts{s: p.scale, ms: p.meanScale, s1: pow2(p.sqExp + 11), half: p.half, loHalf: p.loHalf, norm: p.norm,
		lo: p.Lo, hi: p.Hi, delta: delta, oneMinusDelta: 1 - delta}
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
func (p *Plan) Pass2F64(xs []float64, sink Sink, sc *Scratch) { pass2(p, xs, sink, sc) }

// Pass2F32 is Pass2F64 for float32 values.
func (p *Plan) Pass2F32(xs []float32, sink Sink, sc *Scratch) { pass2(p, xs, sink, sc) }

// pass2 is Pass2F64 and Pass2F32: the piece in chunks through chunk2.
func pass2[T float](p *Plan, xs []T, sink Sink, sc *Scratch) {
	h := p.hist(sc)
	var below, above int
	for len(xs) > 0 {
		n := min(len(xs), chunkLen)
		b, a := chunk2(p, xs[:n], h, sink, sc)
		below, above = below+b, above+a
		xs = xs[n:]
	}
	p.flush(h, below, above, sink)
}

// hist returns four zeroed histograms, one after the other (see chunk).
func (p *Plan) hist(sc *Scratch) []uint32 {
	if cap(sc.hist) < 4*p.Bins {
		sc.hist = make([]uint32, 4*p.Bins)
	}
	h := sc.hist[:4*p.Bins]
	clear(h)
	return h
}

func (p *Plan) flush(h []uint32, below, above int, sink Sink) {
	B := p.Bins
	for k := range B {
		if c := uint64(h[k]) + uint64(h[B+k]) + uint64(h[2*B+k]) + uint64(h[3*B+k]); c != 0 {
			sink.Add(P2Bins+k, float64(c))
		}
	}
	sink.Add(P2Below, float64(below))
	sink.Add(P2Above, float64(above))
}

// estimate is x's bin when it is certain without looking at the edges:
// x in [Lo, Hi] and f = ((x·half) − loHalf)·norm more than delta from an
// integer, where delta bounds the rounding errors of f and of the edges
// (see Prepare), so that trunc(f) is the bin. Otherwise it is −1, and the
// caller classifies x against the edges. dev8 computes the same.
func (p *Plan) estimate(x float64) int32 {
	if !(x >= p.Lo && x <= p.Hi) {
		return -1
	}
	f := float64(float64(x*p.half)-p.loHalf) * p.norm
	t := math.Trunc(f)
	if fr := f - t; !(fr >= p.dev.delta && fr <= p.dev.oneMinusDelta) {
		return -1
	}
	return int32(t)
}

// classify bins x against the edges (k = −1: estimate could not tell),
// or counts it below or above the range; a NaN is none of these.
func (p *Plan) classify(x float64, k int32, h []uint32, below, above *int) {
	switch {
	case k >= 0:
		h[k]++
	case x >= p.Lo && x <= p.Hi:
		top := p.Bins - 1
		k := min(max(int(float64(float64(x*p.half)-p.loHalf)*p.norm), 0), top) // NaN: whatever int gives, clamped
		for k > 0 && x < p.edges[k] {
			k--
		}
		for k < top && x >= p.edges[k+1] {
			k++
		}
		h[k]++
	case x < p.Lo:
		*below++
	case x > p.Hi:
		*above++
	}
}

// chunk2 bins at most chunkLen values into h and, with Deviations, adds
// their squared scaled deviations to sink. It returns the counts below and
// above the range. With AVX-512, dev8 does the arithmetic of all but the
// last few values eight at a time (dev8f32 converting float32s as it
// loads them): squares, their sum, and the bins that need no look at the
// edges; the same bits as the Go code. With at most countBins bins,
// dev8count (16) or dev8count64 (64) counts those bins in registers as it
// goes, and only the values it could not place (-1) are classified here. Otherwise the counts go
// into four histograms by index, so that runs of values in one bin do not
// wait on each other's increments.
func chunk2[T float](p *Plan, c []T, h []uint32, sink Sink, sc *Scratch) (below, above int) {
	idx := sc.idx[:len(c)]
	n8 := 0
	counted := false // the bins of c[:n8] are counted but for the -1s in idx
	var l lanes
	if haveExtract8 {
		n8 = len(c) &^ 7
	}
	if n8 > 0 {
		var bc binCounts
		if accs := dev8Of(p, c[:n8], &l, idx, &bc); accs > 0 {
			var hc [countBins]uint32
			bc.addTo(hc[:], accs)
			for k, n := range hc[:p.Bins] {
				h[k] += n
			}
			counted = true
			if bc.some() {
				for i, k := range idx[:n8] {
					if k < 0 {
						p.classify(float64(c[i]), k, h, &below, &above)
					}
				}
			}
		}
	}
	for i := n8; i < len(c); i++ {
		idx[i] = p.estimate(float64(c[i]))
	}
	if p.Deviations {
		var a, b float64
		if n8 > 0 {
			s1 := pow2(p.sqExp + 11)
			for _, v := range c[n8:] { // the tail into lane 0, as sumNonNeg does
				x := float64(v)
				d := float64(x*p.scale) - p.meanScale
				v := float64(d * d)
				q := (s1 + v) - s1
				l.a[0] += q
				l.b[0] += v - q
			}
			a, b = l.sums()
		}
		if n8 == 0 || a != a { // no AVX-512, or a NaN in c: the squares in Go, without the NaNs'
			sq := sc.sq[:0]
			for _, v := range c {
				x := float64(v)
				d := float64(x*p.scale) - p.meanScale
				if v := float64(d * d); v == v {
					sq = append(sq, v)
				}
			}
			a, b = sumNonNeg(sq, p.sqExp)
		}
		sink.Add(P2SumSq, a)
		sink.Add(P2SumSq, b)
	}
	B := p.Bins
	h0, h1, h2, h3 := h[:B], h[B:2*B], h[2*B:3*B], h[3*B:4*B]
	i := 0
	if counted {
		i = n8
	}
	for ; i+4 <= len(c); i += 4 {
		k0, k1, k2, k3 := idx[i], idx[i+1], idx[i+2], idx[i+3]
		if k0|k1|k2|k3 >= 0 {
			h0[k0]++
			h1[k1]++
			h2[k2]++
			h3[k3]++
			continue
		}
		p.classify(float64(c[i]), k0, h0, &below, &above)
		p.classify(float64(c[i+1]), k1, h1, &below, &above)
		p.classify(float64(c[i+2]), k2, h2, &below, &above)
		p.classify(float64(c[i+3]), k3, h3, &below, &above)
	}
	for ; i < len(c); i++ {
		p.classify(float64(c[i]), idx[i], h0, &below, &above)
	}
	return below, above
}

// dev8Of runs the AVX-512 arithmetic of pass 2 over c (a multiple of 8
// values, at most chunkLen): with at most countBins bins, dev8count (16)
// or dev8count64 (64), which also count the bins into bc, else dev8. It
// returns the accumulators of bc that were counted: 1 or 4, or 0 for
// none.
func dev8Of[T float](p *Plan, c []T, l *lanes, idx []int32, bc *binCounts) (accs int) {
	switch {
	case p.Bins <= 16:
		accs = 1
	case p.Bins <= countBins:
		accs = 4
	}
	switch v := any(c).(type) {
	case []float64:
		switch accs {
		case 0:
			dev8(&v[0], len(v), &p.dev, l, &idx[0])
		case 1:
			dev8count(&v[0], len(v), &p.dev, l, &idx[0], bc)
		default:
			dev8count64(&v[0], len(v), &p.dev, l, &idx[0], bc)
		}
	case []float32:
		switch accs {
		case 0:
			dev8f32(&v[0], len(v), &p.dev, l, &idx[0])
		case 1:
			dev8countf32(&v[0], len(v), &p.dev, l, &idx[0], bc)
		default:
			dev8count64f32(&v[0], len(v), &p.dev, l, &idx[0], bc)
		}
	}
	return accs
}
