// Package superacc is an exact, order-independent float64 sum: a "small
// superaccumulator" in the spirit of Radford Neal's xsum and Kulisch's long
// accumulator, laid out so that it can also live in memory shared by several
// processes and be added to concurrently without locks.
//
// # Representation
//
// Every finite float64 is an integer multiple of 2^-1074 (the smallest
// subnormal) below 2^1024, so the exact sum of any finite doubles is an
// integer N times 2^-1074. An Acc holds N in fixed point as 67 signed int64
// limbs of radix 2^32:
//
//	N = Σ limbs[k] · 2^(32k),   k = 0..66
//
// Limbs 0..65 cover bits 2^-1074 .. 2^1037 and limb 66 holds the carry
// (and the sign) beyond. A limb is a digit only when the Acc is normalized;
// otherwise it may hold any int64, and all that matters is the weighted sum
// above. Adding a double is therefore exact integer addition of its 53-bit
// significand, shifted to its exponent and split over two or three limbs,
// and integer addition is associative and commutative: the value of an Acc
// is the exact sum of its inputs whatever their order or grouping, and
// Round, which rounds that value once (to nearest, ties to even), returns
// the same bits for any order or grouping of the same inputs.
//
// Normalize propagates carries so that limbs 0..65 are digits in [0, 2^32)
// and limb 66 is the signed rest (0 or -1 for any sum that can occur). It
// accepts limbs holding arbitrary int64 values, so readers need never trust
// that a limb is a digit. Normalized form is canonical: two accumulators
// hold the same exact sum if and only if their normalized limbs are equal.
//
// Infinities and NaNs are not added to the limbs; they are counted, which
// keeps IEEE semantics (any NaN gives NaN, +Inf with -Inf gives NaN, +Inf
// alone +Inf, -Inf alone -Inf) and, unlike flags, can be subtracted again
// by Sub. Counts of finite inputs by sign give the sign of an exact-zero
// result: IEEE round-to-nearest makes a sum -0 only when every term is -0,
// and +0 otherwise (any +0, any cancellation, or no terms at all).
//
// # Headroom
//
// A local Add puts a digit in [0, 2^32) into one limb and a signed value
// below 2^52 in magnitude into the next, without carrying. Starting from
// normalized limbs, 1024 such adds (or Merges/Subs, which add digits
// below 2^32) keep every limb below 2^32 + 2^62 in magnitude, far from
// int64 overflow; Acc counts them and normalizes by itself before the
// 1025th. That costs about one carry pass (67 limbs) per 1024 adds.
//
// # Shared memory
//
// An Acc is a fixed-size struct of int64 fields only (no pointers, slices or
// strings; Size bytes), so it can be placed in memory mapped by several
// processes. Writers use AtomicAdd, AtomicMerge and AtomicSub, which add to
// each limb and counter with one sync/atomic add: additions commute, so any
// interleaving of concurrent atomic adds leaves the exact sum of all of them.
// A shared Acc must start normalized (zero, or after Reset or Normalize).
//
// Concurrent writers cannot propagate carries, and a limb taking 2^31 adds
// of digits near 2^32 would overflow. So when an atomic add leaves a limb at
// or beyond ±2^61, that writer moves ±2^40 of it into the next limb (±2^8
// in that limb's units), with two more atomic adds that together keep the
// value. Each writer has at most one such move pending, so with P writers
// in flight at once every limb stays within ±(2^61 + P·2^42): a shared Acc
// takes any number of atomic adds and merges (the top limb, which never
// moves, would need more than 2^62 of them to fill) as long as fewer than
// 2^20 writers act on it at the same moment.
//
// Readers call Snapshot, which loads every limb and counter atomically and
// normalizes the copy; Round, Equal and the other methods then work on the
// copy. An atomic add or merge is several atomic adds, so a snapshot taken
// while writers are active may hold part of one: the exact total is there
// once the writers are done (a barrier, a count of finished workers, or
// process exit). A dead worker's contribution is removed exactly with
// AtomicSub (or Sub on a quiescent Acc), given an Acc holding what it
// added; but a writer that died in the middle of an atomic add or merge
// (or of a move between limbs) has left part of it in, which no Sub can
// tell apart, so a caller that must survive that should give each worker
// its own shared Acc and Merge them once they are done.
//
// The local methods (Add, AddSlice, Merge, Sub, Neg, Normalize, Reset) are
// not safe for concurrent use and must not race with atomic writers; use
// them on private accumulators, and on a shared one only while no one else
// touches it, after Normalize (its limbs may then be far from digits: local
// adds assume the headroom above).
package superacc

