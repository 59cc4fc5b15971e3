package superacc

import (
	"encoding/binary"
	"math"
	"testing"
)

// decode turns fuzz bytes into doubles, 8 bytes each. The first byte picks
// a shape, so that the fuzzer reaches sums that cancel and carry, not only
// the random exponents that raw bytes mostly give: bit 0 squeezes exponents
// into 2^-40..2^40, bit 1 appends the negations of the first half (scaled by
// a power of two from bit 2), bit 3 maps exponents to the subnormal edge.
func decode(data []byte) []float64 {
	if len(data) == 0 {
		return nil
	}
	mode, data := data[0], data[1:]
	xs := make([]float64, 0, len(data)/8+len(data)/16)
	for ; len(data) >= 8; data = data[8:] {
		b := binary.LittleEndian.Uint64(data)
		e := b >> 52 & expMask
		switch {
		case mode&1 != 0 && e != expMask:
			e = 1023 - 40 + e%81
		case mode&8 != 0 && e != expMask:
			e %= 3
		}
		xs = append(xs, math.Float64frombits(b&^(expMask<<52)|e<<52))
	}
	if mode&2 != 0 {
		scale := 1.0
		if mode&4 != 0 {
			scale = 0.5
		}
		for _, x := range xs[:len(xs)/2] {
			xs = append(xs, -x*scale)
		}
	}
	return xs
}

func encode(mode byte, xs ...float64) []byte {
	out := []byte{mode}
	for _, x := range xs {
		out = binary.LittleEndian.AppendUint64(out, math.Float64bits(x))
	}
	return out
}

// FuzzSum checks Round against the exact math/big reference, and that
// splitting the input at cut and merging, reversing it, adding atomically
// or taking one part away again give the same exact sum.
func FuzzSum(f *testing.F) {
	f.Add(encode(0), uint8(0))
	f.Add(encode(0, math.Copysign(0, -1), math.Copysign(0, -1)), uint8(1))
	f.Add(encode(0, 1e300, 1, -1e300), uint8(1))
	f.Add(encode(0, math.MaxFloat64, math.Ldexp(1, 970)), uint8(1))
	f.Add(encode(0, math.MaxFloat64, math.Ldexp(1, 970), -math.SmallestNonzeroFloat64), uint8(2))
	f.Add(encode(0, 1, math.Ldexp(1, -53), math.SmallestNonzeroFloat64), uint8(3))
	f.Add(encode(0, math.Inf(1), math.Inf(-1), 1), uint8(1))
	f.Add(encode(2, 0.1, 0.2, 0.3, 1e-300, 7e22), uint8(4))
	f.Add(encode(7, 0.1, -3.5, 1e-5, 123456789), uint8(3))
	f.Add(encode(9, 1, 2, 3, 4, 5, 6, 7, 8), uint8(5))
	f.Add(encode(1, -1, 2, -3, 4, -5, 6, -7, 8, 1e-9), uint8(6))
	f.Fuzz(func(t *testing.T, data []byte, cut uint8) {
		xs := decode(data)
		want := ref(xs)
		var a Acc
		a.AddSlice(xs)
		if got := a.Round(); !same(got, want) {
			t.Fatalf("Round = %g (%#x), want %g (%#x) for %v", got, math.Float64bits(got), want, math.Float64bits(want), xs)
		}
		c := 0
		if len(xs) > 0 {
			c = int(cut) % (len(xs) + 1)
		}
		head, tail := sumAll(xs[:c]), sumAll(xs[c:])
		var rev, at Acc
		for i := len(xs) - 1; i >= 0; i-- {
			rev.Add(xs[i])
			AtomicAdd(&at, xs[i])
		}
		tail.Merge(head)
		at = Snapshot(&at)
		for name, b := range map[string]*Acc{"merged": tail, "reversed": &rev, "atomic": &at} {
			if !b.Equal(&a) || math.Float64bits(b.Round()) != math.Float64bits(a.Round()) {
				t.Fatalf("%s sum differs for %v (cut %d)", name, xs, c)
			}
		}
		tail.Sub(head)
		if got, want := tail.Round(), ref(xs[c:]); !same(got, want) {
			t.Fatalf("after Sub: %g, want %g", got, want)
		}
	})
}
