package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// outcome is what a run of any job produced.
type outcome struct {
	value    float64
	shm      string
	elapsed  time.Duration
	workers  []WorkerResult
	failures []Failure
	rebuilt  bool
	lostAdds uint64 // racy mode: publishes the accumulator lost
}

// execute runs j as cfg (already defaulted) says.
func execute(ctx context.Context, cfg Config, j job) (outcome, error) {
	if cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.Timeout)
		defer cancel()
	}
	if cfg.Mode == Goroutines {
		return runGoroutines(ctx, cfg, j)
	}
	return runProcesses(ctx, cfg, j)
}

// runGoroutines is the in-process baseline: the same split, function and
// reduction, on goroutines.
func runGoroutines(ctx context.Context, cfg Config, j job) (outcome, error) {
	// Goroutines cannot be killed: they check for cancellation between
	// calls of at most progressStep terms instead, and a cancelled run's
	// result is thrown away below.
	j.cancelled = func() bool { return ctx.Err() != nil }
	out := outcome{shm: "none", workers: make([]WorkerResult, cfg.Workers)}
	partials := make([]float64, cfg.Workers)
	progress := make([]atomic.Uint64, cfg.Workers)
	var next atomic.Uint64
	start := time.Now()
	var wg sync.WaitGroup
	for i := range cfg.Workers {
		lo, hi := spanOf(cfg, i)
		wg.Go(func() {
			t := time.Now()
			if cfg.Sched == Dynamic {
				lo, hi = 0, 0
				partials[i] = sumDynamic(j, cfg.Offset, cfg.N, cfg.Chunk, counter{&next}, 0, &progress[i], nil, nil)
			} else {
				partials[i] = sumRange(j, lo, hi, cfg.Chunk, &progress[i], nil)
			}
			out.workers[i] = WorkerResult{Index: i, Lo: lo, Hi: hi, Terms: progress[i].Load(), Elapsed: time.Since(t), Partial: partials[i]}
		})
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	report := progressReporter(cfg, &start, func(i int) uint64 { return progress[i].Load() })
	tick := time.NewTicker(ProgressEvery)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case <-finished:
			waiting = false
		case <-tick.C:
			report(false)
		}
	}
	out.elapsed = time.Since(start)
	report(true)
	if err := ctx.Err(); err != nil {
		return outcome{}, err
	}
	out.value = reduce(j.op, partials)
	return out, nil
}

// progressReporter returns a function that calls cfg.Progress (if set)
// with a snapshot built from done(i), timed from *start.
func progressReporter(cfg Config, start *time.Time, done func(i int) uint64) func(final bool) {
	if cfg.Progress == nil {
		return func(bool) {}
	}
	share := make([]uint64, cfg.Workers)
	if cfg.Sched == Static {
		for i := range share {
			lo, hi := span(cfg.N, cfg.Workers, i)
			share[i] = hi - lo
		}
	}
	return func(final bool) {
		p := Progress{N: cfg.N, Worker: make([]uint64, cfg.Workers), Share: share, Elapsed: time.Since(*start), Final: final}
		for i := range p.Worker {
			p.Worker[i] = done(i)
			p.Done += p.Worker[i]
		}
		cfg.Progress(p)
	}
}

