package superacc

import (
	"bytes"
	"encoding"
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

var (
	_ encoding.BinaryAppender    = (*Acc)(nil)
	_ encoding.BinaryMarshaler   = (*Acc)(nil)
	_ encoding.BinaryUnmarshaler = (*Acc)(nil)
)

// TestBinaryRoundTrip: the binary form gives back an accumulator equal to
// the original, normalized, with the same counts and rounding, whose
// form is the same bytes; and the form does not depend on the order or
// grouping of the adds.
func TestBinaryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for i := range 500 {
		xs := genValues(r, r.IntN(300), i%3 == 0)
		if i%7 == 0 {
			xs = append(xs, negz) // sometimes all -0 when the rest is empty
		}
		a := sumAll(xs)
		// Unnormalized limbs and a non-zero pending count are encoded
		// as their normalized form.
		if i%2 == 1 {
			a.limbs[5] += 3 << 32
			a.limbs[6] -= 3
		}
		b, err := a.MarshalBinary()
		if err != nil || len(b) != BinarySize {
			t.Fatalf("case %d: MarshalBinary = %d bytes, %v", i, len(b), err)
		}
		var got Acc
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		want := *a
		want.Normalize()
		if got != want {
			t.Fatalf("case %d: decoded %+v, want the normalized original %+v", i, got, want)
		}
		if !got.Equal(a) || got.Count() != a.Count() || math.Float64bits(got.Round()) != math.Float64bits(a.Round()) &&
			!math.IsNaN(a.Round()) {
			t.Fatalf("case %d: decoded accumulator rounds to %v, want %v", i, got.Round(), a.Round())
		}
		if again, _ := got.AppendBinary(nil); !bytes.Equal(again, b) {
			t.Fatalf("case %d: re-encoding differs", i)
		}
		other := randomGrouping(r, xs)
		if i%2 == 0 {
			if ob, _ := other.MarshalBinary(); !bytes.Equal(ob, b) {
				t.Fatalf("case %d: another grouping of the same inputs encodes differently", i)
			}
		}
	}
}

func TestBinaryAppends(t *testing.T) {
	a := sumAll([]float64{1, -inf, nan, 0x1p-1074})
	b, err := a.AppendBinary([]byte("xy"))
	if err != nil || len(b) != 2+BinarySize || string(b[:2]) != "xy" {
		t.Fatalf("AppendBinary = %d bytes, %v", len(b), err)
	}
	// The documented offsets: limb 0 holds the subnormal's 1, limb 33 holds
	// 1.0's bit 1074 = 32·33 + 18; the counts follow the top limb.
	le := func(off int) uint64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[2+off+k])
		}
		return v
	}
	if d0, d33 := uint32(le(0)), uint32(le(4*33)); d0 != 1 || d33 != 1<<18 {
		t.Errorf("digits 0, 33 = %#x, %#x", d0, d33)
	}
	if top, nans, pinf, ninf, pos, neg := le(264), le(272), le(280), le(288), le(296), le(304); top != 0 || nans != 1 || pinf != 0 || ninf != 1 || pos != 2 || neg != 0 {
		t.Errorf("top %d, NaN %d, +Inf %d, -Inf %d, finite %d+ %d-", top, nans, pinf, ninf, pos, neg)
	}
}

func TestUnmarshalBinaryRejects(t *testing.T) {
	want := *sumAll([]float64{1, 2})
	for _, n := range []int{0, 1, BinarySize - 1, BinarySize + 1, 2 * BinarySize} {
		a := want
		if err := a.UnmarshalBinary(make([]byte, n)); !errors.Is(err, ErrBinarySize) {
			t.Errorf("%d bytes: %v, want ErrBinarySize", n, err)
		}
		if a != want {
			t.Errorf("%d bytes: a failed UnmarshalBinary changed the accumulator", n)
		}
	}
}

// FuzzUnmarshalBinary: any BinarySize bytes are the form of a normalized
// accumulator, and encode back to themselves.
func FuzzUnmarshalBinary(f *testing.F) {
	b, _ := sumAll([]float64{1, -maxF, tiny, nan}).MarshalBinary()
	f.Add(b)
	f.Add(bytes.Repeat([]byte{0xff}, BinarySize))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a Acc
		if err := a.UnmarshalBinary(b); err != nil {
			if len(b) == BinarySize || !errors.Is(err, ErrBinarySize) {
				t.Fatalf("%d bytes: %v", len(b), err)
			}
			return
		}
		n := a
		n.Normalize()
		if n != a {
			t.Fatalf("decoded accumulator is not normalized")
		}
		if again, _ := a.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatalf("UnmarshalBinary(%x) encodes as %x", b, again)
		}
		a.Round() // never panics
	})
}
