package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// inWorker is set once ChildMain has taken this process's worker
// environment: from then on it must not start workers of its own.
var inWorker atomic.Bool

// IsChild reports whether this process was started by the engine as a
// worker. Programs that embed the engine call it first thing in main:
//
//	func main() {
//		if engine.IsChild() {
//			os.Exit(engine.ChildMain())
//		}
//		...
//	}
func IsChild() bool { return os.Getenv(envSegment) != "" }

// ChildMain runs this process as a worker: it attaches to the segment it
// inherited, serves the parent's calls, and returns the exit status (0 on
// success, 1 after printing the error to stderr).
func ChildMain() int {
	w := os.Getenv(envWorker)
	if err := childMain(); err != nil {
		var fp *funcPanic
		if errors.As(err, &fp) {
			os.Stderr.WriteString(fp.report())
			return exitPanic
		}
		fmt.Fprintf(os.Stderr, "%s%s: %v\n", childPrefix, w, err)
		if errors.Is(err, ErrProtocol) {
			return exitProtocol
		}
		return 1
	}
	return 0
}

// childPrefix starts every line ChildMain prints about its own failure, so
// that the parent can tell a worker that reached it from a program that
// never called it. It names the engine, not pishm: ChildMain runs inside
// any program that embeds the engine.
const childPrefix = "engine worker "

// exitProtocol is a worker's exit status when it cannot work with the
// segment it was given (ErrProtocol): a Config.WorkerBinary from another
// build. The parent then falls back to its own binary.
const exitProtocol = 3

// exitPanic is a worker's exit status after its Func panicked; its stderr
// then starts with a panicReport.
const exitPanic = 4

// notAWorker is the guard at the top of Reduce and NewPool.
func notAWorker() error {
	if inWorker.Load() {
		return &ConfigError{Reason: "a worker may not start workers (Reduce or NewPool called from a Func)"}
	}
	if IsChild() {
		return &ConfigError{Reason: fmt.Sprintf("this process was started as a pishm worker (%s is set) but called Reduce or NewPool: "+
			"put the child hook (engine.IsChild, engine.ChildMain) first in main (and in a test binary's TestMain)", envSegment)}
	}
	return nil
}

// takeEnv reads and removes the worker environment.
func takeEnv() (seg *shmem.Segment, index int, err error) {
	segVar, wVar, aVar := os.Getenv(envSegment), os.Getenv(envWorker), os.Getenv(envAttempt)
	for _, k := range []string{envSegment, envWorker, envAttempt} {
		os.Unsetenv(k)
	}
	inWorker.Store(true)
	backing, fdText, ok := strings.Cut(segVar, ":")
	fd, err := strconv.Atoi(fdText)
	if !ok || err != nil || fd < 3 {
		return nil, 0, fmt.Errorf("bad %s=%q", envSegment, segVar)
	}
	// The attempt is for the fault hooks of the engine's tests, which read
	// it before ChildMain; here it is only checked.
	index, err1 := strconv.Atoi(wVar)
	attempt, err2 := strconv.Atoi(aVar)
	if err1 != nil || err2 != nil || index < 0 || attempt < 0 {
		return nil, 0, fmt.Errorf("bad %s=%q or %s=%q", envWorker, wVar, envAttempt, aVar)
	}
	seg, err = shmem.OpenFile(os.NewFile(uintptr(fd), "inherited segment"), shmem.Backing(backing))
	return seg, index, err
}

// worker is one worker process's state.
type worker struct {
	v    segment.View
	i    int
	s    *segment.Slot
	pid  uint32
	jobs map[string]job // by name, found once

	pub     publisher // reused by every call
	scratch Vector    // each publish's folds, reused by every call
	// g is the call in progress, and cancelled reports whether the parent
	// has cancelled it: made once, as a closure per call would cost an
	// allocation.
	g         uint32
	cancelled func() bool
}

func childMain() error {
	fault("attach")
	seg, i, err := takeEnv()
	if err != nil {
		return err
	}
	defer seg.Close()
	ctl := (*segment.Control)(seg.Block(0))
	l, err := ctl.Check(seg, buildStamp(), maxWorkers)
	if err != nil {
		return err
	}
	if i >= l.Workers {
		return fmt.Errorf("bad %s=%d for a segment of %d workers", envWorker, i, l.Workers)
	}
	w := &worker{v: segment.NewView(seg, l), i: i, pid: uint32(os.Getpid()), jobs: map[string]job{}}
	w.s = w.v.Slot(i)
	w.cancelled = func() bool { return ctl.Cancel.Load() == w.g }
	w.s.Pid.Store(w.pid)
	w.s.State.Store(segment.SlotArrived)
	ctl.Arrived.Add(1)
	if err := sem.WakeAll(&ctl.Arrived); err != nil {
		return err
	}
	fault("arrived")
	spun := uint32(segment.GenQuit) // the call whose arrival this worker last spun for
	served := uint32(0)             // the last call this worker took part in
	var gauge spinGauge
	for {
		g := ctl.Gen.Load() // load-acquire: the job written before gen is visible
		switch {
		case g == segment.GenQuit:
			return nil
		case newer(g, w.s.DoneGen.Load()):
			oneShot, err := w.call(g)
			if err != nil || oneShot {
				return err
			}
			served = g
			continue
		}
		// Once per call waited for: a spin, then a sleep that keeps this
		// process's one P for at most heldSleep (see sem.WaitWhileHoldingP:
		// GOMAXPROCS is 1 here and this loop is all there is to run, while
		// a sleep the scheduler saw would keep the runtime's monitor
		// thread busy at every call). A pool that stays idle longer sleeps
		// as the scheduler sees, in one-second naps (to look at the
		// parent), so that the runtime rests too: a P held for 10 ms draws
		// a preemption signal from the monitor every 10 ms.
		// A worker that sat call g out (see "Who takes part") sleeps at
		// once: its spin would only take a CPU from those taking part.
		// Every sleep is by its bit, so that such a call does not wake it.
		sleep, d := w.sleep, time.Second
		if g != spun {
			spun = g
			if g == served && gauge.spinWhile(&ctl.Gen, g, time.Duration(ctl.SpinNs.Load())) {
				continue
			}
			sleep, d = w.sleepHoldingP, heldSleep
		}
		ctl.GenSleepers.Add(1)
		err := sleep(&ctl.Gen, g, d)
		ctl.GenSleepers.Add(^uint32(0))
		if err != nil {
			return err
		}
		// A call posted means a live parent: only a wait that saw none
		// asks the kernel (a system call per call otherwise).
		if ctl.Gen.Load() == g && os.Getppid() == 1 {
			return errors.New("the parent died")
		}
	}
}

