package stats

import "math"

// Exact summation of a chunk by error-free extraction (Rump, Ogita and
// Oishi's ExtractScalar), the fast path of every exact sum here. For a
// chunk of at most chunkLen finite values all below 2^e in magnitude, and
// σ = 2^(e+11):
//
//	q = (σ + x) − σ   is exact (Sterbenz), a multiple of 2^(e−42), |q| ≤ 2^e
//	r = x − q         is exact, |r| ≤ 2^(e−42)
//
// and the q of 1024 values add up exactly in a float64 (the sum is a
// multiple of 2^(e−42) below 2^(e+10): 52 bits). A second level does the
// same to the r, with σ' = 2^(e−30), and leaves remainders below 2^(e−84):
// zero for every value within 31 binades of the largest. So a chunk of
// values of similar magnitude (nearly all real data) is summed exactly with
// eight float additions per value and no branches; the rare non-zero
// remainder is passed on exactly, one by one. This runs several times
// faster than adding each value to a superaccumulator, which is what keeps
// the exact sum near the speed at which the file can be read.

// chunkLen is the most values extract takes at once (see above: 2^10).
const chunkLen = 1024

// extractable bounds the e that extract accepts: σ = 2^(e+11) and twice it
// must be finite, and the second level's grid 2^(e−83) must not fall below
// the smallest subnormal.
const (
	minExtractExp = -990
	maxExtractExp = 1011
)

// pow2 returns 2^k for k in the normal range.
func pow2(k int) float64 { return math.Float64frombits(uint64(k+1023) << 52) }

// expAbove returns the least e with |m| < 2^e, for finite non-zero m.
func expAbove(m float64) int {
	_, e := math.Frexp(m)
	return e
}

// extract returns hi and lo, float64s whose sum is exactly the sum of xs,
// and ok, when every x is captured by the two levels: xs holds at most
// chunkLen values below 2^e in magnitude, e in [minExtractExp,
// maxExtractExp]. ok is false when some remainder is left (a value more
// than 31 binades below 2^e) or some x is NaN or infinite; then hi and lo
// mean nothing and the caller uses extractRest.
func extract(xs []float64, e int) (hi, lo float64, ok bool) {
	s1, s2 := pow2(e+11), pow2(e-30)
	var a0, a1, a2, a3, b0, b1, b2, b3 float64
	var rest uint64 // the bits of every remainder, or'ed: zero (or a sign bit, -0) when none is left
	i := 0
	for ; i+4 <= len(xs); i += 4 {
		x0, x1, x2, x3 := xs[i], xs[i+1], xs[i+2], xs[i+3]
		q0, q1, q2, q3 := (s1+x0)-s1, (s1+x1)-s1, (s1+x2)-s1, (s1+x3)-s1
		r0, r1, r2, r3 := x0-q0, x1-q1, x2-q2, x3-q3
		a0, a1, a2, a3 = a0+q0, a1+q1, a2+q2, a3+q3
		u0, u1, u2, u3 := (s2+r0)-s2, (s2+r1)-s2, (s2+r2)-s2, (s2+r3)-s2
		b0, b1, b2, b3 = b0+u0, b1+u1, b2+u2, b3+u3
		rest |= math.Float64bits(r0-u0) | math.Float64bits(r1-u1) | math.Float64bits(r2-u2) | math.Float64bits(r3-u3)
	}
	for ; i < len(xs); i++ {
		x := xs[i]
		q := (s1 + x) - s1
		r := x - q
		a0 += q
		u := (s2 + r) - s2
		b0 += u
		rest |= math.Float64bits(r - u)
	}
	// Each partial is a multiple of the same grid and bounded as the whole
	// chunk is, so these sums are exact too.
	hi, lo = (a0+a1)+(a2+a3), (b0+b1)+(b2+b3)
	return hi, lo, rest<<1 == 0 && hi == hi && lo == lo
}

// extractRest is extract for a chunk that left remainders: it returns the
// two levels' exact sums and passes each non-zero remainder to add. Every x
// must be finite and below 2^e.
func extractRest(xs []float64, e int, add func(float64)) (hi, lo float64) {
	s1, s2 := pow2(e+11), pow2(e-30)
	for _, x := range xs {
		q := (s1 + x) - s1
		r := x - q
		hi += q
		u := (s2 + r) - s2
		lo += u
		if v := r - u; v != 0 {
			add(v)
		}
	}
	return hi, lo
}

// sumNonNeg returns hi + lo ≈ the sum of xs, which are at most chunkLen
// values in [0, 2^e) (or NaNs, which make hi NaN), for the sums that need
// only be accurate: hi is the first level's exact sum and lo the float sum
// of the remainders, each below 2^(e−42), so the error is below 2^(e−75)
// for the chunk: far below the rounding of the values themselves, and
// with no slow path however far apart they are. The remainders go into
// eight lanes by index (i mod 8) and the tail past the last multiple of 8
// into lane 0, which is what dev8 does: the same bits either way.
func sumNonNeg(xs []float64, e int) (hi, lo float64) {
	var l lanes
	n := len(xs) &^ 7
	s1 := pow2(e + 11)
	for i := 0; i < n; i += 8 {
		for k := range 8 {
			x := xs[i+k]
			q := (s1 + x) - s1
			l.a[k] += q
			l.b[k] += x - q
		}
	}
	for _, x := range xs[n:] {
		q := (s1 + x) - s1
		l.a[0] += q
		l.b[0] += x - q
	}
	return l.sums()
}

