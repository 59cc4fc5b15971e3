package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/internal/proc"
	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// crew is the parent's side of the protocol (see protocol.go): one
// segment, its worker processes, and the calls they serve.
type crew struct {
	opt    crewOptions
	caller callerShare // the caller's share's state (WithCallerShare)
	seg    *shmem.Segment
	v      segView
	sp     *spawner
	proc   []*process     // the current process of each worker, nil while none runs
	pids   []atomic.Int64 // proc's pids, for Pool.Workers while a call runs
	gen    uint32
	// broken, once set, fails every later call at once: the crew could
	// not be made whole after a failure (a replacement would not start).
	broken error
	col    transport.Collector // one-shot message-passing runs only
	// early are the deaths dealt with outside a call's share (at the
	// start barrier, or while idle), reported with the next call.
	early []Failure
	self  int       // this process's pid (os.Getpid is a system call)
	cs    callState // the call in flight, or the last one
	w     *watch    // the watch of the call in flight (see watch)
}

// crewOptions fix a crew's shape for its life.
type crewOptions struct {
	workers   int
	shm       shmem.Backing
	path      string
	force     bool
	lanePad   int
	maxChunks int
	maxParams int
	maxK      int    // elements a call may have (at least 1)
	exe       string // the worker binary; "" for this one
	retries   int
	stall     time.Duration // no progress for this long kills a worker; < 0 never
	oneShot   bool
	progress  func(Progress)
	// transport, for a one-shot message-passing run: the kind and options.
	transport     string
	transportOpts transport.Options
	// fork, for Config.Spawn fork: workers are forked, not exec'd (forkspawn.go).
	fork *forkSpawn
	// callerShare: the caller sums slot 0's share itself (a Pool's
	// WithCallerShare); slot 0 has no process.
	callerShare bool
	// spin is how long the parent spins for a call's end, and the
	// workers for the next call, before they sleep (see "Waiting" in
	// protocol.go).
	spin time.Duration
}

// stoppedGrace is how long a worker may sit stopped (SIGSTOP, a tracer)
// before the parent kills it and redoes its share.
const stoppedGrace = 2 * time.Second

// tick is how often a waiting parent looks at exits, progress and stalls.
const tick = 50 * time.Millisecond

// newCrew creates the segment and starts every worker, and returns once
// all of them have arrived (the start barrier), or with an error and
// nothing left behind.
func newCrew(ctx context.Context, o crewOptions) (c *crew, err error) {
	l := newLayout(o.workers, shmem.DefaultBlockStride(), o.lanePad, o.maxChunks, o.maxParams, max(o.maxK, 1))
	seg, err := shmem.Create(shmem.Options{Backing: o.shm, Path: o.path, Force: o.force,
		Blocks: l.blocks(), Stride: l.stride, Tail: l.tail()})
	if err != nil {
		return nil, err
	}
	// A file-backed segment's path goes at once: children attach through
	// the inherited descriptor, so nothing is left on disk however we die.
	if err := seg.Remove(); err != nil {
		seg.Close()
		return nil, err
	}
	c = &crew{opt: o, seg: seg, v: newView(seg, l), proc: make([]*process, o.workers), pids: make([]atomic.Int64, o.workers), self: os.Getpid()}
	c.caller.cancelled = func() bool { return c.v.ctl.cancel.Load() == c.caller.g || c.caller.ctx.Err() != nil }
	c.caller.lock = c.lockAccum
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
		}
	}()
	ctl := c.v.ctl
	ctl.protocol = protocolVersion
	ctl.workers = uint32(o.workers)
	ctl.stamp = buildStamp()
	ctl.lanePad = uint32(o.lanePad)
	ctl.maxChunks = uint32(o.maxChunks)
	ctl.maxParams = uint32(o.maxParams)
	ctl.maxK = uint32(l.maxK)

	exe := o.exe
	if exe == "" {
		exe = selfExe
	}
	env := workerEnv()
	if o.transport != "" {
		c.col, err = transport.NewCollector(ctx, o.transport, o.transportOpts)
		if err != nil {
			return c, err
		}
	}
	c.sp = newSpawner(exe, env)
	c.sp.wake = c.nudge
	ctl.spinNs.Store(int64(o.spin))
	for i := range o.workers {
		if o.callerShare && i == 0 {
			// Slot 0 is the caller's own: it never has a process.
			s := c.v.slot(0)
			s.pid.Store(uint32(c.self))
			s.state.Store(slotArrived)
			c.pids[0].Store(int64(c.self))
			continue
		}
		if err := c.start(i, 0); err != nil {
			return c, err
		}
	}
	return c, c.barrier(ctx)
}

