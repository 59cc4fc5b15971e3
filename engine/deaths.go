package engine

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/engine/internal/spawn"
	"github.com/pishm/pishm/sem"
)

// reap handles the exits reaped since the last look, during the barrier
// (cs nil) or a call, and returns the first error; every exit is handled
// (its stderr closed) even after an error.
func (c *crew) reap(w *watch, cs *callState) error {
	var first error
	for _, e := range c.sp.TakeExits() {
		if first != nil {
			c.drop(e) // the call fails anyway: fail replaces it
			continue
		}
		first = c.exited(e, w, cs)
	}
	return first
}

// drop forgets a reaped process without retrying its share: its slot is
// left empty for fail or the next call to refill.
func (c *crew) drop(e spawn.Exit) error {
	defer e.P.Stderr.Close()
	i := e.P.Worker
	if c.proc[i] == e.P {
		c.setProc(i, nil)
	}
	_, err := c.v.Acc.Lock.Recover(e.P.Pid)
	return err
}

// exited handles one reaped process during the barrier (cs nil) or a call.
func (c *crew) exited(e spawn.Exit, w *watch, cs *callState) error {
	defer e.P.Stderr.Close()
	i := e.P.Worker
	if c.proc[i] != e.P {
		return nil // a process we had already given up on
	}
	c.setProc(i, nil)
	s := c.v.Slot(i)
	if c.opt.fork != nil && cs != nil {
		c.opt.fork.settle(c, i, cs) // a forked worker's raw result becomes its journal entry
	}
	we := describeExit(e)
	if we != nil && e.P.Exe != selfExe && s.State.Load() == segment.SlotIdle &&
		(we.How == "exit status "+strconv.Itoa(exitProtocol) || strings.Contains(we.Stderr, ErrProtocol.Error())) {
		// Config.WorkerBinary is from another build: this binary can
		// always serve as its own worker, so use it instead.
		c.sp.SetExe(selfExe)
		return c.start(i, e.P.Attempt)
	}
	if _, err := c.v.Acc.Lock.Recover(e.P.Pid); err != nil {
		return err
	}
	finished := cs != nil && s.DoneGen.Load() == cs.g
	if we == nil {
		if cs != nil && c.opt.oneShot && finished {
			cs.completed[i] = true
			if c.col != nil {
				c.col.Exited(i)
			}
			return nil
		}
		// A Func (or a library it calls) that calls os.Exit(0) ends a
		// worker as surely as a panic: a death like any other.
		we = &WorkerError{Worker: i, Attempt: e.P.Attempt, Pid: e.P.Pid, How: "exit status 0"}
		we.Stderr, we.Cause = readStderr(e.P.Stderr)
	}
	state := s.State.Load()
	we.When = segment.SlotStates[min(state, segment.SlotDone)]
	if state == segment.SlotIdle && e.Status.Exited() && c.opt.fork == nil && !strings.HasPrefix(we.Stderr, childPrefix) {
		// It ended before ChildMain could say anything: the program
		// never reached the child hook.
		we.Hint = "it exited before reaching the engine: call `if engine.IsChild() { os.Exit(engine.ChildMain()) }` first in main"
	}
	if cs != nil {
		we.Func = cs.spec.job.name
		if we.Hi == 0 && !cs.spec.dynamic && i < cs.spec.participants {
			lo, hi := span(cs.spec.n, cs.spec.grain, cs.spec.participants, i)
			we.Lo, we.Hi = cs.spec.offset+lo, cs.spec.offset+hi
		}
		if we.Hi == 0 && cs.spec.dynamic && cs.spec.n > 0 && cs.spec.step > 0 {
			// The chunk it had claimed still carries its pid.
			tbl := c.v.Chunks(int((cs.spec.n-1)/cs.spec.step + 1))
			for k := range tbl {
				if tbl[k].Load() == uint32(e.P.Pid) {
					lo := uint64(k) * cs.spec.step
					we.Lo, we.Hi = cs.spec.offset+lo, cs.spec.offset+min(cs.spec.n, lo+cs.spec.step)
					break
				}
			}
		}
	}
	if cs == nil && c.gen != 0 {
		we.When = "between calls"
	}
	if why := w.killed[e.P.Pid]; why != "" {
		we.When = why
	}
	if cs != nil && !c.opt.oneShot && i >= cs.spec.participants {
		// A worker sitting this call out died idle: nothing of the call
		// is lost, and the fresh process is not a retry.
		cs.failures = append(cs.failures, failureOf(we, "replaced"))
		w.forget(i)
		return c.start(i, cs.attempts[i])
	}
	if cs == nil || finished {
		// Dead before any call, or after finishing this one: its share
		// (if any) stands, and a fresh process takes its place for the
		// calls to come.
		if cs != nil {
			cs.failures = append(cs.failures, failureOf(we, "kept its published result"))
			cs.completed[i] = true
			if c.col != nil {
				c.col.Exited(i)
			}
			if c.opt.oneShot {
				return nil
			}
		}
		return c.replace(i, we)
	}
	if !c.opt.oneShot && e.P.Gen < cs.g && state < segment.SlotRunning {
		// A pool worker that died idle, before it took up this call (its
		// exit reaped only now): nothing of the call is lost, and the
		// fresh process is not a retry.
		cs.failures = append(cs.failures, failureOf(we, "replaced"))
		w.forget(i)
		return c.start(i, cs.attempts[i])
	}
	if cs.attempts[i] >= c.opt.retries {
		we.NoRetriesLeft = c.opt.retries > 0
		return we
	}
	cs.attempts[i]++
	if cs.spec.mode == modeCAS || cs.spec.mode == modeMutex || cs.spec.mode == modeRacy {
		if s.State.Load() >= segment.SlotRunning {
			// It may have added part of its share into the shared
			// accumulator, and nobody can tell how much: the journals decide.
			cs.tainted = true
		}
	}
	if cs.spec.dynamic {
		segment.SettleChunks(c.v.Chunks(int(c.v.Ctl.Job.Chunks)), uint32(e.P.Pid), s.Active())
	} else {
		c.v.ResetSlot(i, cs.spec.job.ops)
	}
	if c.col != nil {
		if err := c.col.Retry(i); err != nil {
			return err
		}
	}
	cs.failures = append(cs.failures, failureOf(we, "retried"))
	w.forget(i)
	return c.start(i, cs.attempts[i])
}

