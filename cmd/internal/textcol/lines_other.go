//go:build !amd64 || !gc || purego || noasm

package textcol

// haveLines is false: there are no line readers here, and Plain reads a
// line at a time (and leaves words, the separator Blank, to Record).
const haveLines = false

func plainLines([]byte, int, []byte, byte, *[368]byte, [][2]uint64) int {
	panic("textcol: plainLines without its assembly")
}

func plainLines128([]byte, int, []byte, byte, *[368]byte, [][2]uint64) int {
	panic("textcol: plainLines128 without its assembly")
}

func blankLines([]byte, int, []byte, byte, *[368]byte, [][2]uint64) int {
	panic("textcol: blankLines without its assembly")
}

func blankLines128([]byte, int, []byte, byte, *[368]byte, [][2]uint64) int {
	panic("textcol: blankLines128 without its assembly")
}
