// Package stats computes the count, exact sum, mean, variance, minimum,
// maximum and histogram of an array of floats in two passes over pieces of
// it, each piece reduced on its own and the pieces' results combined
// exactly (sums) or by extreme (min, max), so that the result is the same
// bits however the pieces are spread over workers.
//
// Pass 1 gives the exact sum, the NaN count and the extremes; the mean is
// that sum divided by the count, rounded once. Pass 2 takes the mean m and
// the histogram's range (a Plan) and gives the sum of (x − m)², each term
// rounded once and the terms added exactly, and the histogram's counts.
// The variance is then (Σ(x − m)² − (Σx − n·m)²/n) / (n − 1) computed
// exactly from those sums: two passes, so it stays accurate when the mean
// is far larger than the spread, where Σx²/n − mean² cancels to nothing.
// Its errors are the rounding of each x − m and of its square, below
// 3 units in the last place of the result, and what adding the squares
// in float64 leaves (see sumNonNeg), orders of magnitude below that.
//
// NaNs are counted apart and take no part in anything else: Count is the
// number of the other values, and the statistics are theirs.
//
// A piece reports to a Sink by element index, as the engine's k-wide
// reductions take it; the package does not depend on the engine.
package stats

import "math"

// Sink receives a piece's results. Element i is reduced under the Op that
// Pass1Ops or Pass2Ops gives: a Sum element adds x exactly, a Min or Max
// element keeps the extreme.
type Sink interface{ Add(i int, x float64) }

// Op is how a Sink element combines what it is given.
type Op uint8

// The ops of the elements.
const (
	Sum Op = iota + 1
	Min
	Max
)

// Pass 1 elements.
const (
	P1Sum       = iota // Sum of the non-NaN values (±Inf included)
	P1NaN              // Sum: the number of NaNs
	P1Min              // Min of the non-NaN values
	P1Max              // Max of the non-NaN values
	P1FiniteMin        // Min of the finite values: the default histogram range
	P1FiniteMax        // Max of the finite values
	pass1Len
)

// Pass1Ops are the ops of pass 1's elements.
func Pass1Ops() []Op { return []Op{Sum, Sum, Min, Max, Min, Max} }

// Pass 2 elements.
const (
	P2SumSq = iota // Sum of ((x − m)·2^−Plan.Scale)², each term rounded, each chunk's sum within 2^−75 of its largest possible term
	P2Below        // Sum: non-NaN values below the histogram's range (−Inf included)
	P2Above        // Sum: values above it (+Inf included)
	P2Bins         // Sum: the first bin's count; bin k is element P2Bins+k
)

// Pass2Ops are the ops of pass 2's elements for a histogram of bins bins:
// all sums.
func Pass2Ops(bins int) []Op {
	ops := make([]Op, P2Bins+bins)
	for i := range ops {
		ops[i] = Sum
	}
	return ops
}

// Scratch is the working memory of a piece: one per goroutine that runs
// pieces (its zero value is ready; it is about 24 KiB, too much to put on
// the stack of each call).
type Scratch struct {
	conv [chunkLen]float64 // a chunk of float32 values, converted
	fin  [chunkLen]float64 // the finite values of a chunk with NaN or Inf
	sq   [chunkLen]float64 // pass 2's squared deviations
	idx  [chunkLen]int32   // pass 2's bin estimates
	hist []uint32          // pass 2's bin counts
}

// pass1 is the running state of pass 1 over one piece.
type pass1 struct {
	sink       Sink
	nan        int
	mn, mx     float64
	fmn, fmx   float64
	sc         *Scratch
	addSumFunc func(float64)
	// e is the exponent the last chunk was extracted with: the guess of
	// the fused path (0: none yet).
	e int
}

// Pass1F64 reduces the piece xs for pass 1 into sink.
func Pass1F64(xs []float64, sink Sink, sc *Scratch) {
	p := newPass1(sink, sc)
	for len(xs) > 0 {
		n := min(len(xs), chunkLen)
		p.chunk(xs[:n])
		xs = xs[n:]
	}
	p.flush()
}

// Pass1F32 is Pass1F64 for float32 values: each is converted to float64
// exactly (by the fused path's kernel as it loads them, else into a
// buffer first).
func Pass1F32(xs []float32, sink Sink, sc *Scratch) {
	p := newPass1(sink, sc)
	for len(xs) > 0 {
		n := min(len(xs), chunkLen)
		if !(haveExtract8 && p.e != 0 && fused(p, xs[:n])) {
			c := sc.conv[:n]
			for i, x := range xs[:n] {
				c[i] = float64(x)
			}
			p.generic(c)
		}
		xs = xs[n:]
	}
	p.flush()
}

func newPass1(sink Sink, sc *Scratch) *pass1 {
	inf := math.Inf(1)
	p := &pass1{sink: sink, mn: inf, mx: -inf, fmn: inf, fmx: -inf, sc: sc}
	p.addSumFunc = func(x float64) { sink.Add(P1Sum, x) }
	return p
}

func (p *pass1) flush() {
	s := p.sink
	s.Add(P1NaN, float64(p.nan))
	s.Add(P1Min, p.mn)
	s.Add(P1Max, p.mx)
	s.Add(P1FiniteMin, p.fmn)
	s.Add(P1FiniteMax, p.fmx)
}

// chunk reduces at most chunkLen values: the fast path when they are all
// finite and of like magnitude, else slowChunk.
func (p *pass1) chunk(c []float64) {
	if haveExtract8 && p.e != 0 && fused(p, c) {
		return
	}
	p.generic(c)
}

