package engine

import (
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/sem"
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

// spinGauge keeps a worker from spinning for the next call while its
// spins lose their CPU. A spin that lasted over lostSpin and ran for less
// than half of it (threadCPU) shared its CPU with another runnable thread,
// a neighbour's busy loop say: the spinner offers it the CPU
// (sem.SpinWhile), and the call it waits for then waits for the
// scheduler to hand the CPU back, a whole time slice; a sleeper, woken by
// the call, gets it back at once. After such a spin the worker sleeps at
// once for the next skip calls, skip doubling (up to maxSkip) while its
// spins keep losing, and back to minSkip once one holds its CPU. The
// active policy's spins (windows over adaptiveSpin) are left alone.
type spinGauge struct{ skip, next int }

const (
	lostSpin = 20 * time.Microsecond
	minSkip  = 16
	maxSkip  = 4096
)

// spinWhile is sem.SpinWhile(word, val, d) as the gauge allows it: it
// reports whether *word changed from val.
func (s *spinGauge) spinWhile(word *atomic.Uint32, val uint32, d time.Duration) bool {
	if d <= 0 || d > adaptiveSpin {
		return sem.SpinWhile(word, val, d)
	}
	if s.skip > 0 {
		s.skip--
		return word.Load() != val
	}
	t0, c0 := time.Now(), threadCPU()
	changed := sem.SpinWhile(word, val, d)
	s.judge(time.Since(t0), threadCPU()-c0)
	return changed
}

// judge takes in a spin that lasted wall and ran for cpu of it.
func (s *spinGauge) judge(wall, cpu time.Duration) {
	if wall <= lostSpin {
		return
	}
	if cpu < wall/2 {
		s.next = min(max(2*s.next, minSkip), maxSkip)
		s.skip = s.next
	} else {
		s.next = 0
	}
}
