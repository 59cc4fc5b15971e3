//go:build amd64 && gc && !purego && !noasm

package kernel

import "github.com/klauspost/cpuid/v2"

func init() {
	// The Requires lists are the "// Requires:" lines avo writes in
	// kernel_amd64.s; TestRequiresMatchAsm keeps them equal.
	avx2 := Kernel{
		Name:     "avx2",
		Requires: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.CMOV, cpuid.FMA3, cpuid.SSE2},
		Sum:      sumAVX2,
	}
	avx512 := Kernel{
		Name:     "avx512",
		Requires: []cpuid.FeatureID{cpuid.AVX, cpuid.AVX512DQ, cpuid.AVX512F, cpuid.CMOV, cpuid.SSE2},
		Sum:      sumAVX512,
	}
	for _, k := range byWidth(avx2, avx512, cpuid.CPU.VendorID) {
		register(k)
	}
}

// byWidth orders the two vector kernels for registration, the faster
// last (register puts it first). Both are bound by their divisions. An
// Intel core divides 512 bits as two 256-bit halves on one divider, and
// runs 512-bit code at a lower clock (its AVX-512 licence), so avx2 is
// the faster there: 0.160 against 0.180 ns/term on a Xeon of model 106
// (Ice Lake-SP; go test -bench Kernel/.*/n=4194304, 2026-12-07). An AMD
// Zen 4 runs avx512 the faster: 0.087 against 0.091.
func byWidth(avx2, avx512 Kernel, vendor cpuid.Vendor) []Kernel {
	if vendor == cpuid.Intel {
		return []Kernel{avx512, avx2}
	}
	return []Kernel{avx2, avx512}
}

// sumAVX512 computes what sumGeneric does with blocksAVX512: 32 terms per
// iteration (eight lanes of four).
func sumAVX512(lo, hi uint64) float64 { return sumLanes(lo, hi, 8) }

// sumAVX2 computes what sumGeneric does with blocksAVX2: 16 terms per
// iteration (four lanes of four).
func sumAVX2(lo, hi uint64) float64 { return sumLanes(lo, hi, 4) }

// sumLanes runs the blocks kernel of L lanes (4L terms per iteration:
// blocksAVX2 for 4, blocksAVX512 for 8) over the whole iterations of
// [lo, hi), and the top (hi-lo)%(4L) terms in Go. The kernels are called
// directly, not through a func value, so their result arrays stay on the
// stack. A forked worker (fork_linux_amd64.go) splits the same work
// between the child (the kernel, with lanesPlan's m and n) and the parent
// (lanesValue), which gives the same bits.
func sumLanes(lo, hi, lanes uint64) float64 {
	checkRange(hi)
	if hi <= lo {
		return 0
	}
	n, top, m := lanesPlan(lo, hi, lanes)
	if n == 0 {
		return blockGeneric(top, hi)
	}
	if lanes == 8 {
		sum, comp := blocksAVX512(m, n)
		return lanesValue(n, top, hi, sum[:], comp[:])
	}
	sum, comp := blocksAVX2(m, n)
	return lanesValue(n, top, hi, sum[:], comp[:])
}

// lanesPlan splits [lo, hi) (lo < hi) as sumLanes does: n whole
// iterations of 4L terms [lo, top) for the blocks kernel, which wants
// m = 2k+1+3L for the lowest k of its top iteration (meaningless when n is
// 0), and the top terms [top, hi) in Go. (m = 2*top - (5L-1): forkWorker
// computes it so.)
func lanesPlan(lo, hi, lanes uint64) (n, top uint64, m float64) {
	terms := 4 * lanes
	n = (hi - lo) / terms
	top = lo + n*terms
	m = float64(2*(top-terms) + 1 + 3*lanes)
	return n, top, m
}

// lanesValue is sumLanes's result from the blocks kernel's raw lanes for n
// iterations (not read when n is 0) and the top terms [top, hi).
func lanesValue(n, top, hi uint64, sum, comp []float64) float64 {
	tail := blockGeneric(top, hi)
	if n == 0 {
		return tail
	}
	return fold(tail, sum, comp)
}

// fold returns tail + 2*sum_j (sum[j] - comp[j]), the lanes of a blocks
// kernel (which halves its terms). The lanes are added pairwise with
// Knuth's TwoSum, their rounding errors and the Kahan compensations
// gathered in e, so nothing is lost; len(sum) is 4 or 8.
func fold(tail float64, sum, comp []float64) float64 {
	var v [8]float64
	n := copy(v[:], sum)
	var e float64
	for _, c := range comp {
		e -= c
	}
	for ; n > 1; n /= 2 {
		for j := range n / 2 {
			var err float64
			v[j], err = twoSum(v[j], v[j+n/2])
			e += err
		}
	}
	s, err := twoSum(2*v[0], tail)
	return s + (err + 2*e)
}

// twoSum returns a+b rounded and its rounding error, exactly (Knuth).
func twoSum(a, b float64) (s, err float64) {
	s = a + b
	bb := s - a
	return s, (a - (s - bb)) + (b - bb)
}
