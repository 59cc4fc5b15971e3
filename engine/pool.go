package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
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
	def    Config // the pool's options as given: each call's defaults
	cfg    Config // def with its defaults filled
	below  uint64
	closed bool
}

// DefaultInProcessBelow is the default of WithInProcessBelow, in terms:
// measured with the pi series (about 0.05 ns a term on one core), below
// this many terms two worker processes woken through the segment lose to
// goroutines in the caller (see docs/embedding.md). A Func
// that costs more per term crosses over at fewer terms: set
// WithInProcessBelow from its own cost.
const DefaultInProcessBelow = 1 << 20

// Pool defaults.
const (
	defaultPoolChunks = 1 << 16
	defaultPoolParams = 64 << 10
)

// NewPool starts the workers (WithWorkers, default one per CPU) and
// returns once every one has attached. The options set the pool's
// defaults for every call: mode (slots, cas, mutex or racy), schedule,
// chunk, retries and the rest of Config; WithMaxChunks and WithMaxParams
// size the segment.
func NewPool(ctx context.Context, opts ...Option) (*Pool, error) {
	if err := notAWorker(); err != nil {
		return nil, err
	}
	st := settingsOf(opts)
	st.N = 1
	cfg, err := st.Config.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := cfg.execOnly(); err != nil {
		return nil, err
	}
	if cfg.Mode == Goroutines || cfg.Mode.IsTransport() {
		return nil, fmt.Errorf("engine: a Pool publishes through shared memory: Mode %s is for one-shot runs", cfg.Mode)
	}
	if st.maxChunks == 0 {
		st.maxChunks = defaultPoolChunks
	}
	if st.maxParams == 0 {
		st.maxParams = defaultPoolParams
	}
	if st.maxChunks < 1 || st.maxChunks > maxChunkTable || st.maxParams < 0 || st.maxParams > MaxParams {
		return nil, fmt.Errorf("engine: WithMaxChunks must be in [1, %d] and WithMaxParams in [0, %d], got %d and %d",
			maxChunkTable, MaxParams, st.maxChunks, st.maxParams)
	}
	if st.maxK == 0 {
		st.maxK = maxRegisteredK()
	}
	if st.maxK < 1 || st.maxK > MaxK {
		return nil, fmt.Errorf("engine: WithMaxK must be in [1, %d], got %d", MaxK, st.maxK)
	}
	callerShare := cfg.CallerShare
	below := uint64(DefaultInProcessBelow)
	if callerShare {
		// The caller's share makes a call cost a spin, not a wake-up:
		// cheaper than starting goroutines at every n measured.
		below = 0
	}
	if st.inProcessSet {
		below = st.inProcessBelow
	}
	// Who may spin at once: every worker process, and the caller.
	spin, err := spinWindow(st.wait, cfg.Workers+boolInt(!callerShare))
	if err != nil {
		return nil, err
	}
	c, err := newCrew(ctx, crewOptions{
		workers: cfg.Workers, shm: cfg.Shm, path: cfg.Path, force: cfg.Force, lanePad: cfg.Pad,
		maxChunks: st.maxChunks, maxParams: st.maxParams, maxK: st.maxK, exe: cfg.WorkerBinary,
		retries: cfg.retries(), stall: cfg.stall(),
		callerShare: callerShare, spin: spin,
	})
	if err != nil {
		return nil, err
	}
	return &Pool{turn: make(chan struct{}, 1), c: c, def: st.Config, cfg: cfg, below: below}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ErrReentrant is returned by a Pool call made from a Func that the same
// Pool is running as the caller's share (WithCallerShare): the pool is
// busy with the call that Func is part of, so the inner call could only
// wait for ever. Run the inner reduction on another Pool, or one-shot.
var ErrReentrant = errors.New("engine: a Func called its own Pool from the caller's share (re-entrant calls are refused)")

// ErrPoolClosed is returned by a call on a closed Pool.
var ErrPoolClosed = errors.New("engine: pool closed")

// Reduce runs the Func registered as name ("pi" for the built-in series)
// over [0, n) on the pool's workers, as Reduce does on fresh ones. opts
// override the pool's defaults for this call; the number of workers,
// the backing and the segment's capacities are the pool's.
func (p *Pool) Reduce(ctx context.Context, name string, n uint64, opts ...Option) (Reduction, error) {
	var r Reduction
	err := p.ReduceInto(ctx, &r, name, n, opts...)
	if err != nil && !errors.Is(err, ErrInexact) {
		return Reduction{}, err
	}
	return r, err
}

// ReduceInto is Reduce writing its result into *r, and reusing the memory
// of r's detail, values and exact total: a loop that passes the same
// Reduction to every call allocates nothing in steady state (Reduce
// allocates them, three objects a call). On error *r holds a zero
// Reduction, that memory kept for the next call; but a sum its Func's
// closed form refutes (ErrInexact, WithClosedForm) is left in *r.
func (p *Pool) ReduceInto(ctx context.Context, r *Reduction, name string, n uint64, opts ...Option) error {
	wallStart := time.Now()
	detail, values, total := r.WorkersDetail[:0], r.Values[:0], r.folds[:0]
	*r = Reduction{WorkersDetail: detail, Values: values, folds: total}
	st := settingsPool.Get().(*settings)
	*st = settings{Config: p.def}
	for _, o := range opts {
		o(st)
	}
	st.N = n
	err := p.refuse(st)
	st.Workers, st.Shm, st.Path, st.Pad = p.cfg.Workers, p.cfg.Shm, p.cfg.Path, p.cfg.Pad
	if err != nil {
		settingsPool.Put(st)
		return err
	}
	cfg, j, err := resolve(*st, name)
	settingsPool.Put(st)
	if err != nil {
		return err
	}
	if p.isClosed() {
		return ErrPoolClosed
	}
	if n < p.below {
		cfg.Mode = Goroutines
		out, err := reduceOnce(ctx, name, j, cfg, wallStart)
		if err == nil || errors.Is(err, ErrInexact) {
			*r = out
		}
		return err
	}
	if cfg.Mode == Goroutines || cfg.Mode.IsTransport() {
		return fmt.Errorf("engine: a Pool publishes through shared memory: Mode %s is for one-shot runs", cfg.Mode)
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
			return ErrReentrant
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
		dynamic: cfg.Sched == Dynamic, params: cfg.Params, detail: detail, total: total})
	if err != nil {
		return err
	}
	*r = reductionOf(name, j, cfg, out, time.Since(wallStart), values)
	return j.checkExact(cfg, r.Value)
}