// workerEnv is the environment of every worker: ours without our own
// worker variables, plus GOMAXPROCS=1.
func workerEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envSegment+"=") && !strings.HasPrefix(kv, envWorker+"=") &&
			!strings.HasPrefix(kv, envAttempt+"=") && !strings.HasPrefix(kv, "GOMAXPROCS=") {
			env = append(env, kv)
		}
	}
	// A worker runs one loop: one P spares it the threads and the
	// scheduler work of more, and it starts faster.
	return append(env, "GOMAXPROCS=1")
}

// fdOf is the descriptor the k-th inherited file has in a worker (after
// stdin, stdout and stderr).
func fdOf(k int) int { return 3 + k }

// selfExe is the binary workers run by default: this one.
const selfExe = "/proc/self/exe"

// start runs attempt a of worker i. A transport's files come first (fd
// 3, 4, ... as it expects), then the segment.
func (c *crew) start(i, attempt int) error {
	if c.opt.fork != nil {
		return c.startFork(i, attempt)
	}
	var env []string
	var files []*os.File
	if c.col != nil {
		var err error
		if env, files, err = c.col.Child(i); err != nil {
			return err
		}
	}
	env = append(env, envSegment+"="+string(c.seg.Backing())+":"+strconv.Itoa(fdOf(len(files))))
	files = append(files, c.seg.File())
	p, err := c.sp.start(i, attempt, env, files)
	if err != nil {
		return err
	}
	c.setProc(i, p)
	if c.col != nil {
		c.col.Started(i)
	}
	return nil
}

// setProc makes p (nil for none) worker i's current process.
func (c *crew) setProc(i int, p *process) {
	c.proc[i] = p
	pid := 0
	if p != nil {
		pid = p.pid
		p.gen = c.gen
	}
	c.pids[i].Store(int64(pid))
}

// barrier waits until every worker has attached, handling deaths (a
// worker may die before it arrives) and stalls on the way.
func (c *crew) barrier(ctx context.Context) error {
	ctl := c.v.ctl
	w := newWatch(c)
	for {
		all := true
		for i := range c.opt.workers {
			if c.v.slot(i).state.Load() < slotArrived {
				all = false
			}
		}
		if all {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine: %w (waiting for workers to start)", context.Cause(ctx))
		}
		seen := ctl.arrived.Load()
		if err := c.reap(w, nil); err != nil {
			return err
		}
		w.check(0)
		sem.WaitWhile(&ctl.arrived, seen, tick)
	}
}

// callSpec is one call as the parent asks for it.
type callSpec struct {
	job     job
	mode    Mode
	n       uint64
	offset  uint64
	chunk   uint64
	grain   uint64
	dynamic bool
	kernel  string
	params  []byte
	detail  []WorkerResult // memory to reuse for the result's per-worker detail
	total   folds          // memory to reuse for the result's exact total
}

// callResult is what one call produced.
type callResult struct {
	total     folds // the exact result, one fold per element
	elapsed   time.Duration
	workers   []WorkerResult
	failures  []Failure
	rebuilt   bool
	publishes uint64
	lostSum   float64 // racy: what the accumulator lost against the journals
}

// callState is the parent's bookkeeping of one call in flight.
type callState struct {
	spec      callSpec
	g         uint32
	attempts  []int
	completed []bool // a one-shot worker exited after finishing, or died after
	failures  []Failure
	tainted   bool // a cas, mutex or racy worker died part-way through its adds
	start     time.Time
	elapsed   time.Duration // from gen to the last worker's doneGen
}

