package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/sem"
)

// callSpec is one call as the parent asks for it.
type callSpec struct {
	job     job
	mode    strategy
	n       uint64
	offset  uint64
	step    uint64 // static: terms between publishes; dynamic: terms per chunk
	grain   uint64
	dynamic bool
	// pick: the schedule is the pool's to choose (see crew.plan); the
	// call then sets dynamic and step.
	pick   bool
	params []byte
	detail []workerResult // memory to reuse for the result's per-worker detail
	total  folds          // memory to reuse for the result's exact total
	// participants is how many slots take part, slots [0, participants)
	// (see crew.plan); the call sets it.
	participants int
}

// callResult is what one call produced.
type callResult struct {
	total     folds // the exact result, one fold per element
	elapsed   time.Duration
	workers   []workerResult
	failures  []WorkerError
	rebuilt   bool
	publishes uint64
	lostSum   float64 // racy: what the accumulator lost against the journals
	dynamic   bool    // the call ran the dynamic schedule, in chunks of step
	step      uint64
}

// callState is the parent's bookkeeping of one call in flight.
type callState struct {
	spec      callSpec
	g         uint32
	attempts  []int
	completed []bool // a one-shot worker exited after finishing, or died after
	failures  []WorkerError
	tainted   bool // a cas, mutex or racy worker died part-way through its adds
	start     time.Time
	elapsed   time.Duration // from gen to the last worker's doneGen
}

