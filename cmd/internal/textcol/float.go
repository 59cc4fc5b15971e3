package textcol

import (
	"encoding/binary"
	"math"
	"math/bits"
)

// parseDecimal reads the plain decimal numbers that make up nearly every
// numeric field, [+-]digits[.digits][(e|E)[+-]digits] with at most 19
// significant digits, to the correctly rounded float64, as
// strconv.ParseFloat does but without its generality: the mantissa and
// exponent go to Clinger's exact fast path where it applies, and to the
// Eisel-Lemire algorithm otherwise (Nigel Tao's formulation, which Go's
// strconv also uses). ok is false for anything else (other spellings,
// more digits, an exponent out of range, a case Eisel-Lemire cannot
// decide): the caller then asks strconv, so the bits are strconv's
// either way (TestFieldBitsAsStrconv checks both paths).
func parseDecimal(s []byte) (f float64, ok bool) {
	f, end, ok := parseNumber(s, 0)
	return f, ok && end == len(s)
}

// parseNumber reads the number parseDecimal reads that starts at s[i],
// up to the first byte that cannot continue it, at end. The bytes of s
// past the number may be read (eight at a time), never taken: a number
// inside a record reads with the rest of the record after it.
//
// Each run of digits is read eight at a time, and its last few digits in
// one step too (digitRun): a loop of one digit per round would end at a
// different round from one number to the next, which the CPU cannot
// predict.
func parseNumber(s []byte, i int) (f float64, end int, ok bool) {
	neg := false
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	first := i
	man, i := digitRun(s, i, 0)
	digits := i - first
	exp10 := 0
	if i < len(s) && s[i] == '.' {
		i++
		frac := i
		man, i = digitRun(s, i, man)
		digits += i - frac
		exp10 = frac - i
	}
	if digits == 0 {
		return 0, i, false
	}
	if digits > 19 {
		// More digits than a uint64 holds, unless leading zeros (which
		// add nothing to man) make up the difference.
		for k := first; k < i && (s[k] == '0' || s[k] == '.'); k++ {
			if s[k] == '0' {
				digits--
			}
		}
		if digits > 19 {
			return 0, i, false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) || s[i]-'0' >= 10 { // an exponent with no digits: not a number
			return 0, i, false
		}
		e := 0
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			if e > 10000 {
				return 0, i, false
			}
			e = e*10 + int(s[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	f, ok = decimalValue(man, exp10, neg)
	return f, i, ok
}

// decimalValue is man * 10^exp10, negated with neg, correctly rounded
// (for man of at most 19 digits), or not ok where Eisel-Lemire cannot
// decide it and strconv must.
func decimalValue(man uint64, exp10 int, neg bool) (f float64, ok bool) {
	switch {
	case man == 0:
	case man <= 1<<53 && exp10 >= -22 && exp10 <= 22:
		// Clinger: man and 10^|exp10| are exact doubles, so one correctly
		// rounded multiply or divide gives the answer (Eisel-Lemire cannot
		// always decide such a number: 490200061047979.0).
		f = float64(man)
		if exp10 < 0 {
			f /= exactPow10[-exp10]
		} else {
			f *= exactPow10[exp10]
		}
	default:
		return eiselLemire(man, exp10, neg)
	}
	if neg {
		f = -f
	}
	return f, true
}

// digitRun reads the digits at s[i:] onto man (man*10^k + their value,
// for k digits, modulo 2^64: exact for the 19 digits a caller keeps) and
// returns where they end.
func digitRun(s []byte, i int, man uint64) (uint64, int) {
	for i+8 <= len(s) {
		v := binary.LittleEndian.Uint64(s[i:])
		if n := leadingDigits(v); n < 8 {
			if n > 0 {
				man = man*pow10Wrapped[n] + uint64(parseEight(digitsAtTop(v, n)))
			}
			return man, i + n
		}
		man = man*1e8 + uint64(parseEight(v))
		i += 8
	}
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		man = man*10 + uint64(s[i]-'0')
	}
	return man, i
}

// pow10Wrapped[n] is 10^n.
var pow10Wrapped = [...]uint64{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000}

// leadingDigits is the number of ASCII digits at the start of the eight
// bytes of v (little-endian: the first in the low byte).
func leadingDigits(v uint64) int {
	// A byte is a digit when its high nibble is 3 and adding 6 keeps it
	// so. A carry out of a byte (0xFA and above) only reaches the bytes
	// after it, past the first that is not a digit.
	const hi = 0xF0F0F0F0F0F0F0F0
	x := (v&hi ^ 0x3030303030303030) | ((v+0x0606060606060606)&hi ^ 0x3030303030303030)
	return bits.TrailingZeros64(x) >> 3
}

// parseEight is the value of eight ASCII digits, the first in v's low
// byte: pairs, then quads, then the eight, by multiplies (Lemire's SWAR).
func parseEight(v uint64) uint32 {
	const mask = 0x000000FF000000FF
	const mul1 = 0x000F424000000064 // 100 + (1000000 << 32)
	const mul2 = 0x0000271000000001 // 1 + (10000 << 32)
	v -= 0x3030303030303030
	v = v*10 + v>>8
	return uint32((((v & mask) * mul1) + (((v >> 16) & mask) * mul2)) >> 32)
}

var exactPow10 = [...]float64{1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
	1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22}

// The powers of ten Eisel-Lemire needs: 10^e for e in [pow10Min,
// pow10Max] as a 128-bit mantissa m (top bit set), rounded down, with
// 10^e = m / 2^128 * 2^(1 + floor(e*log2(10))), in pow10Table (generated
// by TestPow10Table: static data, so that a program that never parses
// text pays nothing for it, and a parse no call to reach it).
const (
	pow10Min = -348
	pow10Max = 347
)

// floorLog2of10 is floor(e * log2(10)) for |e| <= 1600.
func floorLog2of10(e int) int { return (e * 217706) >> 16 }

// eiselLemire converts man * 10^exp10 (man != 0) to the nearest float64,
// or says it cannot decide (ok false).
func eiselLemire(man uint64, exp10 int, neg bool) (float64, bool) {
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	pow := &pow10Table[exp10-pow10Min]
	clz := bits.LeadingZeros64(man)
	man <<= uint(clz)
	retExp2 := uint64(1+floorLog2of10(exp10)+63+1023) - uint64(clz)

	xHi, xLo := bits.Mul64(man, pow[0])
	if xHi&0x1FF == 0x1FF && xLo+man < man { // the low half may carry into the bits kept
		yHi, yLo := bits.Mul64(man, pow[1])
		mergedHi, mergedLo := xHi, xLo+yHi
		if mergedLo < xLo {
			mergedHi++
		}
		if mergedHi&0x1FF == 0x1FF && mergedLo+1 == 0 && yLo+man < man {
			return 0, false
		}
		xHi, xLo = mergedHi, mergedLo
	}
	msb := xHi >> 63
	retMantissa := xHi >> (msb + 9)
	retExp2 -= 1 ^ msb
	if xLo == 0 && xHi&0x1FF == 0 && retMantissa&3 == 1 { // exactly halfway: undecided
		return 0, false
	}
	retMantissa += retMantissa & 1
	retMantissa >>= 1
	if retMantissa>>53 > 0 {
		retMantissa >>= 1
		retExp2++
	}
	if retExp2-1 >= 0x7FF-1 { // subnormal, or beyond float64: strconv's business
		return 0, false
	}
	b := retExp2<<52 | retMantissa&(1<<52-1)
	if neg {
		b |= 1 << 63
	}
	return math.Float64frombits(b), true
}