// replace starts a fresh process for a worker that died outside a call's
// share (before it, or after finishing it).
func (c *crew) replace(i int, we *WorkerError) error {
	attempt := 0
	if c.gen == 0 {
		// The start barrier: a worker that never arrived is retried like
		// any other.
		if we.Attempt >= c.opt.retries {
			we.NoRetriesLeft = c.opt.retries > 0
			return we
		}
		attempt = we.Attempt + 1
		c.early = append(c.early, failureOf(we, "retried"))
	} else if c.opt.oneShot {
		return nil
	} else {
		c.early = append(c.early, failureOf(we, "replaced"))
		c.idleSlot(i)
	}
	if c.col != nil {
		if err := c.col.Retry(i); err != nil {
			return err
		}
	}
	return c.start(i, attempt)
}

// failureOf is we as Result.Failures lists it: a death the call survived
// by action.
func failureOf(we *WorkerError, action string) WorkerError {
	f := *we
	f.Action = action
	return f
}

// fail ends a pool call cs that failed with err, so that the pool is
// whole for the next call: the workers still on cs are told to stop at
// their next piece, those still busy after cancelGrace (a Func that
// sleeps, a stopped process) are killed, every dead worker is reaped and
// a fresh process started in its place. The next call waits for nothing
// of this one. It returns err, joined with ErrPoolBroken if a
// replacement cannot start. A one-shot run's workers are killed by close.
func (c *crew) fail(cs *callState, err error) error {
	if c.opt.oneShot {
		return err
	}
	ctl := c.v.Ctl
	ctl.Cancel.Store(cs.g)
	// onCall reports whether p, a worker's process, is still on cs.
	onCall := func(p *spawn.Process) bool { return p != nil && c.v.Slot(p.Worker).DoneGen.Load() != cs.g }
	deadline := time.Now().Add(cancelGrace)
	for {
		f := ctl.Finished.Load()
		c.dropExits()
		if !slices.ContainsFunc(c.proc, onCall) || !time.Now().Before(deadline) {
			break
		}
		sem.WaitWhile(&ctl.Finished, f, min(tick, time.Until(deadline)))
	}
	var killed []*spawn.Process
	for _, p := range c.proc {
		if onCall(p) {
			c.sp.Kill(p)
			killed = append(killed, p)
		}
	}
	// A SIGKILLed process is reaped within milliseconds, unless it sits in
	// the kernel; one that is not reaped by then is a death the next call
	// handles like any other (its slot is not reused before it is reaped).
	reapBy := time.Now().Add(killReapWait)
	for slices.ContainsFunc(killed, func(p *spawn.Process) bool { return c.proc[p.Worker] == p }) && time.Now().Before(reapBy) {
		c.sp.WaitExit(tick)
		c.dropExits()
	}
	for i, p := range c.proc {
		if p != nil || c.opt.callerShare && i == 0 {
			continue
		}
		c.idleSlot(i)
		if err := c.start(i, 0); err != nil {
			return errors.Join(err, c.breakWith(err))
		}
	}
	return err
}

// dropExits drops every exit reaped so far (see drop).
func (c *crew) dropExits() {
	for _, e := range c.sp.TakeExits() {
		c.drop(e)
	}
}

// idleSlot readies slot i for a fresh process between calls: it counts
// the last call as done, so that the process sleeps until the next one
// instead of running a call that is over.
func (c *crew) idleSlot(i int) {
	s := c.v.Slot(i)
	s.DoneGen.Store(c.gen)
	s.State.Store(segment.SlotIdle)
}

// breakWith marks the crew broken by err: every later call fails at once.
func (c *crew) breakWith(err error) error {
	c.broken = fmt.Errorf("%w: %w", ErrPoolBroken, err)
	return c.broken
}

// ErrPoolBroken is returned by every call on a Pool that could not be
// made whole after a failure (a worker that would not start again).
// Close it and make a new one.
var ErrPoolBroken = errors.New("engine: pool broken")

// cancelGrace is how long a failed or cancelled pool call waits for its
// workers to stop at a piece boundary before killing them.
const cancelGrace = 100 * time.Millisecond

// killReapWait bounds the wait for killed workers to be reaped.
const killReapWait = time.Second
