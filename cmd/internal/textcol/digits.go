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
