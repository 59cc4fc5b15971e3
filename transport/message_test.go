package transport_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/pishm/pishm/internal/superacc"
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

// TestMessageSumRoundTrip: Sum arrives as the same exact accumulator,
// normalized, for sums of every shape: empty, -0, one value anywhere in
// the range, huge cancellation, carries into the top limb, a negative
// total, infinities and NaN, and random sums.
func TestMessageSumRoundTrip(t *testing.T) {
	sums := map[string][]float64{
		"empty":       nil,
		"-0":          {math.Copysign(0, -1)},
		"+0 -0":       {0, math.Copysign(0, -1)},
		"tiny":        {math.SmallestNonzeroFloat64},
		"-max":        {-math.MaxFloat64},
		"cancel":      {1e308, 1, -1e308, math.SmallestNonzeroFloat64},
		"negative":    {-1, 0x1p-1074, -0x1p-1000},
		"inf":         {math.Inf(1), 1},
		"inf -inf":    {math.Inf(1), math.Inf(-1)},
		"nan":         {math.NaN(), 3},
		"carry":       slices.Repeat([]float64{math.MaxFloat64}, 1<<15), // into limb 66
		"carry minus": slices.Repeat([]float64{-math.MaxFloat64}, 1<<15),
	}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 200 {
		xs := make([]float64, r.IntN(100))
		for k := range xs {
			xs[k] = math.Float64frombits(r.Uint64()&^(0x7ff<<52) | uint64(r.IntN(0x7ff))<<52)
		}
		sums[fmt.Sprintf("random %d", i)] = xs
	}
	for name, xs := range sums {
		m := testMessage(3, 1, 4)
		m.Sum = superacc.Acc{}
		m.Sum.AddSlice(xs)
		m.Partial = m.Sum.Round()
		b := encode(m)
		got, err := transport.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !sameMessage(got, m) || !got.Sum.Equal(&m.Sum) || got.Sum.Count() != int64(len(xs)) {
			t.Fatalf("%s: round trip gave a different message", name)
		}
		if r1, r2 := got.Sum.Round(), m.Sum.Round(); math.Float64bits(r1) != math.Float64bits(r2) && !(math.IsNaN(r1) && math.IsNaN(r2)) {
			t.Fatalf("%s: decoded Sum rounds to %v, sent %v", name, r1, r2)
		}
		norm := m.Sum
		norm.Normalize()
		if got.Sum != norm {
			t.Fatalf("%s: decoded Sum is not the normalized sent one", name)
		}
		if again := encode(got); !bytes.Equal(again, b) {
			t.Fatalf("%s: decoded message encodes differently", name)
		}
	}
}