import (
	"math"
	"math/bits"
	"unsafe"
)

const (
	numLimbs  = 67           // 66 digit limbs for bits 0..2111 of N, plus the carry limb
	topLimb   = numLimbs - 1 // the carry limb: signed rest beyond 2^2112 · 2^-1074
	digitBits = 32
	digitMask = 1<<digitBits - 1
	fracMask  = 1<<52 - 1
	expMask   = 0x7FF

	// maxPending is the number of local adds (and merges) between
	// normalizations: each puts at most 2^52 in magnitude into any limb,
	// so 1024 of them keep limbs below 2^32 + 2^62.
	maxPending = 1024

	// A concurrent writer whose atomic add leaves a limb at or beyond
	// ±spillAt moves ±spillAmount of it into the next limb (spillAmount>>32
	// there), so limbs stay far from overflow without carry propagation.
	spillAt     = 1 << 61
	spillAmount = 1 << 40
)

// Acc is an exact accumulator of float64 values. Its zero value is an empty
// sum, ready to use. It holds only int64 fields, so it may be copied with
// plain assignment (a copy is an independent accumulator) and placed in
// shared memory (see the package doc for concurrent use).
type Acc struct {
	// limbs holds N, the exact sum of the finite inputs in units of
	// 2^-1074, as Σ limbs[k]·2^(32k).
	limbs [numLimbs]int64
	// nan, posInf and negInf count the NaN, +Inf and -Inf inputs.
	nan, posInf, negInf int64
	// sign counts finite inputs by sign bit: sign[0] with it clear,
	// sign[1] with it set. An exact zero sum is -0 when sign[0] == 0 and
	// sign[1] > 0, that is, when all terms were -0.
	sign [2]int64
	// pending counts local adds since the last normalization; it is not
	// part of the value and atomic writers leave it alone.
	pending int64
}

// Size is the size of an Acc in bytes, for laying it out in shared memory.
// An Acc must be 8-byte aligned there, as sync/atomic requires.
const Size = unsafe.Sizeof(Acc{})

// split returns the significand of finite bits as a signed integer v and
// the bit position b of its lowest bit, so that the double is v·2^(b-1074).
func split(bits uint64) (v int64, b uint) {
	e := uint(bits>>52) & expMask
	m := bits & fracMask
	if e != 0 {
		m |= 1 << 52
	} else {
		e = 1 // subnormals and zeros share the first normal binade's scale
	}
	s := int64(bits) >> 63 // 0 or -1
	return (int64(m) ^ s) - s, e - 1
}

// Add adds x. It is the hot path: the signed significand goes into two
// limbs without carrying, and Inf or NaN only bumps a counter.
func (a *Acc) Add(x float64) {
	bits := math.Float64bits(x)
	if uint(bits>>52)&expMask == expMask {
		a.addSpecial(bits)
		return
	}
	if a.pending >= maxPending {
		a.Normalize()
	}
	a.pending++
	a.sign[bits>>63]++
	v, b := split(bits)
	i, s := (b>>5)&63, b&31 // b <= 2045, so i <= 63 and i+1 is in range
	// v·2^s = hi·2^32 + lo with lo in [0, 2^32) and |hi| <= 2^52.
	a.limbs[i] += (v << s) & digitMask
	a.limbs[i+1] += v >> (32 - s)
}

