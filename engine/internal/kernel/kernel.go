// Package kernel holds the inner loops that sum the pi series
//
//	S(lo, hi) = sum_{k=lo}^{hi-1} 1/(2k+1)^2
//
// in a table of implementations, best first, chosen once from the CPU's
// features. The pure-Go reference sumGeneric is always compiled; every other
// kernel is tested against it.
package kernel

import (
	"fmt"
	"strings"

	"github.com/klauspost/cpuid/v2"
)

// Kernel is one implementation of the series sum.
type Kernel struct {
	// Name is stable and lowercase ("generic", "avx2"); flags, benchmark
	// keys and -v output use it.
	Name string
	// Requires lists the CPU features the kernel needs.
	Requires []cpuid.FeatureID
	// Sum returns sum_{k=lo}^{hi-1} 1/(2k+1)^2, compensated so that its
	// relative error stays near one ulp for any range up to 1e15 terms.
	Sum func(lo, hi uint64) float64
}

// Supported reports whether this CPU can run k.
func (k Kernel) Supported() bool { return cpuid.CPU.Supports(k.Requires...) }

// kernels is the dispatch table, best first; the generic kernel is last and
// always present. It is the package's only mutable state, filled in init.
var kernels = []Kernel{{Name: "generic", Sum: sumGeneric}}

// register puts k ahead of the kernels already known (platform files call it
// from init, the fastest last).
func register(k Kernel) { kernels = append([]Kernel{k}, kernels...) }

// All returns every kernel compiled into this binary, best first, whether or
// not this CPU supports it.
func All() []Kernel { return append([]Kernel(nil), kernels...) }

// Best returns the fastest kernel this CPU supports.
func Best() Kernel {
	for _, k := range kernels {
		if k.Supported() {
			return k
		}
	}
	return kernels[len(kernels)-1]
}

// ByName returns the kernel called name; "auto" or "" means Best. It fails
// when no kernel has that name or when this CPU lacks its features.
func ByName(name string) (Kernel, error) {
	if name == "" || name == "auto" {
		return Best(), nil
	}
	var names []string
	for _, k := range kernels {
		names = append(names, k.Name)
		if k.Name != name {
			continue
		}
		if !k.Supported() {
			return Kernel{}, fmt.Errorf("kernel %q needs CPU features %v that this CPU lacks", name, k.Requires)
		}
		return k, nil
	}
	return Kernel{}, fmt.Errorf("unknown kernel %q (have auto, %s)", name, strings.Join(names, ", "))
}

// blockTerms is how many terms sumGeneric adds plainly before folding the
// block partial into the compensated total: small enough that a block's own
// rounding stays far below an ulp of the total, large enough that the Kahan
// step costs ~1% (see ANCHORS.md).
const blockTerms = 1024

// sumGeneric is the reference kernel:
//
//	for k := lo; k < hi; k++ { s += 1 / float64(2*k+1) / float64(2*k+1) }
//
// summed backwards (small terms first) in blocks, each block partial
// Kahan-added into the total.
func sumGeneric(lo, hi uint64) float64 {
	var sum, comp float64
	for end := hi; end > lo; {
		start := lo
		if end-lo > blockTerms {
			start = end - blockTerms
		}
		var block float64
		for k := end; k > start; k-- {
			x := float64(2*(k-1) + 1)
			block += 1 / (x * x)
		}
		// Kahan: fold block into sum, carrying the lost low bits in comp.
		y := block - comp
		t := sum + y
		comp = (t - sum) - y
		sum = t
		end = start
	}
	return sum
}
