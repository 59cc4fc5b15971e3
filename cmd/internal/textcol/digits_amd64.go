//go:build amd64 && gc && !purego && !noasm

package textcol

//go:generate go -C _asm run . -out ../digits_amd64.s

import "github.com/klauspost/cpuid/v2"

// digitsNeeds are the CPU features decimalDigits uses (its "Requires"
// line: TestDigitsRequires), and haveDigits says this CPU has them.
var (
	digitsNeeds = []cpuid.FeatureID{cpuid.SSE2, cpuid.SSSE3, cpuid.SSE4}
	haveDigits  = cpuid.CPU.Supports(digitsNeeds...)
)

// decimalDigits is digitsOf(p's bytes) (digits_test.go) in SSE4.1: a mask of
// the digit bytes of p[0:32] finds the runs, and each run's value comes
// from the 16 bytes that end with it, the bytes before it masked off,
// multiplied and added pairwise into pairs, quads and eights of digits.
// It reads the 16 bytes before p and the 48 from p; k is digitK.
//
//go:noescape
func decimalDigits(p *byte, k *[368]byte) (man uint64, ints, fracs, dot int)