// call runs call g: the share, the publishes, then doneGen. It reports
// whether this worker serves one call only (a one-shot Run).
func (w *worker) call(g uint32) (oneShot bool, err error) {
	faultGen = g
	defer func() {
		if r := recover(); r != nil {
			err = asFuncPanic(r)
		}
	}()
	ctl := w.v.Ctl
	spec := ctl.Job // a copy: the parent does not write it during the call
	if err := checkJob(&spec, w.v.L, w.v.Ops); err != nil {
		return false, err
	}
	mode, _ := modeOf(spec.Mode)
	j, err := w.job(&spec)
	if err != nil {
		return false, err
	}
	j = j.bind(w.v.Params(int(spec.Params)))
	w.g = g
	j.cancelled = w.cancelled
	start := time.Now()
	pub := &w.pub
	if err := sumShare(w.v, w.i, w.pid, &spec, mode, j, nil, pub, &w.scratch); err != nil {
		return false, err
	}
	if mode.isTransport() {
		// The message carries the share's exact result, the journal's
		// fold: the parent's result comes from the messages, and the
		// journal is its check.
		lo, hi := span(spec.N, spec.Grain, int(spec.Workers), w.i)
		_, cf := pub.j.Cur()
		ms := make([]transport.Message, len(cf))
		for e := range cf {
			f := &cf[e]
			ms[e] = transport.Message{Worker: uint32(w.i), Lo: spec.Offset + lo, Hi: spec.Offset + hi,
				ElapsedNs: int64(time.Since(start)), Partial: f.Value(), Sum: f.Acc, Elem: uint32(e), Elems: uint32(len(cf))}
		}
		sctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		err := transport.Send(sctx, ms...)
		cancel()
		if err != nil {
			return false, err
		}
	}
	finishShare(w.v, w.i, g, time.Since(start))
	fault("done")
	if n, at := ctl.Finished.Add(1), ctl.WakeParentAt.Load(); at != 0 && n >= at {
		if err := sem.WakeAll(&ctl.Finished); err != nil {
			return false, err
		}
	}
	return oneShotGen(g), nil
}

// newer reports whether call g is one this worker has yet to handle, its
// slot's doneGen being done. The parent marks a slot sitting a call out
// by storing that call's gen in its doneGen before it posts the call
// (see "Who takes part"), so doneGen may be a call ahead of a gen the
// worker read a moment before: g != done would then run the old call
// again, on the new call's job, beside those taking part. Gens count up,
// so a slot's doneGen is behind g, equal, or one call ahead: the
// difference, as a signed number, tells them apart. A one-shot run's
// only call has its own gen.
func newer(g, done uint32) bool {
	if g == 0 || g == done {
		return false
	}
	return g == genOneShot || int32(g-done) > 0
}

// oneShotGen: a one-shot Run numbers its only call genOneShot, so that its
// workers exit right after it instead of waiting to be told.
func oneShotGen(g uint32) bool { return g == genOneShot }

// genOneShot is the gen of a one-shot Run's call.
const genOneShot = segment.GenQuit - 1

// sleepHoldingP and sleep are sem.WaitWhileHoldingP and sem.WaitWhile by
// this worker's bit: a call that some workers sit out wakes only those
// taking part.
func (w *worker) sleepHoldingP(word *atomic.Uint32, val uint32, d time.Duration) error {
	return sem.WaitWhileHoldingPAs(word, val, d, workerBit(w.i))
}

func (w *worker) sleep(word *atomic.Uint32, val uint32, d time.Duration) error {
	return sem.WaitWhileAs(word, val, d, workerBit(w.i))
}

// job finds the Func spec names in this binary's registry.
func (w *worker) job(spec *segment.JobSpec) (job, error) {
	b, _ := segment.CBytes(spec.Name[:])
	if j, ok := w.jobs[string(b)]; ok {
		return j, nil
	}
	name := string(b)
	j, ok := lookup(name)
	if !ok {
		return job{}, fmt.Errorf("no Func registered as %q in this binary (Register it from an init function)", name)
	}
	if ops := w.v.Ops(int(spec.K)); !slices.Equal(j.ops, ops) {
		return job{}, fmt.Errorf("%q is registered with ops %s here, %s in the parent", name, fold.Format(j.ops), fold.Format(ops))
	}
	w.jobs[name] = j
	return j, nil
}

// sendTimeout bounds a worker's send of its one message.
const sendTimeout = time.Minute
