package engine

import (
	"runtime"
	"time"
)

// waitPolicy says how a Pool's workers wait for the next call and its
// caller for the end of one, in the spirit of OMP_WAIT_POLICY: by
// spinning on the shared word (an answer in nanoseconds, for a CPU held),
// by sleeping on the futex (a CPU free, for a wake-up through the
// scheduler: tens of microseconds), or by spinning a while and then
// sleeping (lab.WithWaitPolicy).
type waitPolicy string

const (
	// waitAdaptive, the default, spins for adaptiveSpin, then sleeps,
	// when every spinner (the workers and the caller) has a CPU of its
	// own, and sleeps at once when they would oversubscribe the CPUs this
	// process may use (its affinity mask and GOMAXPROCS), where spinning
	// would steal the CPU from the very process it waits for.
	waitAdaptive waitPolicy = "adaptive"
	// waitActive spins for activeSpin before sleeping, whatever the CPUs.
	waitActive waitPolicy = "active"
	// waitPassive sleeps at once.
	waitPassive waitPolicy = "passive"
)

// Spin windows. An idle pool stops spinning after its window: from then
// on its workers use no CPU until the next call.
const (
	adaptiveSpin = 200 * time.Microsecond
	activeSpin   = 50 * time.Millisecond
	// heldSleep is how long a worker sleeps for the next call keeping its
	// P (childMain's loop): longer than the gap between a busy caller's
	// calls, well below the 10 ms after which the runtime preempts a P
	// that runs on.
	heldSleep = 2 * time.Millisecond
)

// spinWindow is how long a waiter spins under policy p when spinners
// threads may spin at once.
func spinWindow(p waitPolicy, spinners int) (time.Duration, error) {
	switch p {
	case waitPassive:
		return 0, nil
	case waitActive:
		return activeSpin, nil
	case waitAdaptive, "":
		if spinners <= usableCPUs() {
			return adaptiveSpin, nil
		}
		return 0, nil
	}
	return 0, configErr("Wait", ": unknown wait policy %q (want adaptive, active or passive)", p)
}

// usableCPUs is how many CPUs this process may run on at once: its
// affinity mask (runtime.NumCPU reads it) and GOMAXPROCS.
func usableCPUs() int { return min(runtime.NumCPU(), runtime.GOMAXPROCS(0)) }