// generic is chunk without the fused path: the extremes first, then the
// sums with the exponent they give.
func (p *pass1) generic(c []float64) {
	lmn, lmx := math.Inf(1), math.Inf(-1)
	for _, x := range c { // NaNs fail both tests: extract finds them
		if x < lmn {
			lmn = x
		}
		if x > lmx {
			lmx = x
		}
	}
	if !(lmn >= -math.MaxFloat64 && lmx <= math.MaxFloat64) { // an Inf, or only NaNs
		p.slowChunk(c)
		return
	}
	if lmn == 0 || lmx == 0 {
		lmn, lmx = signedZeros(c, lmn, lmx)
	}
	m := max(lmx, -lmn)
	if m == 0 {
		if !zeros(c, p.addSumFunc) {
			p.slowChunk(c) // zeros and NaNs
			return
		}
	} else {
		e := expAbove(m)
		if e < minExtractExp || e > maxExtractExp {
			p.slowChunk(c)
			return
		}
		hi, lo, ok := extract(c, e)
		if !ok {
			if hi != hi || lo != lo {
				p.slowChunk(c) // a NaN
				return
			}
			hi, lo = extractRest(c, e, p.addSumFunc)
		}
		addPartials(hi, lo, p.addSumFunc)
		p.e = e
	}
	p.mn, p.mx = min(p.mn, lmn), max(p.mx, lmx)
	p.fmn, p.fmx = min(p.fmn, lmn), max(p.fmx, lmx)
}

// fused is chunk in one pass over c, extremes and sums together, with the
// exponent of the chunk before as a guess of c's: right for nearly every
// chunk of real data. It reports false, having added nothing, when the
// guess was too small or c holds a NaN, an infinity or only zeros: chunk
// then goes the way that first finds the extremes.
func fused[T float](p *pass1, c []T) bool {
	hi, lo, lmn, lmx, rest := extractMinMax(c, p.e)
	if hi != hi || lo != lo {
		return false
	}
	if lmn == 0 || lmx == 0 {
		lmn, lmx = signedZeros(c, lmn, lmx)
	}
	m := max(lmx, -lmn)
	if m == 0 || m >= pow2(p.e) || rest != 0 && expAbove(m) < p.e {
		return false // the guess is off (a chunk of smaller values: a new guess)
	}
	if rest != 0 { // a value far below the others: its remainder exactly, by the slower way
		hi, lo = extractRest(asFloat64(c, p.sc.conv[:len(c)]), p.e, p.addSumFunc)
	}
	addPartials(hi, lo, p.addSumFunc)
	p.mn, p.mx = min(p.mn, lmn), max(p.mx, lmx)
	p.fmn, p.fmx = min(p.fmn, lmn), max(p.fmx, lmx)
	return true
}

// asFloat64 is c as float64s: c itself, or converted into buf.
func asFloat64[T float](c []T, buf []float64) []float64 {
	if v, ok := any(c).([]float64); ok {
		return v
	}
	for i, x := range c {
		buf[i] = float64(x)
	}
	return buf
}

// slowChunk takes the values of c one by one: NaNs counted, infinities
// added and kept as extremes, the finite values summed exactly.
func (p *pass1) slowChunk(c []float64) {
	fin := p.sc.fin[:0]
	for _, x := range c {
		switch {
		case x != x:
			p.nan++
			continue
		case math.IsInf(x, 0):
			p.sink.Add(P1Sum, x)
		default:
			fin = append(fin, x)
			p.fmn, p.fmx = min(p.fmn, x), max(p.fmx, x)
		}
		p.mn, p.mx = min(p.mn, x), max(p.mx, x)
	}
	sumFinite(fin, p.addSumFunc)
}

// signedZeros corrects the extremes lmn and lmx of c when one of them is
// zero (the comparisons do not tell −0 from +0): −0 is below +0.
func signedZeros[T float](c []T, lmn, lmx float64) (float64, float64) {
	for _, x := range c {
		if x == 0 {
			lmn, lmx = min(lmn, float64(x)), max(lmx, float64(x))
		}
	}
	return lmn, lmx
}

// zeros adds the sum of c to add when every value of c is ±0: −0 when all
// are −0 (as IEEE addition gives), +0 otherwise. It reports false, adding
// nothing, when c holds anything else (a NaN).
func zeros(c []float64, add func(float64)) bool {
	neg := true
	for _, x := range c {
		if x != 0 {
			return false
		}
		neg = neg && math.Signbit(x)
	}
	if neg {
		add(math.Copysign(0, -1))
	} else {
		add(0)
	}
	return true
}

// sumFinite adds the exact sum of the finite values xs (at most chunkLen)
// to add, in a few float64s.
func sumFinite(xs []float64, add func(float64)) {
	if len(xs) == 0 {
		return
	}
	var m float64
	for _, x := range xs {
		m = max(m, math.Abs(x))
	}
	if m == 0 {
		zeros(xs, add)
		return
	}
	e := expAbove(m)
	if e < minExtractExp || e > maxExtractExp {
		for _, x := range xs { // huge or tiny values: rare enough to take one by one
			add(x)
		}
		return
	}
	hi, lo, ok := extract(xs, e)
	if !ok {
		hi, lo = extractRest(xs, e, add)
	}
	addPartials(hi, lo, add)
}

// addPartials adds an extracted chunk's two exact partial sums: only the
// non-zero ones, and +0 when both are zero, so that a sum of only −0s
// stays −0 and any other zero sum is +0, as IEEE addition would have it.
func addPartials(hi, lo float64, add func(float64)) {
	switch {
	case hi != 0 && lo != 0:
		add(hi)
		add(lo)
	case hi != 0:
		add(hi)
	case lo != 0:
		add(lo)
	default:
		add(0)
	}
}
