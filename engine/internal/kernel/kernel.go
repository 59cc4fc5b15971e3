// Package kernel holds the inner loops that sum the pi series
//
//	S(lo, hi) = sum_{k=lo}^{hi-1} 1/(2k+1)^2
//
// in a table of implementations, best first, chosen once from the CPU's
// features. The pure-Go reference sumGeneric is always compiled; every other
// kernel is tested against it.
package kernel

// The assembly kernels are generated with avo by _asm, a module of its own.
//go:generate go -C _asm run . -out ../kernel_amd64.s -stubs ../stubs_amd64.go -pkg kernel

import (
	"errors"
	"fmt"
	"os"
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
	// relative error stays within a few ulps for any range. It returns 0
	// when hi <= lo and panics when hi > MaxIndex.
	Sum func(lo, hi uint64) float64
}

// Supported reports whether this CPU can run k.
func (k Kernel) Supported() bool { return cpuid.CPU.Supports(k.Requires...) }

// FuncName is the name the engine registers k's sum under, "pi/" and the
// kernel's name: each kernel rounds in its own way, so each is a Func of
// its own.
func (k Kernel) FuncName() string { return FuncPrefix + k.Name }

// FuncPrefix starts the name of every kernel's Func.
const FuncPrefix = "pi/"

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

// EnvKernel is the environment variable that overrides "auto".
const EnvKernel = "PISHM_KERNEL"

// Resolve returns the kernel name means, as ByName does, except that ""
// and "auto" mean the kernel EnvKernel names when it is set. env is that
// setting when it was used ("" otherwise), for the caller's errors.
func Resolve(name string) (k Kernel, env string, err error) {
	if name == "" || name == "auto" {
		if env = strings.TrimSpace(os.Getenv(EnvKernel)); env != "" {
			name = env
		}
	}
	k, err = ByName(name)
	return k, env, err
}

// ErrUnknown is wrapped by ByName's error for a name no kernel has.
var ErrUnknown = errors.New("unknown kernel")

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
			return Kernel{}, fmt.Errorf("kernel: %q needs CPU features %v that this CPU lacks", name, k.Requires)
		}
		return k, nil
	}
	return Kernel{}, fmt.Errorf("%w %q (want auto, %s)", ErrUnknown, name, strings.Join(names, ", "))
}

// MaxIndex bounds the indices a kernel takes: Sum(lo, hi) needs
// hi <= MaxIndex, so that every odd number 2k+1 it uses is below 2^53 and
// exact in float64. (At 0.1 ns per term, MaxIndex terms take five days.)
const MaxIndex = 1 << 52

// checkRange panics unless hi <= MaxIndex; every kernel calls it first.
func checkRange(hi uint64) {
	if hi > MaxIndex {
		panic(fmt.Sprintf("kernel: hi = %d exceeds MaxIndex = %d", hi, uint64(MaxIndex)))
	}
}

// blockTerms is how many terms sumGeneric adds plainly (eight four-term
// fractions) before folding the block partial into the compensated total.
// Far from k = 0 the terms are nearly equal and a plain chain's rounding
// grows with its length: 256 fractions per chain gave 2e-15 relative error
// there, 8 keep it near 3e-16; the Kahan step is four adds per eight
// divisions. The assembly kernels use the same eight per lane (blockIters
// in _asm/asm.go).
const blockTerms = 32

// sumGeneric is the reference kernel:
//
//	for k := lo; k < hi; k++ { s += 1 / float64(2*k+1) / float64(2*k+1) }
//
// summed backwards (small terms first) in blocks of blockTerms, each block
// partial Kahan-added into the total. It assumes that: hi <= MaxIndex (it
// panics otherwise); it returns 0 when hi <= lo.
func sumGeneric(lo, hi uint64) float64 {
	checkRange(hi)
	var sum, comp float64
	for end := hi; end > lo; {
		start := lo
		if end-lo > blockTerms {
			start = end - blockTerms
		}
		block := blockGeneric(start, end)
		// Kahan: fold block into sum, carrying the lost low bits in comp.
		y := block - comp
		t := sum + y
		comp = (t - sum) - y
		sum = t
		end = start
	}
	return sum
}

// blockGeneric returns sum_{k=lo}^{hi-1} 1/(2k+1)^2 added plainly from the
// top down: the (hi-lo)%4 highest terms one by one, then four terms per
// division. Four odd numbers m-3, m-1, m+1, m+3 around an even m give, with
// M = m*m, e1 = M-1 = (m-1)(m+1) and e2 = M-9 = (m-3)(m+3),
//
//	1/(m-3)^2 + 1/(m-1)^2 + 1/(m+1)^2 + 1/(m+3)^2
//	  = 2 ((M+1) e2^2 + (M+9) e1^2) / (e1^2 e2^2)
//
// where every quantity is positive (nothing cancels) and e1^2 e2^2 < 2^424
// for m < 2^53. The assembly kernels use the same identity.
func blockGeneric(lo, hi uint64) float64 {
	var single float64
	for (hi-lo)%4 != 0 {
		hi--
		x := float64(2*hi + 1)
		single += 1 / (x * x)
	}
	var quads float64
	m := float64(2*hi) - 4 // centre of the top quad, k = hi-4 .. hi-1
	for k := hi; k > lo; k -= 4 {
		M := m * m
		e1, e2 := M-1, M-9
		d1, d2 := e1*e1, e2*e2
		quads += ((M+1)*d2 + (M+9)*d1) / (d1 * d2)
		m -= 8
	}
	return 2*quads + single
}
