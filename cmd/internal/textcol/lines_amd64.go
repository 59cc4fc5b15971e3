//go:build amd64 && gc && !purego && !noasm

package textcol

import "github.com/klauspost/cpuid/v2"

// linesNeeds are the CPU features plainLines uses (its "Requires" line:
// TestAsmRequires), and haveLines says this CPU has them.
var (
	linesNeeds = []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.BMI1, cpuid.BMI2}
	haveLines  = cpuid.CPU.Supports(linesNeeds...)
)

// plainLines reads the plain lines of data from at on (at >= 16: a
// number's digits are read with the 16 bytes before them), each in one
// step from the 64 bytes that start it, as plain1 reads them: it stops
// at the first line that is not whole within its window, whose field
// col is not a number of at most 16 digits before a '.' and 16 after
// it, 19 in all, that fills the field, or whose window runs past data,
// and at out's end. For line i it sets out[i][0] to the digits' value
// and out[i][1] to the line's length (its '\n' included) | the fraction's
// digits<<8 | a '-' sign<<16 | the field's start in the line<<24, and it
// returns the lines read. k is digitK.
//
//go:noescape
func plainLines(data []byte, at, col int, sep byte, k *[368]byte, out [][2]uint64) (lines int)
