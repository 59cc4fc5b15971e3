//go:build amd64 && gc && !purego && !noasm

package textcol

// setHaveLines sets haveLines: a test compares Plain with and without
// plainLines.
func setHaveLines(v bool) { haveLines = v }
