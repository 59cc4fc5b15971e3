package superacc

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BinarySize is the length in bytes of the binary form of an Acc (see
// AppendBinary).
const BinarySize = 4*topLimb + 8 + 5*8 // 312

// ErrBinarySize is returned by UnmarshalBinary for input that is not
// BinarySize bytes long.
var ErrBinarySize = errors.New("superacc: binary form has the wrong length")

// AppendBinary appends the BinarySize-byte binary form of a to b. It
// implements encoding.BinaryAppender and never fails. The form is that of
// a normalized copy of a, so it is canonical: two accumulators that hold
// the same exact sum and the same counts of each kind of input (NaN, +Inf,
// -Inf, finite inputs by sign) have the same bytes. It is little-endian:
//
//	off size field
//	  0  264  limbs 0..65: 66 digits in [0, 2^32) as uint32, least significant first
//	264    8  limb 66, the signed rest, as int64
//	272    8  number of NaN inputs
//	280    8  number of +Inf inputs
//	288    8  number of -Inf inputs
//	296    8  number of finite inputs with the sign bit clear
//	304    8  number of finite inputs with the sign bit set
//
// The count of adds since the last normalization is not part of the value
// and is not encoded.
func (a *Acc) AppendBinary(b []byte) ([]byte, error) {
	t := a.limbs
	normalize(&t)
	le := binary.LittleEndian
	for _, d := range t[:topLimb] {
		b = le.AppendUint32(b, uint32(d))
	}
	b = le.AppendUint64(b, uint64(t[topLimb]))
	for _, n := range [...]int64{a.nan, a.posInf, a.negInf, a.sign[0], a.sign[1]} {
		b = le.AppendUint64(b, uint64(n))
	}
	return b, nil
}

// MarshalBinary returns the binary form of a (see AppendBinary). It
// implements encoding.BinaryMarshaler and never fails.
func (a *Acc) MarshalBinary() ([]byte, error) {
	return a.AppendBinary(make([]byte, 0, BinarySize))
}

// UnmarshalBinary sets a to the accumulator whose binary form (see
// AppendBinary) is b, which must be exactly BinarySize bytes; otherwise it
// returns an error wrapping ErrBinarySize and leaves a unchanged. Every
// such input is the form of some accumulator (digits are in range by
// construction), so the result is normalized and encodes back to b. It
// implements encoding.BinaryUnmarshaler.
func (a *Acc) UnmarshalBinary(b []byte) error {
	if len(b) != BinarySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBinarySize, len(b), BinarySize)
	}
	le := binary.LittleEndian
	var t Acc
	for k := range topLimb {
		t.limbs[k] = int64(le.Uint32(b[4*k:]))
	}
	b = b[4*topLimb:]
	t.limbs[topLimb] = int64(le.Uint64(b))
	for k, p := range [...]*int64{&t.nan, &t.posInf, &t.negInf, &t.sign[0], &t.sign[1]} {
		*p = int64(le.Uint64(b[8+8*k:]))
	}
	*a = t
	return nil
}