// runProcesses runs j on child processes: a shared-memory mode, or a
// message-passing one (whose children still meet and journal in the
// segment).
func runProcesses(ctx context.Context, cfg Config, j job) (out outcome, err error) {
	// Segments whose creator died before it could remove them (killed in
	// the instant between create and unlink) go first.
	shmem.GC()
	seg, err := shmem.Create(shmem.Options{
		Backing: cfg.Shm, Path: cfg.Path, Force: cfg.Force,
		Slots: cfg.Workers, Stride: SlotStride(), LaneStride: cfg.Pad,
	})
	if err != nil {
		return outcome{}, err
	}
	defer func() { err = errors.Join(err, seg.Close()) }()
	// Children inherit the open segment, so its name can go at once: from
	// here on nothing is left in /dev/shm or on disk, however we die.
	if err := seg.Remove(); err != nil {
		return outcome{}, err
	}
	h := seg.Header()
	h.Mode = cfg.Mode.code()
	h.N = cfg.N
	h.Offset = cfg.Offset
	h.Chunk = cfg.Chunk
	copy(h.Kernel[:], cfg.Kernel)
	writeJob(h, jobHeader{op: j.op, sched: cfg.Sched, name: j.name})
	a := accumOf(seg)
	a.sum.Store(math.Float64bits(j.op.identity()))
	for i := range cfg.Workers {
		s := slotOf(seg, i)
		s.reset(j.op)
		if cfg.Sched == Static {
			lo, hi := spanOf(cfg, i)
			s.lo.Store(lo)
			s.hi.Store(hi)
		}
	}

	var col transport.Collector
	if cfg.Mode.IsTransport() {
		col, err = transport.NewCollector(ctx, string(cfg.Mode), transport.Options{
			Workers: cfg.Workers, RedisURL: cfg.RedisURL, Retries: cfg.retries() > 0,
		})
		if err != nil {
			return outcome{}, err
		}
		// Runs after g.stop below: no child is left to use what it removes.
		defer func() { err = errors.Join(err, col.Close()) }()
	}
	g := newGroup(cfg.Workers, os.Environ(), []*os.File{seg.File()}, string(seg.Backing()))
	if col != nil {
		g.setup, g.started = col.Child, col.Started
	}
	defer g.stop()
	r := &reaper{cfg: cfg, op: j.op, seg: seg, g: g, col: col, completed: make([]bool, cfg.Workers)}
	for i := range cfg.Workers {
		if err := g.start(i, 0); err != nil {
			return outcome{}, err
		}
	}
	ready := make(chan struct{})
	stopWatch := make(chan struct{})
	var watching sync.WaitGroup
	watching.Go(func() { watchBarrier(seg, cfg.Workers, ready, stopWatch) })
	defer watching.Wait() // before the segment is unmapped
	defer close(stopWatch)

	start := time.Now() // reset when the barrier opens
	report := progressReporter(cfg, &start, func(i int) uint64 { return slotOf(seg, i).progress.Load() })
	tick := time.NewTicker(ProgressEvery)
	defer tick.Stop()
	for left := cfg.Workers; left > 0; {
		select {
		case <-ready:
			ready = nil
			start = time.Now()
			h.Go.Store(1) // store-release: the header and slots written before are visible to the children
			if err := sem.WakeAll(&h.Go); err != nil {
				return outcome{}, err
			}
		case <-tick.C:
			report(false)
		case e := <-g.exits:
			done, err := r.handle(e)
			if err != nil {
				return outcome{}, err
			}
			if done {
				left--
			}
		case <-ctx.Done():
			return outcome{}, fmt.Errorf("%w (workers %s unfinished)", context.Cause(ctx), r.unfinished())
		}
	}
	var msgs []transport.Message
	if col != nil {
		// Every worker exited after sending: what is not here within a
		// moment is lost.
		cctx, cancel := context.WithTimeout(ctx, collectGrace)
		msgs, err = col.Collect(cctx)
		cancel()
		if err != nil {
			return outcome{}, err
		}
	}
	out.elapsed = time.Since(start)
	report(true)
	out.shm = string(seg.Backing())
	out.failures = r.failures
	out.workers = make([]WorkerResult, cfg.Workers)
	partials := make([]float64, cfg.Workers)
	var terms uint64
	for i := range cfg.Workers {
		s := slotOf(seg, i)
		partials[i] = s.total()
		terms += s.done.Load()
		out.workers[i] = WorkerResult{
			Index: i, Lo: s.lo.Load(), Hi: s.hi.Load(), Terms: s.done.Load(),
			Elapsed: time.Duration(s.elapsed.Load()), Partial: partials[i],
		}
	}
	if terms != cfg.N {
		return outcome{}, fmt.Errorf("the workers' journals cover %d terms, want %d", terms, cfg.N)
	}
	for i, m := range msgs {
		w := &out.workers[i]
		if m.Lo != w.Lo || m.Hi != w.Hi {
			return outcome{}, fmt.Errorf("worker %d's message covers [%d,%d), its range is [%d,%d)", i, m.Lo, m.Hi, w.Lo, w.Hi)
		}
		if math.Float64bits(m.Partial) != math.Float64bits(partials[i]) {
			return outcome{}, fmt.Errorf("worker %d's message says %v, its journal %v", i, m.Partial, partials[i])
		}
		w.Elapsed = time.Duration(m.ElapsedNs)
	}
	if owner := a.lock.Owner(); owner != 0 {
		return outcome{}, fmt.Errorf("the accumulator lock is still held by pid %d after every worker exited", owner)
	}
	switch {
	case cfg.Mode == Slots || cfg.Mode.IsTransport():
		out.value = reduce(j.op, partials) // for transports, the messages' partials (checked equal above)
	case cfg.Mode == Racy:
		out.value = f64(a.sum.Load())
		out.lostAdds = publishes(cfg) - a.racyAdds.Load()
	case r.tainted:
		out.value = reduce(j.op, partials)
		out.rebuilt = true
	default:
		if got, want := a.adds.Load(), publishes(cfg); got != want {
			return outcome{}, fmt.Errorf("accumulator saw %d publishes, want %d", got, want)
		}
		out.value = f64(a.sum.Load()) + f64(a.comp.Load())
	}
	return out, nil
}

