package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
)

// Pool is a set of worker processes started once and reused by every
// call, for programs that reduce many times: a call costs a futex wake-up
// and a few cache lines instead of starting processes.
//
// The workers attach to one segment and sleep on a generation word. Each
// Reduce writes its job into the segment, bumps the generation and wakes
// them; they sum and publish by the pool's mode and schedule, and the
// caller sleeps until each has marked the call done. Everything a one-shot
// run promises holds per call: a worker that dies mid-call is replaced and
// its share redone exactly; a cancelled call stops the workers at their
// next piece (or kills and replaces them) and does not disturb the next
// call; Close reaps every worker; and a parent killed outright leaves
// nothing behind (the segment has no name, and the workers die with their
// parent).
//
// Calls from several goroutines are serialized: each waits for the one
// before it. Calls smaller than WithInProcessBelow run on goroutines in
// the calling process instead, concurrently with each other.
type Pool struct {
	// turn serializes calls on the workers: a call holds its one token.
	// A channel rather than a mutex, so that a call waiting for its turn
	// gives up when its context ends.
	turn chan struct{}
	// state guards closed.
	state  sync.Mutex
	c      *crew
	def    config // the pool's options as given: each call's defaults
	cfg    config // def with its defaults filled
	below  uint64
	closed bool
	// detail is the memory a call's per-worker shares are computed in,
	// reused by every call (the turn token guards it).
	detail []workerResult
}

// defaultInProcessBelow is the default of WithInProcessBelow, in terms
// (see docs/embedding.md for the measurement).
const defaultInProcessBelow = 1 << 20

// Pool defaults.
const (
	defaultPoolChunks = 1 << 16
	defaultPoolParams = 64 << 10
)

