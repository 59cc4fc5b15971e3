package superacc

// Normalize propagates carries so that limbs 0..65 hold digits in
// [0, 2^32) and limb 66 the signed rest. Afterwards two accumulators with
// the same exact sum have equal limbs, and two with the same sum and the
// same counts of each kind of input compare equal with ==.
func (a *Acc) Normalize() {
	normalize(&a.limbs)
	a.pending = 0
}

// normalize carries through l. Limbs may hold any int64: each limb and the
// incoming carry are split into 32-bit halves before adding, so no
// intermediate overflows and the carry stays below 2^32+1 in magnitude.
//
// Most sums use a few limbs (zeros above and below their digits): the
// carry chain runs from the lowest limb in use to the highest, and beyond
// it only while a carry is left, instead of through all 66.
func normalize(l *[numLimbs]int64) {
	normalizeUsed(l)
}

// normalizeUsed is normalize, also returning the limbs that may be
// nonzero after it below the carry limb: l[lo:hi].
func normalizeUsed(l *[numLimbs]int64) (lo, hi int) {
	lo, hi = 0, topLimb
	for lo < hi && l[lo] == 0 {
		lo++
	}
	for hi > lo && l[hi-1] == 0 {
		hi--
	}
	var c int64
	used := l[lo:hi]
	for k, x := range used {
		d := x&digitMask + c&digitMask // below 2^33
		c = x>>digitBits + c>>digitBits + d>>digitBits
		used[k] = d & digitMask
	}
	for ; hi < topLimb && c != 0; hi++ { // the carry out of the highest limb in use
		l[hi] = c & digitMask
		c >>= digitBits
	}
	l[topLimb] += c
	return lo, hi
}
