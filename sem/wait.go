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