// collectGrace bounds the wait for messages once every worker has exited.
const collectGrace = 5 * time.Second

// publishes is how many times the workers publish in total.
func publishes(cfg Config) uint64 {
	if cfg.Sched == Dynamic {
		return (cfg.N + cfg.Chunk - 1) / cfg.Chunk
	}
	var n uint64
	for i := range cfg.Workers {
		lo, hi := span(cfg.N, cfg.Workers, i)
		n += (hi - lo + cfg.Chunk - 1) / cfg.Chunk
	}
	return n
}

// watchBarrier closes ready once every worker has attached and reached the
// start barrier.
func watchBarrier(seg *shmem.Segment, workers int, ready, stop chan struct{}) {
	h := seg.Header()
	for {
		seen := h.Arrived.Load()
		all := true
		for i := range workers {
			if slotOf(seg, i).state.Load() < slotArrived {
				all = false
				break
			}
		}
		if all {
			close(ready)
			return
		}
		select {
		case <-stop:
			return
		default:
		}
		sem.WaitWhile(&h.Arrived, seen, 20*time.Millisecond)
	}
}

// reaper decides what each child's exit means for the run.
type reaper struct {
	cfg       Config
	op        Op
	seg       *shmem.Segment
	g         *group
	col       transport.Collector // nil in the shared-memory modes
	completed []bool
	failures  []Failure
	tainted   bool // a cas/mutex worker died part-way through its adds
}

// handle takes one reaped child. It reports whether the worker's share is
// now complete; it starts a fresh attempt after a death while retries
// last, and returns an error once they run out.
func (r *reaper) handle(e exit) (bool, error) {
	s := slotOf(r.seg, e.worker)
	pid := r.g.pid(e.worker)
	died := r.g.reaped(e)
	state := s.state.Load()
	if died == nil {
		if state != slotDone {
			return false, fmt.Errorf("worker %d exited 0 without publishing", e.worker)
		}
		if r.col != nil {
			r.col.Exited(e.worker)
		}
		r.completed[e.worker] = true
		return true, nil
	}
	we := died.(*WorkerError)
	we.When = slotStates[min(state, slotDone)]
	if _, err := accumOf(r.seg).lock.Recover(pid); err != nil {
		return false, err
	}
	f := Failure{Worker: e.worker, Attempt: e.attempt, Pid: pid, How: we.How, When: we.When}
	if state == slotDone {
		// Everything was published before it died: the result stands.
		f.Action = "kept its published result"
		r.failures = append(r.failures, f)
		if r.col != nil {
			r.col.Exited(e.worker) // its message went out (the file transport reads it now)
		}
		r.completed[e.worker] = true
		return true, nil
	}
	if e.attempt >= r.cfg.retries() {
		if r.cfg.retries() > 0 {
			return false, fmt.Errorf("%w; no retries left", we)
		}
		return false, we
	}
	if state >= slotRunning && r.cfg.Mode != Slots {
		// It may have added part of its share into the shared
		// accumulator, and nobody can tell how much: the journals decide.
		r.tainted = true
	}
	if r.cfg.Sched == Dynamic {
		s.resume() // its published chunks stand; an unpublished claim is redone
	} else {
		s.reset(r.op)
	}
	if r.col != nil {
		if err := r.col.Retry(e.worker); err != nil {
			return false, err
		}
	}
	f.Action = "retried"
	r.failures = append(r.failures, f)
	return false, r.g.start(e.worker, e.attempt+1)
}

// unfinished lists the workers whose share is not complete.
func (r *reaper) unfinished() string {
	var s []string
	for i, c := range r.completed {
		if !c {
			s = append(s, strconv.Itoa(i))
		}
	}
	return strings.Join(s, ", ")
}
