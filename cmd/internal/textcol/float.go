package textcol

import (
	"encoding/binary"
	"math"
	"math/big"
	"math/bits"
	"sync"
	"sync/atomic"
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
	i, neg := 0, false
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		i++
	}
	var man uint64
	digits, exp10, sawDigit := 0, 0, false
	for ; i < len(s) && s[i]-'0' < 10; i++ {
		sawDigit = true
		if man == 0 && s[i] == '0' {
			continue
		}
		if man != 0 && digits <= 11 && i+8 <= len(s) { // eight digits at once
			if v := binary.LittleEndian.Uint64(s[i:]); eightDigits(v) {
				man = man*1e8 + uint64(parseEight(v))
				digits += 8
				i += 7
				continue
			}
		}
		if digits == 19 {
			return 0, false
		}
		man = man*10 + uint64(s[i]-'0')
		digits++
	}
	if i < len(s) && s[i] == '.' {
		for i++; i < len(s) && s[i]-'0' < 10; i++ {
			sawDigit = true
			if man == 0 && s[i] == '0' {
				exp10--
				continue
			}
			if man != 0 && digits <= 11 && i+8 <= len(s) {
				if v := binary.LittleEndian.Uint64(s[i:]); eightDigits(v) {
					man = man*1e8 + uint64(parseEight(v))
					digits += 8
					exp10 -= 8
					i += 7
					continue
				}
			}
			if digits == 19 {
				return 0, false
			}
			man = man*10 + uint64(s[i]-'0')
			digits++
			exp10--
		}
	}
	if !sawDigit {
		return 0, false
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		if i == len(s) {
			return 0, false
		}
		e := 0
		for ; i < len(s) && s[i]-'0' < 10; i++ {
			if e > 10000 {
				return 0, false
			}
			e = e*10 + int(s[i]-'0')
		}
		if eneg {
			e = -e
		}
		exp10 += e
	}
	if i != len(s) {
		return 0, false
	}
	if man == 0 {
		if neg {
			return math.Copysign(0, -1), true
		}
		return 0, true
	}
	if man <= 1<<53 && exp10 >= -22 && exp10 <= 22 {
		// Clinger: the mantissa and 10^|exp10| are exact doubles, so one
		// correctly rounded multiply or divide gives the answer.
		f = float64(man)
		if exp10 < 0 {
			f /= exactPow10[-exp10]
		} else {
			f *= exactPow10[exp10]
		}
		if neg {
			f = -f
		}
		return f, true
	}
	return eiselLemire(man, exp10, neg)
}

// eightDigits reports whether the eight bytes of v (little-endian) are
// all ASCII digits.
func eightDigits(v uint64) bool {
	return (v&0xF0F0F0F0F0F0F0F0)|(((v+0x0606060606060606)&0xF0F0F0F0F0F0F0F0)>>4) == 0x3333333333333333
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
// 10^e = m / 2^128 * 2^(1 + floor(e*log2(10))).
const (
	pow10Min = -348
	pow10Max = 347
)

// pow10Tab is the table, made on first use (a program that never parses
// text never pays for it).
func pow10Tab() *[pow10Max - pow10Min + 1][2]uint64 {
	if t := pow10Ready.Load(); t != nil {
		return t
	}
	pow10Once.Do(func() { pow10Ready.Store(makePow10Tab()) })
	return pow10Ready.Load()
}

var (
	pow10Ready atomic.Pointer[[pow10Max - pow10Min + 1][2]uint64]
	pow10Once  sync.Once
)

func makePow10Tab() *[pow10Max - pow10Min + 1][2]uint64 {
	one := big.NewInt(1)
	b128 := new(big.Int).Lsh(one, 128)
	var tab [pow10Max - pow10Min + 1][2]uint64
	for e := pow10Min; e <= pow10Max; e++ {
		p := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(e))), nil)
		// m = floor(10^e * 2^k) with 2^127 <= m < 2^128.
		var m *big.Int
		if e >= 0 {
			k := 128 - p.BitLen()
			if k >= 0 {
				m = new(big.Int).Lsh(p, uint(k))
			} else {
				m = new(big.Int).Rsh(p, uint(-k))
			}
		} else {
			k := 127 + p.BitLen()
			m = new(big.Int).Quo(new(big.Int).Lsh(one, uint(k)), p)
			if m.Cmp(b128) >= 0 {
				m.Rsh(m, 1)
			} else if m.BitLen() < 128 {
				m = new(big.Int).Quo(new(big.Int).Lsh(one, uint(k+1)), p)
			}
		}
		lo := new(big.Int).And(m, new(big.Int).Sub(new(big.Int).Lsh(one, 64), one)).Uint64()
		hi := new(big.Int).Rsh(m, 64).Uint64()
		tab[e-pow10Min] = [2]uint64{hi, lo}
	}
	return &tab
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// floorLog2of10 is floor(e * log2(10)) for |e| <= 1600.
func floorLog2of10(e int) int { return (e * 217706) >> 16 }

// eiselLemire converts man * 10^exp10 (man != 0) to the nearest float64,
// or says it cannot decide (ok false).
func eiselLemire(man uint64, exp10 int, neg bool) (float64, bool) {
	if exp10 < pow10Min || exp10 > pow10Max {
		return 0, false
	}
	pow := pow10Tab()[exp10-pow10Min]
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