// sums combines the lanes' first- and second-level partials, in a fixed
// order.
func (l *lanes) sums() (hi, lo float64) {
	hi = ((l.a[0] + l.a[1]) + (l.a[2] + l.a[3])) + ((l.a[4] + l.a[5]) + (l.a[6] + l.a[7]))
	lo = ((l.b[0] + l.b[1]) + (l.b[2] + l.b[3])) + ((l.b[4] + l.b[5]) + (l.b[6] + l.b[7]))
	return hi, lo
}

// lanes is the state of extract8 and dev8: eight lanes of each
// accumulator.
type lanes struct {
	a, b   [8]float64
	rest   [8]uint64
	mn, mx [8]float64
}

// countBins is the most bins counted in registers: dev8count counts up
// to 16 (one accumulator), dev8count64 up to 64 (four).
const countBins = 64

// binCounts is what dev8count and dev8count64 count: for each accumulator
// j (bins 16j to 16j+15), per lane, eight byte counters of its even bins
// (byte i: bin 16j+2i) and eight of its odd ones (bin 16j+2i+1); and the
// or of every bin they found, negative when some value was left to the
// caller (k = -1). The caller zeroes it: the counters are added to.
type binCounts struct {
	acc [4]struct{ even, odd [8]uint64 }
	or  [8]int32
}

// addTo adds the counts of the first accs accumulators to h (at least
// 16·accs long: the bins beyond the plan's stay zero). Each accumulator's
// lanes are added in 16-bit fields first, the even and odd bytes of each
// counter apart (at most 8·128 per field).
func (c *binCounts) addTo(h []uint32, accs int) {
	const m = 0x00ff00ff00ff00ff
	for a := range accs {
		var e0, e1, o0, o1 uint64 // field i: bin 4i, 4i+2, 4i+1, 4i+3 of the accumulator
		for lane := range 8 {
			e, o := c.acc[a].even[lane], c.acc[a].odd[lane]
			e0, e1 = e0+e&m, e1+e>>8&m
			o0, o1 = o0+o&m, o1+o>>8&m
		}
		h := h[16*a : 16*a+16]
		for i := range 4 {
			s := 16 * i
			h[4*i] += uint32(e0 >> s & 0xffff)
			h[4*i+1] += uint32(o0 >> s & 0xffff)
			h[4*i+2] += uint32(e1 >> s & 0xffff)
			h[4*i+3] += uint32(o1 >> s & 0xffff)
		}
	}
}

// some reports whether some value was left to the caller.
func (c *binCounts) some() bool {
	var or int32
	for _, v := range c.or {
		or |= v
	}
	return or < 0
}

// float is the element types of a file.
type float interface{ ~float32 | ~float64 }

// extractMinMax is extract fused with the chunk's extremes, for e a guess:
// it returns hi and lo as extract does, the extremes of the non-NaN values
// of xs (as long as there is no NaN), and rest, which is zero when no
// remainder was left. The caller checks that the guess held (every |x|
// below 2^e); a NaN or an infinity makes hi or lo NaN. It runs on eight
// lanes with AVX-512 (extract8, or extract8f32 on float32s), or in Go.
func extractMinMax[T float](xs []T, e int) (hi, lo, mn, mx float64, rest uint64) {
	s1, s2 := pow2(e+11), pow2(e-30)
	mn, mx = math.Inf(1), math.Inf(-1)
	n := 0
	if haveExtract8 && len(xs) >= 8 {
		l := lanes{mn: [8]float64{mn, mn, mn, mn, mn, mn, mn, mn}, mx: [8]float64{mx, mx, mx, mx, mx, mx, mx, mx}}
		n = len(xs) &^ 7
		switch v := any(xs).(type) {
		case []float64:
			extract8(&v[0], n, s1, s2, &l)
		case []float32:
			extract8f32(&v[0], n, s1, s2, &l)
		}
		hi, lo = l.sums() // any grouping of the lanes' partials is exact (see extract)
		for k := range 8 {
			rest |= l.rest[k]
			if l.mn[k] < mn {
				mn = l.mn[k]
			}
			if l.mx[k] > mx {
				mx = l.mx[k]
			}
		}
	}
	for _, v := range xs[n:] {
		x := float64(v)
		q := (s1 + x) - s1
		r := x - q
		hi += q
		u := (s2 + r) - s2
		lo += u
		rest |= math.Float64bits(r - u)
		if x < mn {
			mn = x
		}
		if x > mx {
			mx = x
		}
	}
	return hi, lo, mn, mx, rest << 1 // without the sign bits: −0 is no remainder
}

// devConsts are dev8's constants, from a Plan.
type devConsts struct {
	s, ms, s1, half, loHalf, norm, lo, hi, delta, oneMinusDelta float64
}
