package engine

import (
	"bytes"
	"context"
	"runtime"
	"time"

	"github.com/pishm/pishm/sem"
)

// shareInCaller sums slot 0's share of call cs in the calling goroutine
// (Pool's WithCallerShare), as an OpenMP master thread sums its own, and
// marks it done. A panic of the Func is the call's *WorkerError (worker 0).
func (c *crew) shareInCaller(ctx context.Context, cs *callState) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = asFuncPanic(r).inProcess(cs.spec.job.name, 0)
		}
	}()
	ctl := c.v.Ctl
	j := cs.spec.job.bind(cs.spec.params)
	c.inCaller.Store(true)
	defer c.inCaller.Store(false)
	sh := &c.caller
	sh.ctx, sh.g = ctx, cs.g
	defer func() { sh.ctx = nil }()
	j.cancelled = sh.cancelled
	start := time.Now()
	if err := sumShare(c.v, 0, uint32(c.self), &ctl.Job, cs.spec.mode, j, sh.lock, &sh.pub, &sh.scratch); err != nil {
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
		if owner := m.Owner(); owner != 0 && owner != c.self && !c.sp.Alive(owner) {
			if _, err := m.Recover(owner); err != nil {
				return err
			}
		}
	}
}

// lockSlice is how long the caller's share waits for the accumulator's
// lock before it looks whether the holder died.
const lockSlice = 10 * time.Millisecond

// reentering reports whether the calling goroutine is inside
// shareInCaller: a Func run as the caller's share that calls its own Pool.
// It reads the goroutine's stack, so it is asked only when the pool is
// busy and its caller's share is running.
func reentering() bool {
	buf := make([]byte, 64<<10)
	n := runtime.Stack(buf, false)
	return bytes.Contains(buf[:n], []byte("engine.(*crew).shareInCaller("))
}