// call runs one call on the crew and waits for it.
func (c *crew) call(ctx context.Context, spec callSpec) (res callResult, err error) {
	if c.broken != nil {
		return res, c.broken
	}
	ctl := c.v.Ctl
	l := c.v.L
	c.plan(&spec)
	var chunks uint64
	if spec.dynamic {
		chunks = (spec.n-1)/spec.step + 1
		if chunks > uint64(l.MaxChunks) {
			return res, configErr("Chunk", ": %d terms in chunks of %d make %d chunks, more than the %d this pool holds (raise the chunk size, or lab.WithMaxChunks)",
				spec.n, spec.step, chunks, l.MaxChunks)
		}
	}
	if len(spec.params) > l.MaxParams {
		return res, configErr("Params", ": %d bytes, more than the %d this pool holds (WithMaxParams)", len(spec.params), l.MaxParams)
	}
	ops := spec.job.ops
	if len(ops) > l.MaxK {
		return res, configErr("MaxK", ": %q has %d elements, more than the %d this pool holds (WithMaxK)", spec.job.name, len(ops), l.MaxK)
	}
	// A pool worker that died since the last call is replaced now, not
	// mistaken for a death during this one.
	if c.gen != 0 && !c.opt.oneShot {
		if err := c.reap(c.watch(), nil); err != nil {
			return res, c.breakWith(err)
		}
	}
	// Everything below is written while every worker sleeps on gen.
	js := &ctl.Job
	*js = segment.JobSpec{N: spec.n, Offset: spec.offset, Step: spec.step, Chunks: chunks, Grain: spec.grain,
		Mode: modeCode[spec.mode], Dynamic: spec.dynamic, Params: uint32(len(spec.params)), K: uint32(len(ops)), Workers: uint32(spec.participants)}
	segment.SetName(js.Name[:], spec.job.name)
	copy(c.v.Params(len(spec.params)), spec.params)
	copy(c.v.Ops(len(ops)), ops)
	for i := range l.Workers {
		s := c.v.Slot(i)
		c.v.ResetSlot(i, ops)
		s.State.CompareAndSwap(segment.SlotDone, segment.SlotArrived) // idle since the last call
	}
	if c.opt.callerShare {
		c.v.Slot(0).State.Store(segment.SlotArrived) // also after a share that panicked
	}
	acc := c.v.AccElems(len(ops))
	for e := range acc {
		acc[e].Best.Store(math.Float64bits(ops[e].Identity()))
		acc[e].Exact.Reset()
	}
	if owner := c.v.Acc.Lock.Owner(); owner != 0 {
		return res, fmt.Errorf("engine: the accumulator lock is held by pid %d between calls", owner)
	}
	clear(c.v.Chunks(int(chunks)))
	ctl.Next.Store(0)
	ctl.Finished.Store(0)
	ctl.Cancel.Store(0)

	c.gen++
	if c.gen >= genOneShot {
		// Past 2^32-2 calls the count starts again at 1: the last two
		// gens mean a one-shot run's call and quit, and 0 no call yet.
		c.gen = 1
	}
	if c.opt.oneShot {
		c.gen = genOneShot
	}
	// The call's bookkeeping reuses the last call's memory: a steady
	// stream of calls allocates little.
	cs := &c.cs
	attempts, completed := cs.attempts, cs.completed
	if attempts == nil {
		attempts, completed = make([]int, l.Workers), make([]bool, l.Workers)
	}
	clear(attempts)
	clear(completed)
	*cs = callState{spec: spec, g: c.gen, attempts: attempts, completed: completed, failures: c.early}
	c.early = nil
	for i := spec.participants; i < l.Workers; i++ {
		c.v.Slot(i).DoneGen.Store(cs.g) // sits the call out (see "Who takes part")
	}
	w := c.watch()
	report := noProgress // the closure over c would cost every call an allocation
	if c.opt.progress != nil {
		report = progressReporter(c.opt.progress, l.Workers, spec.participants, spec.n, spec.grain, spec.dynamic, func(i int) uint64 { return c.v.Slot(i).Progress.Load() })
	}
	spin := c.windows(spec.participants)
	start := time.Now()
	cs.start = start
	ctl.Gen.Store(cs.g) // store-release: the job, slots and table above are visible to a worker that sees g
	if ctl.GenSleepers.Load() != 0 {
		if err := c.wakeParticipants(spec.participants); err != nil {
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
		if err := c.interrupted(ctx, cs); err != nil { // the caller's share stopped short
			return res, c.fail(cs, err)
		}
		cs.completed[0] = true // no process to reap: a one-shot call waits for none
	}
	nextReport := start.Add(progressEvery)
	for {
		f := ctl.Finished.Load()
		if err := c.reap(w, cs); err != nil {
			return res, c.fail(cs, err)
		}
		if c.done(cs) {
			break
		}
		if err := c.interrupted(ctx, cs); err != nil {
			return res, c.fail(cs, err)
		}
		w.check(cs.g)
		if now := time.Now(); now.After(nextReport) {
			if err := report(now.Sub(start), false); err != nil {
				return res, c.fail(cs, err)
			}
			nextReport = now.Add(progressEvery)
		}
		if spin > 0 && !c.begun(cs.g) {
			// A worker that has not begun the call has no CPU, or sleeps:
			// a spin would hold the very CPU it waits for (on a busy
			// machine, the one a neighbour left). Sleep unless it begins
			// within a moment.
			for deadline := time.Now().Add(beginGrace); !c.begun(cs.g); {
				if time.Now().After(deadline) {
					spin = 0
					break
				}
			}
		}
		if sem.SpinWhile(&ctl.Finished, f, spin) {
			continue
		}
		spin = 0 // one window per call: a call that runs longer is worth a sleep
		ctl.WakeParentAt.Store(f + c.unfinishedCount(cs.g))
		sem.WaitWhile(&ctl.Finished, f, tick)
		ctl.WakeParentAt.Store(0)
		if ctl.Finished.Load() != f {
			c.woken++
		}
	}
	if err := report(cs.elapsed, true); err != nil {
		return res, c.fail(cs, err)
	}
	res, err = c.result(ctx, cs)
	if err != nil {
		return res, c.fail(cs, err)
	}
	c.learn(cs.spec, res.workers)
	res.dynamic, res.step = cs.spec.dynamic, cs.spec.step
	return res, nil
}

// windows sets the workers' spin window for the next call from the
// machine's load, and returns the caller's for the end of this one, of
// which participants slots take part.
func (c *crew) windows(participants int) time.Duration {
	// The caller's spin for the end competes with the workers taking
	// part, and with the caller itself where it sums no share.
	spin, spinners := c.opt.spin, participants+boolInt(!c.opt.callerShare)
	if participants < c.opt.workers && c.opt.policy != "" {
		spin, _ = spinWindow(c.opt.policy, spinners)
	}
	if c.load == nil {
		return spin
	}
	ctl := c.v.Ctl
	procs := c.opt.workers - boolInt(c.opt.callerShare)
	awake := max(procs-int(ctl.GenSleepers.Load()), 0)
	if c.load.sample(time.Now(), 1+awake) {
		if w := int64(c.load.window(c.opt.workerSpin, c.opt.workers)); ctl.SpinNs.Load() != w {
			ctl.SpinNs.Store(w)
		}
	}
	return c.load.window(spin, spinners)
}

// nudge makes the parent look again at once, wherever it waits: a death
// reaped, a context done. The word's value changes, so a parent that is
// spinning sees it too, and one about to sleep does not sleep.
func (c *crew) nudge() {
	ctl := c.v.Ctl
	ctl.Finished.Add(1)
	ctl.Arrived.Add(1)
	sem.WakeAll(&ctl.Finished)
	sem.WakeAll(&ctl.Arrived)
}

// beginGrace is how long the caller waits for a worker to begin a call
// it just posted before it stops counting on a spin: a worker spinning
// for the call sees it within a microsecond.
const beginGrace = 2 * time.Microsecond

// begun reports whether every worker has begun call g, or finished it.
func (c *crew) begun(g uint32) bool {
	for i := range c.opt.workers {
		s := c.v.Slot(i)
		if s.DoneGen.Load() != g && s.State.Load() != segment.SlotRunning {
			return false
		}
	}
	return true
}

// unfinishedCount is how many workers have yet to finish call g (at
// least 1: a one-shot run waiting for exits counts one, for any finish or
// nudge to wake it). Counted after Finished was read as f, f plus it is
// a value Finished reaches once they all have: a worker that finished in
// between is not counted, but its add moves Finished past it.
func (c *crew) unfinishedCount(g uint32) uint32 {
	var n uint32
	for i := range c.opt.workers {
		if c.v.Slot(i).DoneGen.Load() != g {
			n++
		}
	}
	return max(n, 1)
}

// done reports whether every worker has finished call cs.g (for a
// one-shot run: and exited).
func (c *crew) done(cs *callState) bool {
	for i := range c.opt.workers {
		if c.v.Slot(i).DoneGen.Load() != cs.g {
			return false
		}
	}
	if cs.elapsed == 0 {
		cs.elapsed = time.Since(cs.start)
	}
	return !c.opt.oneShot || !slices.Contains(cs.completed, false)
}

// interrupted is the error of call cs when its context has ended or
// Pool.Close is stopping it, and nil while it may go on.
func (c *crew) interrupted(ctx context.Context, cs *callState) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("engine: %w (workers %s unfinished)", context.Cause(ctx), c.unfinished(cs))
	case c.closing.Load():
		return fmt.Errorf("%w during the call (workers %s unfinished)", ErrPoolClosed, c.unfinished(cs))
	}
	return nil
}

// unfinished lists the workers that have not finished cs.
func (c *crew) unfinished(cs *callState) string {
	var s []string
	for i := range c.opt.workers {
		if c.v.Slot(i).DoneGen.Load() != cs.g || c.opt.oneShot && !cs.completed[i] {
			s = append(s, strconv.Itoa(i))
		}
	}
	return strings.Join(s, ", ")
}

// wakeParticipants wakes the workers asleep for the next call among the
// first p slots: all of them with one FUTEX_WAKE, some by their bits
// (a worker's first sleep for a call is by its bit, workerBit).
func (c *crew) wakeParticipants(p int) error {
	if p >= c.opt.workers {
		return sem.WakeAll(&c.v.Ctl.Gen)
	}
	var bits uint32
	for i := boolInt(c.opt.callerShare); i < p; i++ {
		bits |= workerBit(i)
	}
	if bits == 0 {
		return nil // the caller's share alone
	}
	_, err := sem.WakeBits(&c.v.Ctl.Gen, bits)
	return err
}

// workerBit is worker i's bit for the wake-ups of some workers
// (sem.WakeBits): workers i and i+32 share one.
func workerBit(i int) uint32 { return 1 << (i % 32) }
