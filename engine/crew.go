package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/engine/internal/spawn"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// crew is the parent's side of the protocol (see protocol.go): one
// segment, its worker processes, and the calls they serve.
type crew struct {
	opt    crewOptions
	caller callerShare // the caller's share's state (WithCallerShare)
	// inCaller is set while the caller's share runs the Func in the
	// calling goroutine: a Pool call that finds the pool busy then looks
	// whether it is that goroutine, re-entering (see Pool.ReduceInto).
	inCaller atomic.Bool
	// closing is set by Pool.Close: the call in flight stops as a
	// cancelled one does, and returns ErrPoolClosed.
	closing atomic.Bool
	seg     *shmem.Segment
	v       segment.View
	sp      *spawn.Spawner
	proc    []*spawn.Process // the current process of each worker, nil while none runs
	pids    []atomic.Int64   // proc's pids, for Pool.Workers while a call runs
	gen     uint32
	// broken, once set, fails every later call at once: the crew could
	// not be made whole after a failure (a replacement would not start).
	broken error
	col    transport.Collector // one-shot message-passing runs only
	// early are the deaths dealt with outside a call's share (at the
	// start barrier, or while idle), reported with the next call.
	early []WorkerError
	self  int       // this process's pid (os.Getpid is a system call)
	cs    callState // the call in flight, or the last one
	// load, for a pool that may spin, reads the machine's load before
	// each call (at most every loadEvery) to set its spin windows.
	load *machineLoad
	// perTerm is each Func's cost per term, in ns, by its last call, and
	// minShare the least work a worker takes part in a call for
	// (participants.go; 0: every worker takes part in every call).
	perTerm  map[string]float64
	minShare time.Duration
	// woken counts the caller's sleeps for a call's end that ended with
	// Finished changed: one a call, by the last worker to finish, unless
	// a death or a cancel nudged it.
	woken uint64
	w     *watch // the watch of the call in flight (see watch)
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
	// spin is how long the parent spins for the end of a call every
	// worker takes part in, and workerSpin how long the workers spin for
	// the next call, before they sleep (see "Waiting" in protocol.go).
	spin, workerSpin time.Duration
	policy           waitPolicy // a pool's; "" for a one-shot run
}

// stoppedGrace is how long a worker may sit stopped (SIGSTOP, a tracer)
// before the parent kills it and redoes its share.
const stoppedGrace = spawn.StoppedGrace

// tick is how often a waiting parent looks at exits, progress and stalls.
const tick = 50 * time.Millisecond

// newCrew creates the segment and starts every worker, and returns once
// all of them have arrived (the start barrier), or with an error and
// nothing left behind.
func newCrew(ctx context.Context, o crewOptions) (c *crew, err error) {
	l := segment.NewLayout(o.workers, shmem.DefaultBlockStride(), o.lanePad, o.maxChunks, o.maxParams, max(o.maxK, 1))
	seg, err := shmem.Create(shmem.Options{Backing: o.shm, Path: o.path, Force: o.force,
		Blocks: l.Blocks(), Stride: l.Stride, Tail: l.Tail()})
	if err != nil {
		return nil, err
	}
	// A file-backed segment's path goes at once: children attach through
	// the inherited descriptor, so nothing is left on disk however we die.
	if err := seg.Remove(); err != nil {
		seg.Close()
		return nil, err
	}
	c = &crew{opt: o, seg: seg, v: segment.NewView(seg, l), proc: make([]*spawn.Process, o.workers), pids: make([]atomic.Int64, o.workers), self: os.Getpid(), minShare: minShare}
	c.caller.cancelled = func() bool {
		return c.v.Ctl.Cancel.Load() == c.caller.g || c.caller.ctx.Err() != nil || c.closing.Load()
	}
	c.caller.lock = c.lockAccum
	defer func() {
		if err != nil {
			err = errors.Join(err, c.close())
		}
	}()
	ctl := c.v.Ctl
	ctl.Protocol = segment.Version
	ctl.Workers = uint32(o.workers)
	ctl.Stamp = buildStamp()
	ctl.LanePad = uint32(o.lanePad)
	ctl.MaxChunks = uint32(o.maxChunks)
	ctl.MaxParams = uint32(o.maxParams)
	ctl.MaxK = uint32(l.MaxK)

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
	c.sp = spawn.New(exe, env)
	c.sp.Wake = c.nudge
	ctl.SpinNs.Store(int64(o.workerSpin))
	if !o.oneShot && o.policy != waitPassive {
		c.load = newMachineLoad()
	}
	first := 0
	if o.callerShare {
		// Slot 0 is the caller's own: it never has a process.
		s := c.v.Slot(0)
		s.Pid.Store(uint32(c.self))
		s.State.Store(segment.SlotArrived)
		c.pids[0].Store(int64(c.self))
		first = 1
	}
	if o.fork != nil {
		// One request forks them all, back to back.
		var rest []int
		for i := first; i < o.workers; i++ {
			rest = append(rest, i)
		}
		if len(rest) > 0 {
			if err := c.startForks(0, rest...); err != nil {
				return c, err
			}
		}
		return c, c.barrier(ctx)
	}
	for i := first; i < o.workers; i++ {
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
		return c.startForks(attempt, i)
	}
	var env []string
	var files []*os.File
	if c.col != nil {
		var err error
		if env, files, err = c.col.Child(i); err != nil {
			return err
		}
	}
	env = append(env, envSegment+"="+string(c.seg.Backing())+":"+strconv.Itoa(fdOf(len(files))),
		envWorker+"="+strconv.Itoa(i), envAttempt+"="+strconv.Itoa(attempt))
	files = append(files, c.seg.File())
	p, err := c.sp.Start(i, attempt, env, files)
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
func (c *crew) setProc(i int, p *spawn.Process) {
	c.proc[i] = p
	pid := 0
	if p != nil {
		pid = p.Pid
		p.Gen = c.gen
	}
	c.pids[i].Store(int64(pid))
}

// barrier waits until every worker has attached, handling deaths (a
// worker may die before it arrives) and stalls on the way.
func (c *crew) barrier(ctx context.Context) error {
	ctl := c.v.Ctl
	w := newWatch(c)
	for {
		all := true
		for i := range c.opt.workers {
			if c.v.Slot(i).State.Load() < segment.SlotArrived {
				all = false
			}
		}
		if all {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("engine: %w (waiting for workers to start)", context.Cause(ctx))
		}
		seen := ctl.Arrived.Load()
		if err := c.reap(w, nil); err != nil {
			return err
		}
		w.check(0)
		sem.WaitWhile(&ctl.Arrived, seen, tick)
	}
}

// close tells the workers to quit, reaps them (killing what does not quit
// at once) and removes everything the crew made.
func (c *crew) close() error {
	var errs []error
	if c.sp != nil {
		c.v.Ctl.Gen.Store(segment.GenQuit)
		sem.WakeAll(&c.v.Ctl.Gen)
		c.sp.Stop()
		for i := range c.pids {
			c.pids[i].Store(0)
		}
	}
	if c.col != nil {
		errs = append(errs, c.col.Close())
	}
	c.load.close()
	errs = append(errs, c.seg.Close())
	return errors.Join(errs...)
}
