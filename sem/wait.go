package sem

import (
	"sync/atomic"
	"time"
)

// WaitWhile sleeps while *word == val, for at most d (forever if d < 0),
// and returns when it may have changed. It is the building block for
// barriers on other words of the same shared mapping.
func WaitWhile(word *atomic.Uint32, val uint32, d time.Duration) error {
	return futexWait(word, val, d)
}

// WakeAll wakes every process sleeping in WaitWhile on word.
func WakeAll(word *atomic.Uint32) error { return futexWake(word, 1<<30) }

// SpinWhile watches *word without sleeping while it equals val, for at
// most d, and reports whether it changed. A spin answers in nanoseconds
// where a futex sleep costs a wake-up through the scheduler, but it holds
// a CPU: callers spin only when every spinner has a CPU of its own.
func SpinWhile(word *atomic.Uint32, val uint32, d time.Duration) bool {
	if word.Load() != val {
		return true
	}
	if d <= 0 {
		return false
	}
	deadline := time.Now().Add(d)
	for i := 1; ; i++ {
		if word.Load() != val {
			return true
		}
		// The clock is read once every 64 loads: a load is a few
		// nanoseconds, a clock read tens.
		if i%64 == 0 && time.Now().After(deadline) {
			return false
		}
	}
}
