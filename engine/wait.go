package engine

import (
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/internal/runq"
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
	// calls, below the 10 ms after which the runtime preempts a P that
	// runs on. And longer than the kernel's scheduler tick (4 ms at 250
	// Hz, 1 ms at 1000): the sleep's timeout is a timer, and one due
	// before the CPU's next tick must be programmed into the timer
	// hardware when armed, which on a virtual machine is an exit to the
	// host. At 2 ms, on a 2-core Intel Xeon VM (250 Hz) beside a busy
	// loop, that cost a plain pool's call of 1e3 terms 3.3 µs of its
	// 14.5 (BenchmarkPoolLoaded, 8 alternating runs).
	heldSleep = 8 * time.Millisecond
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

// machineLoad keeps a Pool's spin windows honest on a machine it shares:
// a spinner is worth its CPU only while every spinner has one, and the
// CPU count alone cannot say whether threads of other processes (a
// neighbour's busy loop, a build) want them too. So at most every
// loadEvery the caller reads how many threads the machine has runnable
// (package runq), less the pool's own (the caller, and the workers not
// asleep), scaled to the share of the machine's CPUs this process may
// use, and keeps a running mean of it: others. A window is kept while its
// spinners and others fit in the usable CPUs, and is 0 (a sleep at once)
// otherwise, as libgomp stops spinning when its threads outnumber the
// CPUs. On a 2-core Intel Xeon VM with a busy loop beside it, a pool with
// the caller's share went from 9.5 to 8.3 µs a call of 1e3 terms (its
// worker's spins for the next call had taken the CPU its caller needed
// to post it); a plain pool's workers, whose spins the lost-spin gauge
// had already cut, and the quiet figures did not change.
type machineLoad struct {
	r      *runq.Reader
	scale  float64 // the share of the machine's CPUs this process may use
	next   time.Time
	others float64 // running mean of the others runnable
}

// loadEvery is how often a pool's caller reads the machine's load: a
// read is a system call of a few microseconds.
const loadEvery = 5 * time.Millisecond

// newMachineLoad returns nil where the load cannot be read: the windows
// then depend on the CPU count alone.
func newMachineLoad() *machineLoad {
	r := runq.Open()
	if r == nil {
		return nil
	}
	m := &machineLoad{r: r, scale: 1}
	if on := runq.Online(); on > runtime.NumCPU() {
		m.scale = float64(runtime.NumCPU()) / float64(on)
	}
	return m
}

// sample takes in the machine's load at now, ours of the runnable threads
// being the pool's, unless the last sample is younger than loadEvery. It
// reports whether it sampled.
func (m *machineLoad) sample(now time.Time, ours int) bool {
	if now.Before(m.next) {
		return false
	}
	m.next = now.Add(loadEvery)
	n, ok := m.r.Runnable()
	if !ok {
		return false
	}
	m.observe(float64(max(n-ours, 0)) * m.scale)
	return true
}

// observe folds one count of others runnable into the running mean, at
// half weight. window counts the mean as floor(mean + 1/4) threads: a
// busy loop that starts (or stops) counts after two samples, and a thread
// runnable for one sample (a kernel worker, a garbage collector's
// worker) is not counted (its mean is 1/2).
func (m *machineLoad) observe(others float64) { m.others = (m.others + others) / 2 }

// window is w, a spin window for spinners threads, where they and the
// others runnable fit in the usable CPUs, and 0 where they would not.
// The active policy's windows (over adaptiveSpin) are left alone.
func (m *machineLoad) window(w time.Duration, spinners int) time.Duration {
	if m == nil || w == 0 || w > adaptiveSpin {
		return w
	}
	if float64(spinners)+math.Floor(m.others+0.25) > float64(usableCPUs()) {
		return 0
	}
	return w
}

// close releases the reader.
func (m *machineLoad) close() {
	if m != nil {
		m.r.Close()
	}
}
