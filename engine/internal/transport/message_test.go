package transport

import (
	"bytes"
	"errors"
	"math"
	"testing"
)

func sameMessage(a, b Message) bool {
	return a.Worker == b.Worker && a.Lo == b.Lo && a.Hi == b.Hi && a.ElapsedNs == b.ElapsedNs &&
		math.Float64bits(a.Partial) == math.Float64bits(b.Partial)
}

func encode(m Message) []byte {
	b, _ := m.AppendBinary(nil)
	return b
}

func TestMessageRoundTrip(t *testing.T) {
	for i := range 64 {
		m := testMessage(0xfeed, i, 64)
		b := encode(m)
		if len(b) != MessageSize {
			t.Fatalf("len = %d, want %d", len(b), MessageSize)
		}
		got, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMessage(got, m) {
			t.Fatalf("round trip of %+v gave %+v", m, got)
		}
	}
	for _, p := range []float64{math.Copysign(0, -1), math.NaN(), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64} {
		m := Message{Partial: p}
		got, err := Decode(encode(m))
		if err != nil || !sameMessage(got, m) {
			t.Errorf("partial %v (%#x): got %v, %v", p, math.Float64bits(p), math.Float64bits(got.Partial), err)
		}
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	prefix := []byte("abc")
	b, err := testMessage(1, 2, 3).AppendBinary(prefix)
	if err != nil || !bytes.HasPrefix(b, prefix) || len(b) != len(prefix)+MessageSize {
		t.Fatalf("AppendBinary = %q, %v", b, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encode(testMessage(7, 1, 3))
	for _, n := range []int{0, 1, MessageSize - 1, MessageSize + 1, 2 * MessageSize} {
		b := make([]byte, n)
		copy(b, good)
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("Decode(%d bytes) = %v, want ErrMalformed", n, err)
		}
	}
	// CRC-32C catches every single-bit error, in the header fields too.
	for bit := range 8 * MessageSize {
		b := bytes.Clone(good)
		b[bit/8] ^= 1 << (bit % 8)
		if _, err := Decode(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("bit %d flipped: Decode = %v, want ErrMalformed", bit, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(testMessage(1, 0, 1)))
	f.Add(encode(Message{Worker: math.MaxUint32, Lo: math.MaxUint64, Partial: math.NaN()}))
	f.Add(encode(testMessage(2, 5, 9))[:20])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xa5}, MessageSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// A record that decodes is canonical: encoding gives it back.
		if again := encode(m); !bytes.Equal(again, b) {
			t.Fatalf("Decode(%x) = %+v, which encodes as %x", b, m, again)
		}
	})
}