// addSpecial counts an Inf or NaN given by its bits.
func (a *Acc) addSpecial(bits uint64) {
	switch {
	case bits&fracMask != 0:
		a.nan++
	case bits>>63 == 0:
		a.posInf++
	default:
		a.negInf++
	}
}

// AddSlice adds every element of xs; the result is the same as calling Add
// on each, but faster.
func (a *Acc) AddSlice(xs []float64) {
	for len(xs) > 0 {
		if a.pending >= maxPending {
			a.Normalize()
		}
		n := min(len(xs), int(maxPending-a.pending))
		a.pending += int64(n)
		a.addChunk(xs[:n])
		xs = xs[n:]
	}
}

// addChunk adds xs, which fits in the pending budget: the body of Add with
// the sign counts kept in registers. (Interleaving two sets of limbs to break
// chains of read-modify-writes on one limb, or a branch-free implicit bit,
// measured slower: the loop is bound by its instruction count.)
func (a *Acc) addChunk(xs []float64) {
	var neg, special int64 // finite inputs with the sign bit set; Inf and NaN
	l := &a.limbs
	for _, x := range xs {
		bits := math.Float64bits(x)
		if uint(bits>>52)&expMask == expMask {
			a.addSpecial(bits)
			special++
			continue
		}
		neg += int64(bits >> 63)
		v, b := split(bits)
		i, s := (b>>5)&63, b&31
		l[i] += (v << s) & digitMask
		l[i+1] += v >> (32 - s)
	}
	a.sign[0] += int64(len(xs)) - special - neg
	a.sign[1] += neg
}

// Merge adds the exact sum held by o (which may be a itself) to a, as if
// every input of o had been added to a.
func (a *Acc) Merge(o *Acc) { a.merge(o, 1) }

// Sub subtracts the exact sum held by o (which may be a itself) from a,
// undoing a Merge of o or the adds of o's inputs: counts of special and
// signed inputs are subtracted too, so the result is as if those inputs
// had never been added.
func (a *Acc) Sub(o *Acc) { a.merge(o, -1) }

func (a *Acc) merge(o *Acc, sign int64) {
	t := *o // o may alias a, or hold unnormalized limbs
	lo, hi := normalizeUsed(&t.limbs)
	if a.pending >= maxPending {
		a.Normalize()
	}
	// t's digits are below 2^32, well within one local add's budget.
	a.pending++
	al, tl := a.limbs[lo:hi], t.limbs[lo:hi]
	for k := range al {
		al[k] += sign * tl[k]
	}
	a.limbs[topLimb] += sign * t.limbs[topLimb]
	a.nan += sign * t.nan
	a.posInf += sign * t.posInf
	a.negInf += sign * t.negInf
	a.sign[0] += sign * t.sign[0]
	a.sign[1] += sign * t.sign[1]
}

// Neg negates a, as if every input had been negated: the exact sum changes
// sign, +Inf and -Inf swap, and so do the signs of zero inputs.
func (a *Acc) Neg() {
	for k := range a.limbs {
		a.limbs[k] = -a.limbs[k]
	}
	a.posInf, a.negInf = a.negInf, a.posInf
	a.sign[0], a.sign[1] = a.sign[1], a.sign[0]
}

// Reset empties a.
func (a *Acc) Reset() { *a = Acc{} }

// finiteZero reports whether the exact sum of the finite inputs is zero.
func (a *Acc) finiteZero() bool {
	t := a.limbs
	normalize(&t)
	return t == [numLimbs]int64{}
}

// negZero reports whether an exact zero sum is -0: all finite inputs were
// -0 and there was at least one.
func (a *Acc) negZero() bool { return a.sign[0] == 0 && a.sign[1] > 0 }

