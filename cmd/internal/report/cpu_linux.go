//go:build linux

package report

import (
	"syscall"
	"time"
)

// cpuNow is the user+system time of this process and of every child it
// has waited for (RUSAGE_SELF + RUSAGE_CHILDREN): the difference across a
// run is the CPU the run burnt, workers included once they are reaped.
func cpuNow() time.Duration {
	var t time.Duration
	for _, who := range []int{syscall.RUSAGE_SELF, syscall.RUSAGE_CHILDREN} {
		var ru syscall.Rusage
		if syscall.Getrusage(who, &ru) == nil {
			t += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
	}
	return t
}
