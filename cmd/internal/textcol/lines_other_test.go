//go:build !amd64 || !gc || purego || noasm

package textcol

func setHaveLines(bool) {}
