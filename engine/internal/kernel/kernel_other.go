//go:build !amd64 || !gc || purego || noasm

package kernel

// Without assembly (another GOARCH, gccgo, or the purego / noasm tags) the
// table holds only the generic kernel; nothing is registered here.
