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
