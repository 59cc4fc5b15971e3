//go:build !amd64 || !gc || purego || noasm

package textcol

// haveDigits is false: there is no decimalDigits here, and fastNumber
// reads the digits in Go.
const haveDigits = false

func decimalDigits(*byte, *[368]byte) (man uint64, ints, fracs, dot int) {
	panic("textcol: decimalDigits without its assembly")
}