// settingsPool holds the scratch settings a call applies its options to:
// an Option is a function of a *settings, so the struct would escape to
// the heap at every call.
var settingsPool = sync.Pool{New: func() any { return new(settings) }}

// Workers returns the pid of each worker slot's process (0 for one being
// replaced); with the caller's share (WithCallerShare, off by default),
// slot 0 is the calling process itself. It answers at once, also during a
// call.
func (p *Pool) Workers() []int {
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

// refuse is the error of a call given an option that is the Pool's, not
// a call's: one that shapes it when it starts, or a setting of the
// workers (their number, the caller's share, retries, the stall limit,
// the segment) other than the Pool's own, which a call cannot change.
func (p *Pool) refuse(st *settings) error {
	if err := st.refusePoolOnly("a Pool's call"); err != nil {
		return err
	}
	if st.given&(givenWorkers|givenCallerShare|givenConfig) == 0 {
		return nil // nothing to compare: a call allocates nothing
	}
	// A field is set by its option, or by WithConfig where it is not zero.
	config := st.given&givenConfig != 0
	for _, f := range []struct {
		name        string
		set         bool
		given, pool any
	}{
		{"Workers", st.given&givenWorkers != 0 || config && st.Workers != 0, st.Workers, p.cfg.Workers},
		{"CallerShare", st.given&givenCallerShare != 0 || config && st.CallerShare, st.CallerShare, p.cfg.CallerShare},
		{"Retries", config && st.Retries != 0, st.Config.retries(), p.cfg.retries()},
		{"Stall", config && st.Stall != 0, st.Config.stall(), p.cfg.stall()},
		{"Shm", config && st.Shm != "", st.Shm, p.cfg.Shm},
		{"Path", config && st.Path != "", st.Path, p.cfg.Path},
		{"Pad", config && st.Pad != 0, st.Pad, p.cfg.Pad},
	} {
		if f.set && f.given != f.pool {
			return configErr(f.name, " %v is the Pool's (%v), set when it starts: a call cannot change it", f.given, f.pool)
		}
	}
	return nil
}

func (p *Pool) isClosed() bool {
	p.state.Lock()
	defer p.state.Unlock()
	return p.closed
}
