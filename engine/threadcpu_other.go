//go:build !linux

package engine

import "time"

// threadCPU is the CPU time the calling thread has used: 0 here, where
// no pool runs (the futex is Linux's).
func threadCPU() time.Duration { return 0 }
