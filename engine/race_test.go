//go:build race

package engine

// raceEnabled: the race detector slows the children's kernels ~10x and cannot
// see the shared segment anyway (PITFALLS.md #7), so big runs are skipped.
const raceEnabled = true