// NewPool starts the workers (WithWorkers, default one per CPU) and
// returns once every one has attached. Its CallOptions set the default
// of every call (a call's own override them); the rest fix the workers
// and size the segment. A Pool publishes through shared memory: Slots,
// CAS or Mutex.
func NewPool(ctx context.Context, opts ...PoolOption) (*Pool, error) {
	if err := notAWorker(); err != nil {
		return nil, err
	}
	var st settings
	apply(&st, opts)
	st.N = 1
	cfg, err := st.config.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.execOnly(); err != nil {
		return nil, err
	}
	if cfg.Mode == modeGoroutines || cfg.Mode.isTransport() {
		return nil, configErr("Mode", " %s is for one-shot calls: a Pool publishes through shared memory (slots, cas, mutex)", cfg.Mode)
	}
	maxChunks := st.lab.MaxChunks
	if maxChunks == 0 {
		maxChunks = defaultPoolChunks
	}
	if st.maxParams == 0 {
		st.maxParams = defaultPoolParams
	}
	if maxChunks < 1 || maxChunks > segment.MaxChunkTable {
		return nil, configErr("MaxChunks", " must be in [1, %d], got %d", segment.MaxChunkTable, maxChunks)
	}
	if st.maxParams < 0 || st.maxParams > segment.MaxParamBytes {
		return nil, configErr("MaxParams", " must be in [0, %d], got %d", segment.MaxParamBytes, st.maxParams)
	}
	if st.maxK == 0 {
		st.maxK = maxRegisteredK()
	}
	if st.maxK < 1 || st.maxK > maxK {
		return nil, configErr("MaxK", " must be in [1, %d], got %d", maxK, st.maxK)
	}
	callerShare := cfg.CallerShare
	below := uint64(defaultInProcessBelow)
	if callerShare {
		// The caller's share makes a call cost a spin, not a wake-up:
		// cheaper than starting goroutines at every n measured.
		below = 0
	}
	if st.inProcessSet {
		below = st.inProcessBelow
	}
	// Who may spin at once. For the next call, the worker processes: a
	// caller that sums no share is not running then, or about to sleep.
	// For the end of a call, the workers and the caller: one that sums no
	// share sleeps where they would be more than the CPUs, and the
	// spinning workers offer it their CPU (sem.SpinWhile) when it wakes.
	policy := cmp.Or(waitPolicy(st.lab.Wait), waitAdaptive)
	spin, err := spinWindow(policy, cfg.Workers+boolInt(!callerShare))
	if err != nil {
		return nil, err
	}
	workerSpin, err := spinWindow(policy, cfg.Workers)
	if err != nil {
		return nil, err
	}
	c, err := newCrew(ctx, crewOptions{
		workers: cfg.Workers, shm: cfg.Shm, path: cfg.Path, force: cfg.Force, lanePad: cfg.Pad,
		maxChunks: maxChunks, maxParams: st.maxParams, maxK: st.maxK, exe: cfg.WorkerBinary,
		retries: cfg.retries(), stall: cfg.stall(),
		callerShare: callerShare, spin: spin, workerSpin: workerSpin, policy: policy,
	})
	if err != nil {
		return nil, err
	}
	return &Pool{turn: make(chan struct{}, 1), c: c, def: st.config, cfg: cfg, below: below}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// errReentrant is the *ConfigError of a Pool call made from a Func that
// the same Pool is running as the caller's share (WithCallerShare): the
// pool is busy with the call that Func is part of, so the inner call
// could only wait for ever.
var errReentrant = &ConfigError{Field: "CallerShare", Reason: ": a Func run as the caller's share called its own Pool (re-entrant calls are refused: run the inner reduction on another Pool, or one-shot)"}

// ErrPoolClosed is returned by a call on a closed Pool.
var ErrPoolClosed = errors.New("engine: pool closed")

// Reduce runs the Func registered as name over [0, n) on the pool's
// workers, as Reduce does on fresh ones. opts override the pool's
// defaults for this call.
func (p *Pool) Reduce(ctx context.Context, name string, n uint64, opts ...CallOption) (Result, error) {
	var r Result
	err := p.ReduceInto(ctx, &r, name, n, opts...)
	if err != nil && !errors.Is(err, ErrInexact) {
		return Result{}, err
	}
	return r, err
}

// ReduceInto is Reduce writing its result into *r, and reusing the memory
// of r's values and exact total: a loop that passes the same Result to
// every call allocates nothing in steady state (Reduce allocates them). On error *r holds a zero
// Result, that memory kept for the next call; but a sum its Func's
// closed form refutes (ErrInexact, WithClosedForm) is left in *r.
func (p *Pool) ReduceInto(ctx context.Context, r *Result, name string, n uint64, opts ...CallOption) error {
	wallStart := time.Now()
	values, total := r.Values[:0], (*partialFolds(&r.Partial))[:0]
	*r = Result{Values: values}
	st := settingsPool.Get().(*settings)
	*st = settings{config: p.def}
	apply(st, opts)
	st.N = n
	// The schedule is the pool's to pick (participants.go) unless the call
	// chose it, or is the racy demo, whose losses depend on its publishes.
	pick := st.Sched == "" && st.Publish == 0 && st.Mode != modeRacy
	cfg, j, err := resolve(st.config, name)
	settingsPool.Put(st)
	if err != nil {
		return err
	}
	if p.isClosed() {
		return ErrPoolClosed
	}
	if n < p.below {
		cfg.Mode = modeGoroutines
		out, _, err := execute(ctx, cfg, j, cfg.Params)
		if err != nil {
			return err
		}
		resultOf(r, name, j, cfg, out, time.Since(wallStart), values)
		return j.checkExact(cfg, r.Value)
	}
	if cfg.Mode == modeGoroutines || cfg.Mode.isTransport() {
		return configErr("Mode", " %s is for one-shot calls: a Pool publishes through shared memory (slots, cas, mutex)", cfg.Mode)
	}
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, cfg.Timeout, fmt.Errorf("timed out after %v", cfg.Timeout))
		defer cancel()
	}
	select {
	case p.turn <- struct{}{}:
	default:
		// A Func run as the caller's share that calls its own Pool would
		// wait for ever for the call it is part of.
		if p.c.inCaller.Load() && reentering() {
			return errReentrant
		}
		select {
		case p.turn <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("engine: waiting for the pool's call before this one: %w", context.Cause(ctx))
		}
	}
	defer func() { <-p.turn }()
	// A call whose context ended while it waited never reaches the workers.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("engine: waiting for the pool's call before this one: %w", context.Cause(ctx))
	}
	if p.isClosed() {
		return ErrPoolClosed
	}
	p.c.opt.progress = cfg.Progress
	out, err := p.c.call(ctx, callSpec{job: j, mode: cfg.Mode, n: n, offset: cfg.Offset, step: cfg.step(), grain: cfg.Grain,
		dynamic: cfg.Sched == schedDynamic, pick: pick, params: cfg.Params, detail: p.detail, total: total})
	if err != nil {
		return err
	}
	p.detail = out.workers
	if out.dynamic && cfg.Sched != schedDynamic {
		cfg.Sched, cfg.Chunk = schedDynamic, out.step
	}
	resultOf(r, name, j, cfg, out, time.Since(wallStart), values)
	r.Spawn, r.Shm = spawnExec, string(cfg.Shm)
	return j.checkExact(cfg, r.Value)
}

// settingsPool holds the scratch settings a call applies its options to:
// an option is a function of a *settings, so the struct would escape to
// the heap at every call.
var settingsPool = sync.Pool{New: func() any { return new(settings) }}

// pids returns the pid of each worker slot's process (0 for one being
// replaced); with the caller's share (WithCallerShare, off by default),
// slot 0 is the calling process itself. It answers at once, also during a
// call.
func (p *Pool) pids() []int {
	pids := make([]int, len(p.c.pids))
	for i := range p.c.pids {
		pids[i] = int(p.c.pids[i].Load())
	}
	return pids
}

// Close tells the workers to exit, reaps them, and removes the segment.
// A call in progress is stopped as a cancelled one is (at the workers'
// next piece, or by killing them; the caller's share at its next piece)
// and returns ErrPoolClosed; every call after Close, of any size, returns
// ErrPoolClosed too. Calling it again does nothing.
func (p *Pool) Close() error {
	p.state.Lock()
	if p.closed {
		p.state.Unlock()
		return nil
	}
	p.closed = true
	p.state.Unlock()
	p.c.closing.Store(true)
	p.c.nudge()          // a caller asleep in the call's wait looks again at once
	p.turn <- struct{}{} // the call in progress has ended
	defer func() { <-p.turn }()
	return p.c.close()
}

func (p *Pool) isClosed() bool {
	p.state.Lock()
	defer p.state.Unlock()
	return p.closed
}
