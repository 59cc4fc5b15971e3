package textcol

import (
	"math/rand/v2"
	"testing"
)

// decimalDigits gives what digitsOf gives, on bytes of every kind around
// numbers: runs of digits of every length, dots, signs, separators and
// bytes of every value, 0x80 and up too.
func TestDecimalDigits(t *testing.T) {
	if !haveDigits {
		t.Skip("no decimalDigits on this CPU or build")
	}
	r := rand.New(rand.NewPCG(17, 18))
	alphabet := []byte("0123456789012345678901234567890123456789..,,\n\r-+eE \x00\x80\xb9\xff/:")
	buf := make([]byte, 16+48)
	for range scaled(1_000_000) {
		for i := range buf {
			buf[i] = alphabet[r.IntN(len(alphabet))]
		}
		// Often a number's shape: digits, a dot, digits.
		if r.IntN(2) == 0 {
			k := 16
			for range r.IntN(34) {
				buf[k] = '0' + byte(r.IntN(10))
				k++
			}
			if k < len(buf) && r.IntN(4) > 0 {
				buf[k] = '.'
				k++
				for range r.IntN(34) {
					if k < len(buf) {
						buf[k] = '0' + byte(r.IntN(10))
						k++
					}
				}
			}
		}
		m1, i1, f1, d1 := decimalDigits(&buf[16], &digitK)
		m2, i2, f2, d2 := digitsOf((*[48]byte)(buf[16:]))
		if m1 != m2 || i1 != i2 || f1 != f2 || d1 != d2 {
			t.Fatalf("%q: decimalDigits %d %d %d %d, digitsOf %d %d %d %d", buf[16:], m1, i1, f1, d1, m2, i2, f2, d2)
		}
	}
}

// digitsOf is what decimalDigits gives for the bytes b: ints, the digits
// that lead b's first 32 (32 if all are); dot, 1 if a '.' follows them;
// fracs, the digits after that '.' (0 without one); man, the value of
// those ints and fracs digits one after the other, modulo 2^64 (exact
// where each run has at most 16 digits and both at most 19).
func digitsOf(b *[48]byte) (man uint64, ints, fracs, dot int) {
	for ints < 32 && b[ints]-'0' < 10 {
		ints++
	}
	if b[ints] == '.' {
		dot = 1
		for ints+1+fracs < 32 && b[ints+1+fracs]-'0' < 10 {
			fracs++
		}
	}
	val := func(run []byte) (v uint64) {
		for _, c := range run[max(len(run)-16, 0):] { // a run's last 16 digits, as the assembly reads it
			v = v*10 + uint64(c-'0')
		}
		return v
	}
	pow := uint64(1)
	for range fracs {
		pow *= 10
	}
	man = val(b[:ints])*pow + val(b[ints+dot:ints+dot+fracs])
	return man, ints, fracs, dot
}