// IsZero reports whether Round returns a zero (+0 or -0): no Inf or NaN
// was added and the exact sum of the finite inputs is zero.
func (a *Acc) IsZero() bool {
	return a.nan <= 0 && a.posInf <= 0 && a.negInf <= 0 && a.finiteZero()
}

// Count returns the number of inputs added (including Inf and NaN, net of
// Sub), whatever the accumulator's order of adds and merges.
func (a *Acc) Count() int64 {
	return a.sign[0] + a.sign[1] + a.nan + a.posInf + a.negInf
}

// Equal reports whether a and o hold the same exact sum of finite inputs,
// the same numbers of NaN, +Inf and -Inf inputs and, when that sum is zero,
// the same sign of zero; then Round returns the same bits for both. Neither
// needs to be normalized.
func (a *Acc) Equal(o *Acc) bool {
	if a.nan != o.nan || a.posInf != o.posInf || a.negInf != o.negInf {
		return false
	}
	x, y := a.limbs, o.limbs
	normalize(&x)
	normalize(&y)
	if x != y {
		return false
	}
	return x != [numLimbs]int64{} || a.negZero() == o.negZero()
}

// Round returns the exact sum rounded once to the nearest float64, ties to
// even, as IEEE 754 round-to-nearest would round it: a sum of magnitude
// 2^1024 or more after rounding is ±Inf; an exact zero is -0 only when every
// input was -0 (so an empty sum is +0); any NaN input, or both +Inf and
// -Inf, give NaN; otherwise an infinite input gives that infinity.
func (a *Acc) Round() float64 {
	switch {
	case a.nan > 0 || a.posInf > 0 && a.negInf > 0:
		return math.NaN()
	case a.posInf > 0:
		return math.Inf(1)
	case a.negInf > 0:
		return math.Inf(-1)
	}
	t := a.limbs
	_, hi := normalizeUsed(&t)
	var sign uint64
	if t[topLimb] < 0 { // round the magnitude, then set the sign
		sign = 1 << 63
		for k := range t {
			t[k] = -t[k]
		}
		_, hi = normalizeUsed(&t)
	}
	if t[topLimb] != 0 { // at least 2^2112 · 2^-1074 = 2^1038
		return math.Float64frombits(sign | expMask<<52)
	}
	h := hi - 1
	for h >= 0 && t[h] == 0 {
		h--
	}
	if h < 0 {
		if a.negZero() {
			return math.Copysign(0, -1)
		}
		return 0
	}
	// p is the position of the leading bit of N.
	p := 32*h + bits.Len64(uint64(t[h])) - 1
	if p <= 52 {
		// N < 2^53 is exact: a subnormal, or in the first normal binade
		// whose significand with its implicit bit is N itself.
		return math.Float64frombits(sign | uint64(t[0]) | uint64(t[1])<<32)
	}
	// w: the 53 significand bits of N and the rounding bit below them,
	// from bit lo up. p <= 2111, so k+2 <= 66.
	lo := p - 53
	k, s := lo>>5, uint(lo&31)
	w := (uint64(t[k])>>s | uint64(t[k+1])<<(32-s) | uint64(t[k+2])<<(64-s)) & (1<<54 - 1)
	m := w >> 1
	if w&1 != 0 && (m&1 != 0 || sticky(&t, k, s)) {
		m++
	}
	e := uint64(p - 51) // biased exponent: N = m · 2^(p-52), N·2^-1074 = m · 2^(e-1075)
	if m == 1<<53 {
		m >>= 1
		e++
	}
	if e >= expMask {
		return math.Float64frombits(sign | expMask<<52)
	}
	return math.Float64frombits(sign | e<<52 | m&fracMask)
}

// sticky reports whether any bit of normalized t below bit 32k+s is set.
func sticky(t *[numLimbs]int64, k int, s uint) bool {
	if uint64(t[k])&(1<<s-1) != 0 {
		return true
	}
	for _, d := range t[:k] {
		if d != 0 {
			return true
		}
	}
	return false
}