// call runs one call on the crew and waits for it.
func (c *crew) call(ctx context.Context, spec callSpec) (res callResult, err error) {
	if c.broken != nil {
		return res, c.broken
	}
	ctl := c.v.ctl
	l := c.v.l
	var chunks uint64
	if spec.dynamic {
		chunks = (spec.n-1)/spec.chunk + 1
		if chunks > uint64(l.maxChunks) {
			return res, fmt.Errorf("engine: %d terms in chunks of %d make %d chunks, more than the %d this pool holds (raise the chunk size, or WithMaxChunks)",
				spec.n, spec.chunk, chunks, l.maxChunks)
		}
	}
	if len(spec.params) > l.maxParams {
		return res, fmt.Errorf("engine: %d parameter bytes, more than the %d this pool holds (WithMaxParams)", len(spec.params), l.maxParams)
	}
	ops := spec.job.ops
	if len(ops) > l.maxK {
		return res, fmt.Errorf("engine: %q has %d elements, more than the %d this pool holds (WithMaxK)", spec.job.name, len(ops), l.maxK)
	}
	// A pool worker that died since the last call is replaced now, not
	// mistaken for a death during this one.
	if c.gen != 0 && !c.opt.oneShot {
		if err := c.reap(c.watch(), nil); err != nil {
			return res, c.breakWith(err)
		}
	}
	// Everything below is written while every worker sleeps on gen.
	js := &ctl.job
	*js = jobSpec{n: spec.n, offset: spec.offset, chunk: spec.chunk, chunks: chunks, grain: spec.grain,
		mode: modeCode[spec.mode], dynamic: spec.dynamic, params: uint32(len(spec.params)), k: uint32(len(ops))}
	setName(js.name[:], spec.job.name)
	setName(js.kernel[:], spec.kernel)
	copy(c.v.params(len(spec.params)), spec.params)
	copy(c.v.ops(len(ops)), ops)
	for i := range l.workers {
		s := c.v.slot(i)
		c.v.resetSlot(i, ops)
		s.state.CompareAndSwap(slotDone, slotArrived) // idle since the last call
	}
	if c.opt.callerShare {
		c.v.slot(0).state.Store(slotArrived) // also after a share that panicked
	}
	acc := c.v.accElems(len(ops))
	for e := range acc {
		acc[e].best.Store(math.Float64bits(ops[e].identity()))
		acc[e].exact.Reset()
	}
	if owner := c.v.acc.lock.Owner(); owner != 0 {
		return res, fmt.Errorf("engine: the accumulator lock is held by pid %d between calls", owner)
	}
	clear(c.v.chunks(int(chunks)))
	ctl.next.Store(0)
	ctl.finished.Store(0)
	ctl.cancel.Store(0)

	c.gen++
	if c.opt.oneShot {
		c.gen = genOneShot
	}
	// The call's bookkeeping reuses the last call's memory: a steady
	// stream of calls allocates little.
	cs := &c.cs
	attempts, completed := cs.attempts, cs.completed
	if attempts == nil {
		attempts, completed = make([]int, l.workers), make([]bool, l.workers)
	}
	clear(attempts)
	clear(completed)
	*cs = callState{spec: spec, g: c.gen, attempts: attempts, completed: completed, failures: c.early}
	c.early = nil
	w := c.watch()
	report := noProgress // the closure over c would cost every call an allocation
	if c.opt.progress != nil {
		report = progressReporter(c.opt.progress, l.workers, spec.n, spec.grain, spec.dynamic, func(i int) uint64 { return c.v.slot(i).progress.Load() })
	}
	start := time.Now()
	cs.start = start
	ctl.gen.Store(cs.g) // store-release: the job, slots and table above are visible to a worker that sees g
	if ctl.genSleepers.Load() != 0 {
		if err := sem.WakeAll(&ctl.gen); err != nil {
			return res, c.fail(cs, err)
		}
	}
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.nudge)
		defer stop()
	}
	if c.opt.callerShare {
		if err := c.shareInCaller(ctx, cs); err != nil {
			return res, c.fail(cs, err)
		}
		if ctx.Err() != nil { // the caller's share stopped short
			return res, c.fail(cs, c.cancelled(ctx, cs))
		}
	}
	nextReport := start.Add(ProgressEvery)
	spin := c.opt.spin
	for {
		f := ctl.finished.Load()
		if err := c.reap(w, cs); err != nil {
			return res, c.fail(cs, err)
		}
		if c.done(cs) {
			break
		}
		if ctx.Err() != nil {
			return res, c.fail(cs, c.cancelled(ctx, cs))
		}
		w.check(cs.g)
		if now := time.Now(); now.After(nextReport) {
			report(now.Sub(start), false)
			nextReport = now.Add(ProgressEvery)
		}
		if sem.SpinWhile(&ctl.finished, f, spin) {
			continue
		}
		spin = 0 // one window per call: a call that runs longer is worth a sleep
		ctl.parentSleeps.Store(1)
		sem.WaitWhile(&ctl.finished, f, tick)
		ctl.parentSleeps.Store(0)
	}
	report(cs.elapsed, true)
	res, err = c.result(ctx, cs)
	if err != nil {
		return res, c.fail(cs, err)
	}
	return res, nil
}

