package textcol

import "encoding/binary"

// digitK holds decimalDigits' constants, at the offsets its generator
// names: sixteen '0', sixteen 9, sixteen 0x00 then sixteen 0xFF, the
// byte pairs 10, 1, the word pairs 100, 1 and 10000, 1, then 10^k modulo
// 2^64 for k = 0 to 31.
var digitK = func() (k [368]byte) {
	for i := range 16 {
		k[i], k[16+i], k[48+i] = '0', 9, 0xFF
		k[64+i] = []byte{10, 1}[i%2]
	}
	for i := range 8 {
		binary.LittleEndian.PutUint16(k[80+2*i:], []uint16{100, 1}[i%2])
		binary.LittleEndian.PutUint16(k[96+2*i:], []uint16{10000, 1}[i%2])
	}
	p := uint64(1)
	for i := range 32 {
		binary.LittleEndian.PutUint64(k[112+8*i:], p)
		p *= 10
	}
	return k
}()

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
