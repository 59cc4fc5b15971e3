package transporttest

import (
	"math"

	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/transport"
)

// Message is worker i's message in the run with this seed: partials with
// full 53-bit significands, subnormals and values one ulp off round
// numbers, and an exact sum (Sum) of terms spread over the whole exponent
// range, with cancellation, -0, infinities and NaN in some workers, so any
// loss of bits shows.
func Message(seed uint64, i, n int) transport.Message {
	x := splitmix(seed ^ uint64(i)*0x9e3779b97f4a7c15)
	const mant = 1<<52 - 1
	var p float64
	switch i % 5 {
	case 0:
		p = math.Float64frombits(0x3fe<<52 | x&mant) // [0.5, 1)
	case 1:
		p = math.Nextafter(1.0/3, 0) * (1 + float64(x>>40)/(1<<24))
	case 2:
		p = -math.Float64frombits(0x001<<52 | x&mant) // tiny normal, negative
	case 3:
		p = math.Float64frombits(x & mant) // subnormal
	case 4:
		p = math.Nextafter(math.Pi*float64(i+1), math.Inf(1))
	}
	lo := uint64(i) * (1 << 40) / uint64(max(n, 1))
	return transport.Message{
		Worker:    uint32(i),
		Lo:        lo,
		Hi:        lo + 1 + x>>24,
		ElapsedNs: int64(x >> 1),
		Partial:   p,
		Sum:       Sum(x, i),
	}
}

// Sum is an exact accumulator made from x for worker i: a few dozen terms
// with random exponents over the whole finite range and both signs (so
// most limbs are non-zero), some cancelling, subnormals, and for some i
// also -0 alone, +Inf, -Inf or NaN.
func Sum(x uint64, i int) superacc.Acc {
	var a superacc.Acc
	switch i % 7 {
	case 5:
		a.Add(math.Copysign(0, -1)) // an exact -0 sum
		return a
	case 6:
		a.Add([]float64{math.Inf(1), math.Inf(-1), math.NaN()}[x%3])
	}
	for k := range 24 + int(x%17) {
		y := splitmix(x + uint64(k))
		t := math.Float64frombits(y&^(0x7ff<<52) | (y>>40)%0x7ff<<52) // any finite double
		a.Add(t)
		if k%5 == 0 {
			a.Add(-t * 0.5) // half of it cancels
		}
	}
	a.Add(math.SmallestNonzeroFloat64)
	return a
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Same reports whether a and b are equal: Partial bit for bit, and Sum as
// the same normalized accumulator (the same exact sum and the same counts
// of each kind of input).
func Same(a, b transport.Message) bool {
	x, y := a.Sum, b.Sum
	x.Normalize()
	y.Normalize()
	return a.Worker == b.Worker && a.Elem == b.Elem && max(a.Elems, 1) == max(b.Elems, 1) && a.Lo == b.Lo && a.Hi == b.Hi && a.ElapsedNs == b.ElapsedNs &&
		math.Float64bits(a.Partial) == math.Float64bits(b.Partial) && x == y
}

// Encode returns m's record.
func Encode(m transport.Message) []byte {
	b, _ := m.AppendBinary(nil)
	return b
}
