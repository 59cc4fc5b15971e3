//go:build amd64 && gc && !purego && !noasm

package kernel

import "github.com/klauspost/cpuid/v2"

func init() {
	// The Requires lists are the "// Requires:" lines avo writes in
	// kernel_amd64.s; TestRequiresMatchAsm keeps them equal.
	register(Kernel{
		Name:     "avx2",
		Requires: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.CMOV, cpuid.FMA3, cpuid.SSE2},
		Sum:      sumAVX2,
	})
	register(Kernel{
		Name:     "avx512",
		Requires: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX512DQ, cpuid.AVX512F, cpuid.CMOV, cpuid.SSE2},
		Sum:      sumAVX512,
	})
}

// sumAVX512 computes what sumGeneric does with blocksAVX512: 32 terms per
// iteration (eight lanes of four), the top (hi-lo)%32 terms in Go.
func sumAVX512(lo, hi uint64) float64 {
	checkRange(hi)
	if hi <= lo {
		return 0
	}
	const terms = 32
	n := (hi - lo) / terms
	top := lo + n*terms
	tail := blockGeneric(top, hi)
	if n == 0 {
		return tail
	}
	// blocksAVX512 wants m = 2k+1+24 for the lowest k of its top iteration.
	sum, comp := blocksAVX512(float64(2*(top-terms)+1+24), n)
	return fold(tail, sum[:], comp[:])
}

// sumAVX2 computes what sumGeneric does with blocksAVX2: 16 terms per
// iteration (four lanes of four), the top (hi-lo)%16 terms in Go.
func sumAVX2(lo, hi uint64) float64 {
	checkRange(hi)
	if hi <= lo {
		return 0
	}
	const terms = 16
	n := (hi - lo) / terms
	top := lo + n*terms
	tail := blockGeneric(top, hi)
	if n == 0 {
		return tail
	}
	// blocksAVX2 wants m = 2k+1+12 for the lowest k of its top iteration.
	sum, comp := blocksAVX2(float64(2*(top-terms)+1+12), n)
	return fold(tail, sum[:], comp[:])
}

// fold returns tail + 2*sum_j (sum[j] - comp[j]), the lanes of a blocks
// kernel (which halves its terms) added with Neumaier's compensation.
func fold(tail float64, sum, comp []float64) float64 {
	s, c := tail, 0.0
	add := func(x float64) {
		t := s + x
		if abs(s) >= abs(x) {
			c += (s - t) + x
		} else {
			c += (x - t) + s
		}
		s = t
	}
	for j := range sum {
		add(2 * sum[j])
		add(-2 * comp[j])
	}
	return s + c
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
