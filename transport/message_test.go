package transport_test

import (
	"bytes"
	"errors"
	"math"
	"testing"

	"github.com/pishm/pishm/transport"
	"github.com/pishm/pishm/transport/internal/transporttest"
)

var (
	testMessage = transporttest.Message
	sameMessage = transporttest.Same
	encode      = transporttest.Encode
)

func TestMessageRoundTrip(t *testing.T) {
	for i := range 64 {
		m := testMessage(0xfeed, i, 64)
		b := encode(m)
		if len(b) != transport.MessageSize {
			t.Fatalf("len = %d, want %d", len(b), transport.MessageSize)
		}
		got, err := transport.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !sameMessage(got, m) {
			t.Fatalf("round trip of %+v gave %+v", m, got)
		}
	}
	for _, p := range []float64{math.Copysign(0, -1), math.NaN(), math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64} {
		m := transport.Message{Partial: p}
		got, err := transport.Decode(encode(m))
		if err != nil || !sameMessage(got, m) {
			t.Errorf("partial %v (%#x): got %v, %v", p, math.Float64bits(p), math.Float64bits(got.Partial), err)
		}
	}
}

func TestAppendBinaryAppends(t *testing.T) {
	prefix := []byte("abc")
	b, err := testMessage(1, 2, 3).AppendBinary(prefix)
	if err != nil || !bytes.HasPrefix(b, prefix) || len(b) != len(prefix)+transport.MessageSize {
		t.Fatalf("AppendBinary = %q, %v", b, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := encode(testMessage(7, 1, 3))
	for _, n := range []int{0, 1, transport.MessageSize - 1, transport.MessageSize + 1, 2 * transport.MessageSize} {
		b := make([]byte, n)
		copy(b, good)
		if _, err := transport.Decode(b); !errors.Is(err, transport.ErrMalformed) {
			t.Errorf("transport.Decode(%d bytes) = %v, want transport.ErrMalformed", n, err)
		}
	}
	// CRC-32C catches every single-bit error, in the header fields too.
	for bit := range 8 * transport.MessageSize {
		b := bytes.Clone(good)
		b[bit/8] ^= 1 << (bit % 8)
		if _, err := transport.Decode(b); !errors.Is(err, transport.ErrMalformed) {
			t.Errorf("bit %d flipped: transport.Decode = %v, want transport.ErrMalformed", bit, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(testMessage(1, 0, 1)))
	f.Add(encode(transport.Message{Worker: math.MaxUint32, Lo: math.MaxUint64, Partial: math.NaN()}))
	f.Add(encode(testMessage(2, 5, 9))[:20])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xa5}, transport.MessageSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := transport.Decode(b)
		if err != nil {
			if !errors.Is(err, transport.ErrMalformed) {
				t.Fatalf("error %v does not wrap transport.ErrMalformed", err)
			}
			return
		}
		// A record that decodes is canonical: encoding gives it back.
		if again := encode(m); !bytes.Equal(again, b) {
			t.Fatalf("transport.Decode(%x) = %+v, which encodes as %x", b, m, again)
		}
	})
}
