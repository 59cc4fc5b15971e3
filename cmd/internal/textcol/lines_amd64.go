//go:build amd64 && gc && !purego && !noasm

package textcol

import "github.com/klauspost/cpuid/v2"

// linesNeeds are the CPU features the line readers (plainLines and its
// variants) use (their "Requires" lines: TestAsmRequires), and haveLines
// says this CPU has them.
var (
	linesNeeds = []cpuid.FeatureID{cpuid.AVX, cpuid.AVX2, cpuid.BMI1, cpuid.BMI2}
	haveLines  = cpuid.CPU.Supports(linesNeeds...)
)

// plainLines reads the plain lines of data from at on (at >= 16: a
// number's digits are read with the 16 bytes before them), each in one
// step from the 64 bytes that start it, as Plain reads them: the fields
// (ascending) must each hold a number of at most 16 digits before a '.'
// and 19 in all, then perhaps an exponent of one to three digits, that
// fills the field. It stops at the first line that is not so, is not
// whole in its window, or whose window holds a '"' or runs past data, and
// when out has no room for another line's fields. For line i and its
// q-th field it sets out[i*len(fields)+q] to the digits' value and the
// line's length (its '\n' included) | the fraction's digits<<8 | a '-'
// sign<<16 | the field's start in the line<<24 | the exponent (int16)<<32,
// and it returns the lines read. k is digitK.
//
//go:noescape
func plainLines(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)

// plainLines128 is plainLines with a window of 128 bytes, for lines of
// 64 to 127: two more loads and compares a mask, and a second word of
// each mask to look through.
//
//go:noescape
func plainLines128(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)

// blankLines and blankLines128 are plainLines and plainLines128 for the
// separator Blank: the fields are the line's words, between runs of
// blanks (' ', '\t', '\r'), as Record reads them; a number ends its word
// (a blank or the line's end after it). sep is not read.
//
//go:noescape
func blankLines(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)

//go:noescape
func blankLines128(data []byte, at int, fields []byte, sep byte, k *[368]byte, out [][2]uint64) (lines int)
