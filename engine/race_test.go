//go:build race

package engine

// raceEnabled: the race detector slows the children's kernels ~10x and cannot
// see memory shared with other processes anyway (it instruments only this
// process's accesses), so big runs are skipped.
const raceEnabled = true