// nudge makes the parent look again at once, wherever it waits: a death
// reaped, a context done. The word's value changes, so a parent that is
// spinning sees it too, and one about to sleep does not sleep.
func (c *crew) nudge() {
	ctl := c.v.ctl
	ctl.finished.Add(1)
	ctl.arrived.Add(1)
	sem.WakeAll(&ctl.finished)
	sem.WakeAll(&ctl.arrived)
}

// shareInCaller sums slot 0's share of call cs in the calling goroutine
// (Pool's WithCallerShare), as an OpenMP master thread sums its own, and
// marks it done. A panic of the Func is the call's *FuncPanic.
func (c *crew) shareInCaller(ctx context.Context, cs *callState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = asFuncPanic(r).inProcess(cs.spec.job.name, 0)
		}
	}()
	ctl := c.v.ctl
	j := cs.spec.job.bind(cs.spec.params)
	sh := &c.caller
	sh.ctx, sh.g = ctx, cs.g
	defer func() { sh.ctx = nil }()
	j.cancelled = sh.cancelled
	start := time.Now()
	if err := sumShare(c.v, 0, uint32(c.self), &ctl.job, cs.spec.mode, j, sh.lock, &sh.pub, &sh.scratch); err != nil {
		return err
	}
	finishShare(c.v, 0, cs.g, time.Since(start))
	return nil
}

// callerShare is what the caller's share keeps from call to call, so that
// a call allocates nothing: its publisher, its scratch folds, and the
// cancel check and lock it hands the shared code, made once.
type callerShare struct {
	pub       publisher
	scratch   Vector
	ctx       context.Context // the call in flight's
	g         uint32
	cancelled func() bool
	lock      func(*sem.Mutex) error
}

// lockAccum takes the accumulator's lock for the caller's share. A worker
// that dies holding it is freed by the parent when it reaps it, but the
// parent is the caller, busy here: so it waits in short slices and frees
// the lock itself once the spawner has reaped the holder.
func (c *crew) lockAccum(m *sem.Mutex) error {
	for {
		err := m.LockTimeout(lockSlice)
		if err != sem.ErrTimeout {
			return err
		}
		if owner := m.Owner(); owner != 0 && owner != c.self && !c.sp.alive(owner) {
			if _, err := m.Recover(owner); err != nil {
				return err
			}
		}
	}
}

// lockSlice is how long the caller's share waits for the accumulator's
// lock before it looks whether the holder died.
const lockSlice = 10 * time.Millisecond

// done reports whether every worker has finished call cs.g (for a
// one-shot run: and exited).
func (c *crew) done(cs *callState) bool {
	for i := range c.opt.workers {
		if c.v.slot(i).doneGen.Load() != cs.g {
			return false
		}
	}
	if cs.elapsed == 0 {
		cs.elapsed = time.Since(cs.start)
	}
	return !c.opt.oneShot || !slices.Contains(cs.completed, false)
}

