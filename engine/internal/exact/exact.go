// Package exact computes the partial sums of the pi series in closed form,
//
//	S_n = sum_{k<n} 1/(2k+1)^2 = pi^2/8 - trigamma(n+1/2)/4,
//
// to within an ulp or so, so that every computed result can be checked
// against the true answer rather than against another run of our own code.
package exact

import (
	"math"
	"sync"

	"github.com/pishm/pishm/internal/twosum"
)

// pi2over8 is pi^2/8 as a double-double (hi + lo).
const (
	pi2over8Hi = 1.2337005501361697    // nearest float64 to pi^2/8
	pi2over8Lo = 7.831619385924639e-17 // pi^2/8 - pi2over8Hi
)

// directMax is the largest n summed term by term; above it the asymptotic
// series of trigamma is exact to far below an ulp (its first dropped term is
// ~1/x^11 with x > 32768).
const directMax = 1 << 15

// Sum returns S_n rounded to float64 (error well under 1e-16 relative).
func Sum(n uint64) float64 {
	hi, lo := SumDD(n)
	return hi + lo
}

// SumDD returns S_n as an unevaluated double-double hi + lo.
func SumDD(n uint64) (hi, lo float64) {
	if n <= directMax {
		return direct(n)
	}
	// S_n = pi^2/8 - trigamma(x)/4 with x = n + 1/2.
	t := trigammaAsymptotic(float64(n) + 0.5)
	return twoSumDD(pi2over8Hi, pi2over8Lo, -t/4)
}

// trigammaAsymptotic is trigamma(x) ~ 1/x + 1/(2x^2) + 1/(6x^3) - 1/(30x^5)
// + 1/(42x^7) - 1/(30x^9), accurate to 1 ulp for x > 1e4. The result is
// small next to pi^2/8, so its own ulp-level error vanishes in S_n.
func trigammaAsymptotic(x float64) float64 {
	r := 1 / x
	r2 := r * r
	// Horner in r2 for the odd tail, smallest terms first.
	tail := r2 * (1.0/6 + r2*(-1.0/30+r2*(1.0/42+r2*(-1.0/30))))
	return r + r2/2 + r*tail
}

// direct returns S_n for n <= directMax as a double-double: a prefix
// sum S_{16j} from the table (prefix), plus the at most 15 terms after it
// added smallest first. Each term 1/(2k+1)^2 is itself a double-double, and
// every add keeps about 2^-106 of relative error, so the result is right to
// far below an ulp, for a few hundred nanoseconds.
func direct(n uint64) (hi, lo float64) {
	j := n / prefixStep
	hi, lo = prefix.at(j)
	return addTerms(hi, lo, j*prefixStep, n)
}

// addTerms adds the terms [a, b) to the double-double (hi, lo), smallest
// (last) first.
func addTerms(hi, lo float64, a, b uint64) (float64, float64) {
	for k := b; k > a; k-- {
		d := float64(2*(k-1) + 1)
		d2 := d * d // exact: d < 2^17
		q := 1 / d2
		r := math.FMA(-q, d2, 1) // exact remainder 1 - q*d2
		hi, lo = twoSumDD(hi, lo, q)
		hi, lo = twoSumDD(hi, lo, r/d2)
	}
	return hi, lo
}

// prefixStep is the spacing of the prefix sums in the table.
const prefixStep = 16

// prefix holds S_{16j} for j <= directMax/16, filled on demand (a program
// that only ever checks small sums computes only their entries): each
// block of 16 terms is summed smallest first, then added to the last
// prefix.
var prefix prefixTable

type prefixTable struct {
	mu  sync.Mutex
	n   uint64 // entries filled: sum[0..n)
	sum [directMax/prefixStep + 1][2]float64
}

func (t *prefixTable) at(j uint64) (hi, lo float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		t.n = 1 // S_0 = 0
	}
	for ; t.n <= j; t.n++ {
		bh, bl := addTerms(0, 0, (t.n-1)*prefixStep, t.n*prefixStep)
		h, l := twoSumDD(t.sum[t.n-1][0], t.sum[t.n-1][1], bh)
		t.sum[t.n][0], t.sum[t.n][1] = twoSumDD(h, l, bl)
	}
	return t.sum[j][0], t.sum[j][1]
}

// twoSumDD adds b to the double-double (hi, lo).
func twoSumDD(hi, lo, b float64) (float64, float64) {
	s, e := twosum.TwoSum(hi, b)
	e += lo
	h := s + e
	return h, e - (h - s)
}

// Pi returns sqrt(8 S_n), the estimate of pi that n terms give.
func Pi(n uint64) float64 {
	hi, lo := SumDD(n)
	// sqrt of a double-double to float64: one Newton correction.
	s := math.Sqrt(8 * hi)
	return s + (8*hi-s*s+8*lo)/(2*s)
}

// Tail returns pi^2/8 - S_n = trigamma(n+1/2)/4, the part of the series
// that n terms leave out; adding it to a computed S_n extrapolates to the
// full series.
func Tail(n uint64) float64 {
	if n <= directMax {
		hi, lo := direct(n)
		return (pi2over8Hi - hi) + (pi2over8Lo - lo)
	}
	return trigammaAsymptotic(float64(n)+0.5) / 4
}

// SumRange returns the exact sum of the terms [lo, hi), rounded. Far from
// 0 it is the difference of two nearly equal closed forms, so it is taken
// as a difference of trigammas computed without cancellation
// (trigammaDiff), not as S(hi) - S(lo) in floating point.
func SumRange(lo, hi uint64) float64 {
	switch {
	case lo == 0:
		return Sum(hi)
	case hi <= directMax:
		h1, l1 := direct(hi)
		h0, l0 := direct(lo)
		return (h1 - h0) + (l1 - l0)
	case lo < directMax:
		// The part below directMax directly, the rest as a difference.
		h1, l1 := direct(directMax)
		h0, l0 := direct(lo)
		dh, dl := trigammaDiff(directMax, hi)
		return (h1 - h0) + (l1 - l0) + (dh+dl)/4
	}
	dh, dl := trigammaDiff(lo, hi)
	return (dh + dl) / 4
}

// trigammaDiff returns trigamma(lo+1/2) - trigamma(hi+1/2) for
// 2^15 <= lo < hi as a double-double: 4 (S_hi - S_lo). Each term of the
// asymptotic series is differenced in closed form, (b-a)(...)/(a^p b^p),
// so nothing cancels; the leading one, (b-a)/(ab), is carried in double-
// double with exact products (FMA), the rest are smaller by 1/a or more
// and need no more than float64.
func trigammaDiff(lo, hi uint64) (float64, float64) {
	a, b := float64(lo)+0.5, float64(hi)+0.5 // exact below 2^52
	d := float64(hi - lo)                    // b - a, exact
	ph := a * b
	pl := math.FMA(a, b, -ph) // a*b = ph + pl exactly
	q := d / ph
	rem := math.FMA(-q, ph, d) // d - q*ph exactly
	ql := (rem - q*pl) / ph    // d/(ab) = q + ql to about 2^-104
	a2, b2 := a*a, b*b
	rest := d * (a + b) / (2 * a2 * b2)                 // (1/a^2 - 1/b^2)/2
	rest += d * (a2 + a*b + b2) / (6 * a2 * a * b2 * b) // (1/a^3 - 1/b^3)/6
	rest -= (1/(a2*a2*a) - 1/(b2*b2*b)) / 30            // tiny: cancellation is harmless
	rest += (1/(a2*a2*a2*a) - 1/(b2*b2*b2*b)) / 42
	h := q + (ql + rest)
	return h, (q - h) + (ql + rest)
}