// TestMessageLayout checks the documented offsets: the header fields and
// the Sum's digits, top limb and counts.
func TestMessageLayout(t *testing.T) {
	if transport.MessageSize != 368 || transport.MessageSize > 4096 {
		t.Fatalf("MessageSize = %d, want 368 (and at most PIPE_BUF)", transport.MessageSize)
	}
	m := transport.Message{Worker: 0x01020304, Lo: 5, Hi: 6, ElapsedNs: 7, Partial: 2, Elem: 9, Elems: 11}
	m.Sum.AddSlice([]float64{0x1p-1074, 1, math.Inf(-1), math.NaN(), math.Copysign(0, -1)})
	b := encode(m)
	le := binary.LittleEndian
	for _, f := range []struct {
		name      string
		got, want uint64
	}{
		{"magic", uint64(le.Uint32(b[0:])), 0x6d687370},
		{"version", uint64(le.Uint16(b[4:])), 3},
		{"size", uint64(le.Uint16(b[6:])), transport.MessageSize},
		{"worker", uint64(le.Uint32(b[8:])), 0x01020304},
		{"lo", le.Uint64(b[16:]), 5},
		{"hi", le.Uint64(b[24:]), 6},
		{"elapsed", le.Uint64(b[32:]), 7},
		{"partial", le.Uint64(b[40:]), math.Float64bits(2)},
		{"elem", uint64(le.Uint32(b[48:])), 9},
		{"elems", uint64(le.Uint32(b[52:])), 11},
		{"digit 0", uint64(le.Uint32(b[56:])), 1},             // 2^-1074
		{"digit 33", uint64(le.Uint32(b[56+4*33:])), 1 << 18}, // 1 = 2^1074 · 2^-1074, bit 1074 = 32·33 + 18
		{"top limb", le.Uint64(b[320:]), 0},
		{"nan", le.Uint64(b[328:]), 1},
		{"+inf", le.Uint64(b[336:]), 0},
		{"-inf", le.Uint64(b[344:]), 1},
		{"finite +", le.Uint64(b[352:]), 2},
		{"finite -", le.Uint64(b[360:]), 1},
	} {
		if f.got != f.want {
			t.Errorf("%s = %#x, want %#x", f.name, f.got, f.want)
		}
	}
	crc := crc32.Checksum(slices.Concat(b[:12], []byte{0, 0, 0, 0}, b[16:]), crc32.MakeTable(crc32.Castagnoli))
	if got := le.Uint32(b[12:]); got != crc {
		t.Errorf("crc = %#x, want %#x", got, crc)
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

// resign recomputes the CRC-32C of a record edited on purpose.
func resign(b []byte) []byte {
	crc := crc32.Checksum(slices.Concat(b[:12], []byte{0, 0, 0, 0}, b[16:]), crc32.MakeTable(crc32.Castagnoli))
	binary.LittleEndian.PutUint32(b[12:], crc)
	return b
}

// TestDecodeRejectsHeader: a record whose checksum is right but whose
// magic, version or size field is not is refused, with an error that says
// which; so is a version-1 record (48 bytes, no Sum).
func TestDecodeRejectsHeader(t *testing.T) {
	good := encode(testMessage(7, 1, 3))
	for _, c := range []struct {
		name string
		edit func(b []byte) []byte
		text string
	}{
		{"magic", func(b []byte) []byte { b[0] ^= 1; return resign(b) }, "bad record magic"},
		{"version 1", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[4:], 1); return resign(b) }, "record version 1, want 3"},
		{"version 2", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[4:], 2); return resign(b) }, "record version 2, want 3"},
		{"size 48", func(b []byte) []byte { binary.LittleEndian.PutUint16(b[6:], 48); return resign(b) }, "record size field 48, want 368"},
		{"elems 0", func(b []byte) []byte { binary.LittleEndian.PutUint32(b[52:], 0); return resign(b) }, "element 0 of 0"},
		{"elem 3 of 3", func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[48:], 3)
			binary.LittleEndian.PutUint32(b[52:], 3)
			return resign(b)
		}, "element 3 of 3"},
		{"v1 record", func(b []byte) []byte {
			b = b[:48]
			binary.LittleEndian.PutUint16(b[4:], 1)
			binary.LittleEndian.PutUint16(b[6:], 48)
			return b
		}, "record is 48 bytes, want 368"},
		{"sum", func(b []byte) []byte { b[200] ^= 0x80; return b }, "record checksum"},
	} {
		_, err := transport.Decode(c.edit(bytes.Clone(good)))
		if !errors.Is(err, transport.ErrMalformed) || err == nil || !strings.Contains(err.Error(), c.text) {
			t.Errorf("%s: Decode = %v, want ErrMalformed saying %q", c.name, err, c.text)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encode(testMessage(1, 0, 1)))
	f.Add(encode(transport.Message{Worker: math.MaxUint32, Lo: math.MaxUint64, Partial: math.NaN()}))
	f.Add(encode(testMessage(2, 5, 9))[:20])
	f.Add([]byte{})
	f.Add(bytes.Repeat([]byte{0xa5}, transport.MessageSize))
	f.Add(resign(bytes.Repeat([]byte{0xff}, transport.MessageSize)))
	huge := transport.Message{Worker: 9}
	huge.Sum.AddSlice(slices.Repeat([]float64{math.MaxFloat64, math.Inf(1)}, 1<<15))
	f.Add(encode(huge))
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