// reap handles the exits reaped since the last look, during the barrier
// (cs nil) or a call, and returns the first error; every exit is handled
// (its stderr closed) even after an error.
func (c *crew) reap(w *watch, cs *callState) error {
	var first error
	for _, e := range c.sp.takeExits() {
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
func (c *crew) drop(e exit) error {
	defer e.p.stderr.Close()
	i := e.p.worker
	if c.proc[i] == e.p {
		c.setProc(i, nil)
	}
	_, err := c.v.acc.lock.Recover(e.p.pid)
	return err
}

// exited handles one reaped process during the barrier (cs nil) or a call.
func (c *crew) exited(e exit, w *watch, cs *callState) error {
	defer e.p.stderr.Close()
	i := e.p.worker
	if c.proc[i] != e.p {
		return nil // a process we had already given up on
	}
	c.setProc(i, nil)
	s := c.v.slot(i)
	if c.opt.fork != nil && cs != nil {
		c.opt.fork.settle(c, i, cs) // a forked worker's raw result becomes its journal entry
	}
	we := e.describe()
	if we != nil && e.p.exe != selfExe && s.state.Load() == slotIdle &&
		(we.How == "exit status "+strconv.Itoa(exitProtocol) || strings.Contains(we.Stderr, ErrProtocol.Error())) {
		// Config.WorkerBinary is from another build: this binary can
		// always serve as its own worker, so use it instead.
		c.sp.exe = selfExe
		return c.start(i, e.p.attempt)
	}
	if _, err := c.v.acc.lock.Recover(e.p.pid); err != nil {
		return err
	}
	finished := cs != nil && s.doneGen.Load() == cs.g
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
		we = &WorkerError{Worker: i, Attempt: e.p.attempt, Pid: e.p.pid, How: "exit status 0"}
		we.Stderr, we.Cause = readStderr(e.p.stderr)
	}
	state := s.state.Load()
	we.When = slotStates[min(state, slotDone)]
	if state == slotIdle && e.status.Exited() && c.opt.fork == nil && !strings.HasPrefix(we.Stderr, childPrefix) {
		// It ended before ChildMain could say anything: the program
		// never reached the child hook.
		we.Hint = "it exited before reaching the engine: call `if engine.IsChild() { os.Exit(engine.ChildMain()) }` first in main"
	}
	if cs != nil {
		we.Func = cs.spec.job.name
		if we.Hi == 0 && !cs.spec.dynamic {
			lo, hi := span(cs.spec.n, cs.spec.grain, c.opt.workers, i)
			we.Lo, we.Hi = cs.spec.offset+lo, cs.spec.offset+hi
		}
	}
	if cs == nil && c.gen != 0 {
		we.When = "between calls"
	}
	if why := w.killed[e.p.pid]; why != "" {
		we.When = why
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
	if !c.opt.oneShot && e.p.gen < cs.g && state < slotRunning {
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
	if cs.spec.mode == CAS || cs.spec.mode == Mutex || cs.spec.mode == Racy {
		if s.state.Load() >= slotRunning {
			// It may have added part of its share into the shared
			// accumulator, and nobody can tell how much: the journals decide.
			cs.tainted = true
		}
	}
	if cs.spec.dynamic {
		settleChunks(c.v.chunks(int(c.v.ctl.job.chunks)), uint32(e.p.pid), s.active())
	} else {
		c.v.resetSlot(i, cs.spec.job.ops)
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

func failureOf(we *WorkerError, action string) Failure {
	return Failure{Worker: we.Worker, Attempt: we.Attempt, Pid: we.Pid, How: we.How, When: we.When, Action: action}
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
	ctl := c.v.ctl
	ctl.cancel.Store(cs.g)
	// onCall reports whether p, a worker's process, is still on cs.
	onCall := func(p *process) bool { return p != nil && c.v.slot(p.worker).doneGen.Load() != cs.g }
	deadline := time.Now().Add(cancelGrace)
	for {
		f := ctl.finished.Load()
		c.dropExits()
		if !slices.ContainsFunc(c.proc, onCall) || !time.Now().Before(deadline) {
			break
		}
		sem.WaitWhile(&ctl.finished, f, min(tick, time.Until(deadline)))
	}
	var killed []*process
	for _, p := range c.proc {
		if onCall(p) {
			c.sp.kill(p)
			killed = append(killed, p)
		}
	}
	// A SIGKILLed process is reaped within milliseconds, unless it sits in
	// the kernel; one that is not reaped by then is a death the next call
	// handles like any other (its slot is not reused before it is reaped).
	reapBy := time.Now().Add(killReapWait)
	for slices.ContainsFunc(killed, func(p *process) bool { return c.proc[p.worker] == p }) && time.Now().Before(reapBy) {
		c.sp.waitExit(tick)
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
	for _, e := range c.sp.takeExits() {
		c.drop(e)
	}
}

// idleSlot readies slot i for a fresh process between calls: it counts
// the last call as done, so that the process sleeps until the next one
// instead of running a call that is over.
func (c *crew) idleSlot(i int) {
	s := c.v.slot(i)
	s.doneGen.Store(c.gen)
	s.state.Store(slotIdle)
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

// cancelled is the error of call cs whose context is done.
func (c *crew) cancelled(ctx context.Context, cs *callState) error {
	return fmt.Errorf("engine: %w (workers %s unfinished)", context.Cause(ctx), c.unfinished(cs))
}

// unfinished lists the workers that have not finished cs.
func (c *crew) unfinished(cs *callState) string {
	var s []string
	for i := range c.opt.workers {
		if c.v.slot(i).doneGen.Load() != cs.g || c.opt.oneShot && !cs.completed[i] {
			s = append(s, strconv.Itoa(i))
		}
	}
	return strings.Join(s, ", ")
}

// result checks a finished call and reduces it.
func (c *crew) result(ctx context.Context, cs *callState) (callResult, error) {
	spec := cs.spec
	l := c.v.l
	res := callResult{elapsed: cs.elapsed, failures: cs.failures, workers: slices.Grow(spec.detail[:0], l.workers)[:l.workers]}
	ops := spec.job.ops
	k := len(ops)
	journals := slices.Grow(spec.total[:0], k)[:k]
	journals.reset(ops)
	res.total = journals
	var terms uint64
	for i := range l.workers {
		s := c.v.slot(i)
		e, ef := s.active(), c.v.activeFolds(i, k)
		journals.merge(ef)
		terms += e.terms
		res.publishes += e.publishes
		wr := WorkerResult{Index: i, Terms: e.terms, Elapsed: time.Duration(s.elapsed.Load()), Partial: ef[0].value()}
		if !spec.dynamic {
			lo, hi := span(spec.n, spec.grain, l.workers, i)
			wr.Lo, wr.Hi = spec.offset+lo, spec.offset+hi
		}
		res.workers[i] = wr
	}
	if terms != spec.n {
		return res, fmt.Errorf("engine: the workers' journals cover %d terms, want %d", terms, spec.n)
	}
	if spec.dynamic {
		tbl := c.v.chunks(int(c.v.ctl.job.chunks))
		for k := range tbl {
			if v := tbl[k].Load(); v != chunkDone {
				return res, fmt.Errorf("engine: chunk %d of %d is not done (table word %#x)", k, len(tbl), v)
			}
		}
		if res.publishes != uint64(len(tbl)) {
			return res, fmt.Errorf("engine: the journals hold %d publishes for %d chunks", res.publishes, len(tbl))
		}
	}
	// A transport mode's result comes from the messages: each carries its
	// worker's exact result (Sum, and for Min and Max the extreme as
	// Partial), merged in worker order and rounded once. The journals are
	// the check: every message must carry exactly its worker's journal.
	var messages folds
	if c.col != nil {
		messages = make(folds, k)
		messages.reset(ops)
		cctx, cancel := context.WithTimeout(ctx, collectGrace)
		msgs, err := c.col.Collect(cctx)
		cancel()
		if err != nil {
			return res, err
		}
		if len(msgs) != l.workers*k {
			return res, fmt.Errorf("engine: %d messages for %d workers of %d elements", len(msgs), l.workers, k)
		}
		for at, m := range msgs {
			i, e := at/k, at%k
			w := &res.workers[i]
			if m.Lo != w.Lo || m.Hi != w.Hi {
				return res, fmt.Errorf("engine: worker %d's message covers [%d,%d), its range is [%d,%d)", i, m.Lo, m.Hi, w.Lo, w.Hi)
			}
			jf := c.v.activeFolds(i, k)[e] // a copy, out of the segment
			jf.acc.Normalize()
			if !m.Sum.Equal(&jf.acc) || m.Sum.Count() != jf.acc.Count() {
				return res, fmt.Errorf("engine: worker %d's message for element %d carries an exact sum (%d inputs, rounding to %v) that is not its journal's (%d inputs, rounding to %v)",
					i, e, m.Sum.Count(), m.Sum.Round(), jf.acc.Count(), jf.acc.Round())
			}
			if jv := jf.value(); math.Float64bits(m.Partial) != math.Float64bits(jv) {
				return res, fmt.Errorf("engine: worker %d's message for element %d says %v, its journal %v", i, e, m.Partial, jv)
			}
			messages[e].merge(&fold{acc: m.Sum, best: m.Partial, op: ops[e]})
			w.Elapsed = time.Duration(m.ElapsedNs)
		}
	} else if spec.mode.IsTransport() {
		return res, fmt.Errorf("engine: mode %s has no transport collector", spec.mode)
	}
	if owner := c.v.acc.lock.Owner(); owner != 0 {
		return res, fmt.Errorf("engine: the accumulator lock is still held by pid %d after every worker finished", owner)
	}
	// Every strategy's total is exact, so each equals the journals' to
	// the bit; a shared accumulator is read only when nothing tainted it.
	// The journals' total is the result; the others are its checks.
	switch {
	case spec.mode.IsTransport():
		// The messages' exact results, each checked against its journal
		// above: their total is the journals'.
		for e := range messages {
			if got, want := messages[e].value(), journals[e].value(); math.Float64bits(got) != math.Float64bits(want) {
				return res, fmt.Errorf("engine: element %d of the messages adds up to %v, of the journals to %v", e, got, want)
			}
		}
		copy(journals, messages)
	case spec.mode == Slots:
	case cs.tainted:
		res.rebuilt = true
	case spec.mode == Racy:
		// The result is what the racy adds left, to show what they lost.
		racy := f64(c.v.accElems(1)[0].best.Load())
		res.lostSum = journals[0].value() - racy
		journals[0] = newFold(Sum)
		journals[0].add(racy)
	default:
		if n := publishesOf(spec, l.workers); res.publishes != n {
			return res, fmt.Errorf("engine: the journals hold %d publishes, want %d", res.publishes, n)
		}
		shared := c.v.accElems(k)
		for e := range shared {
			var got float64
			if ops[e] == Sum {
				acc := superacc.Snapshot(&shared[e].exact)
				got = acc.Round()
			} else {
				got = f64(shared[e].best.Load())
			}
			if want := journals[e].value(); math.Float64bits(got) != math.Float64bits(want) {
				return res, fmt.Errorf("engine: element %d of the shared accumulator holds %v, the journals %v", e, got, want)
			}
		}
	}
	return res, nil
}

// collectGrace bounds the wait for messages once every worker has exited.
const collectGrace = 5 * time.Second

// publishesOf is how many publishes a call takes in all.
func publishesOf(spec callSpec, workers int) uint64 {
	if spec.dynamic {
		return (spec.n-1)/spec.chunk + 1
	}
	var n uint64
	for i := range workers {
		lo, hi := span(spec.n, spec.grain, workers, i)
		n += (hi - lo + spec.chunk - 1) / spec.chunk
	}
	return n
}

// close tells the workers to quit, reaps them (killing what does not quit
// at once) and removes everything the crew made.
func (c *crew) close() error {
	var errs []error
	if c.sp != nil {
		c.v.ctl.gen.Store(genQuit)
		sem.WakeAll(&c.v.ctl.gen)
		c.sp.stop()
		for i := range c.pids {
			c.pids[i].Store(0)
		}
	}
	if c.col != nil {
		errs = append(errs, c.col.Close())
	}
	errs = append(errs, c.seg.Close())
	return errors.Join(errs...)
}

// watch notices workers that are stopped or make no progress, and kills
// them, so that their share is redone instead of the call hanging.
type watch struct {
	c      *crew
	last   []uint64    // progress at the last move
	moved  []time.Time // when progress last moved
	killed map[int]string
}

// watch returns the crew's watch, reset: it is reused call after call.
func (c *crew) watch() *watch {
	if c.w == nil {
		c.w = newWatch(c)
		return c.w
	}
	now := time.Now()
	for i := range c.w.moved {
		c.w.moved[i], c.w.last[i] = now, 0
	}
	clear(c.w.killed)
	return c.w
}

func newWatch(c *crew) *watch {
	now := time.Now()
	w := &watch{c: c, last: make([]uint64, c.opt.workers), moved: make([]time.Time, c.opt.workers), killed: map[int]string{}}
	for i := range w.moved {
		w.moved[i] = now
	}
	return w
}

func (w *watch) forget(i int) { w.moved[i] = time.Now(); w.last[i] = 0 }

// check looks at every worker still on call g (or not yet arrived, g 0).
func (w *watch) check(g uint32) {
	now := time.Now()
	for i, p := range w.c.proc {
		if p == nil {
			continue
		}
		s := w.c.v.slot(i)
		if g != 0 && s.doneGen.Load() == g {
			continue
		}
		if pr := s.progress.Load(); pr != w.last[i] {
			w.last[i], w.moved[i] = pr, now
			continue
		}
		idle := now.Sub(w.moved[i])
		if idle < stoppedGrace {
			continue
		}
		why := ""
		switch {
		case proc.Stopped(p.pid):
			why = fmt.Sprintf("stopped (state T) for over %v", stoppedGrace)
		case w.c.opt.stall > 0 && idle > w.c.opt.stall:
			why = fmt.Sprintf("made no progress for %v", idle.Round(time.Second))
		}
		if why != "" && w.killed[p.pid] == "" {
			w.killed[p.pid] = why
			w.c.sp.kill(p)
		}
	}
}
