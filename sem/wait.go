package sem

import (
	"sync/atomic"
	"time"
)

// WaitWhile sleeps while *word == val, for at most d (forever if d < 0),
// and returns when it may have changed. It is the building block for
// barriers on other words of the same shared mapping.
func WaitWhile(word *atomic.Uint32, val uint32, d time.Duration) error {
	return futexWait(word, val, d, false)
}

// WaitWhileHoldingP is WaitWhile for a process whose one goroutine that
// matters waits: the sleep is a raw system call, so the thread keeps its
// P (Go's right to run Go code) while it sleeps, as a C thread would.
//
// For a sleeper woken often, a sleep that Go's scheduler sees costs more
// than the futex: after 20 µs asleep the runtime's monitor thread takes
// the P back and may wake another thread to poll the network, and having
// found work it looks again 20 µs later, so with wake-ups every few tens
// of microseconds it never rests. On a machine whose other CPUs are busy
// these threads compete for the one CPU left: on a 2-core Intel Xeon VM
// with a busy loop beside it, a Pool call of 1000 terms took 33 µs
// instead of 47 (mean) when its workers slept so.
//
// The cost: the process's other goroutines (the runtime's own: the
// garbage collector's, a forced collection every two minutes) do not run
// while it sleeps; a stop-the-world waits for the sleep to end (a signal
// does not end it: the kernel restarts the wait); and a P held 10 ms
// draws a preemption signal from the monitor every 10 ms. So it is for a
// worker process with GOMAXPROCS=1 between close calls, with d of a few
// milliseconds; a longer wait is WaitWhile's.
func WaitWhileHoldingP(word *atomic.Uint32, val uint32, d time.Duration) error {
	return futexWait(word, val, d, true)
}

// WaitWhileAs is WaitWhile for a sleeper that WakeBits wakes only when
// its bits include one of bits (WakeAll wakes it too): a waker can then
// wake some of the sleepers on one word, in one system call. Give each
// sleeper its own bit (sleepers past 32 share them: a wake-up of a bit's
// owner may wake another, which must look at the word and sleep again).
// A sleeper of WaitWhile is woken by every WakeBits.
func WaitWhileAs(word *atomic.Uint32, val uint32, d time.Duration, bits uint32) error {
	return futexWaitBits(word, val, d, false, bits)
}

// WaitWhileHoldingPAs is WaitWhileAs keeping the thread's P, as
// WaitWhileHoldingP.
func WaitWhileHoldingPAs(word *atomic.Uint32, val uint32, d time.Duration, bits uint32) error {
	return futexWaitBits(word, val, d, true, bits)
}

// WakeBits wakes the sleepers on word whose bits (WaitWhileAs,
// WaitWhileHoldingPAs) meet bits, and every sleeper of WaitWhile and
// WaitWhileHoldingP, and says how many it woke.
func WakeBits(word *atomic.Uint32, bits uint32) (int, error) { return futexWakeBits(word, bits) }

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
		if i%yieldEvery == 0 {
			yieldCPU()
		}
	}
}

// yieldEvery is how many loads a spinner makes between two offers of its
// CPU to any thread waiting for one (yieldCPU): a few microseconds. A
// spinner that never offers it keeps a thread that needs its CPU waiting
// for the scheduler's next preemption, hundreds of microseconds or more:
// on a 2-core Intel Xeon VM with a busy loop beside it, a Pool call of
// 1000 terms with the caller's share took 24 µs (median of 8 runs) where
// the spinners never offered their CPU, 14 µs where they did.
const yieldEvery = 1024
