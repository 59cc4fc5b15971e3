package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/internal/superacc"
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

// funcPanic carries a Func's panic, with the piece it happened on and the
// stack where it happened, from callFunc up to whoever recovers it: the
// worker's call (which exits with exitPanic) or an in-process goroutine
// (which makes it the call's *FuncPanic).
type funcPanic struct {
	lo, hi uint64
	value  any
	stack  string
}

func (p *funcPanic) Error() string {
	return fmt.Sprintf("panicked on [%d, %d): %v", p.lo, p.hi, p.value)
}

// asFuncPanic is what recover returned, as the Func's panic. Anything else
// is the engine's own bug, not the Func's to hide: it panics again.
func asFuncPanic(r any) *funcPanic {
	fp, ok := r.(*funcPanic)
	if !ok {
		panic(r)
	}
	return fp
}

// inProcess is the call's error for a panic on participant goroutine of
// the calling process, running the Func called name.
func (p *funcPanic) inProcess(name string, goroutine int) *FuncPanic {
	return &FuncPanic{Func: name, Goroutine: goroutine, Lo: p.lo, Hi: p.hi, Value: p.value, Stack: p.stack}
}

// callFunc calls j.f on [a, b), turning a panic into a *funcPanic.
func callFunc(j job, a, b uint64) float64 {
	defer func() {
		if r := recover(); r != nil {
			panic(&funcPanic{lo: a, hi: b, value: r, stack: string(debug.Stack())})
		}
	}()
	if j.pf != nil {
		return j.pf(j.params, a, b)
	}
	return j.f(a, b)
}

// callVector calls j.vf on [a, b) into v, as callFunc calls j.f.
func callVector(j job, a, b uint64, v *Vector) {
	defer func() {
		if r := recover(); r != nil {
			panic(&funcPanic{lo: a, hi: b, value: r, stack: string(debug.Stack())})
		}
	}()
	if j.vpf != nil {
		j.vpf(j.params, a, b, v)
		return
	}
	j.vf(a, b, v)
}

// The panic report a worker prints to stderr: one line the parent parses,
// then the stack.
//
//	pishm-func-panic LO HI "VALUE"
//	goroutine 1 [running]: ...
const panicTag = "pishm-func-panic "

func (p *funcPanic) report() string {
	return fmt.Sprintf("%s%d %d %s\n%s", panicTag, p.lo, p.hi, strconv.Quote(oneLine(fmt.Sprint(p.value))), p.stack)
}

type panicReport struct {
	lo, hi       uint64
	cause, stack string
}

func parsePanicReport(text string) (panicReport, bool) {
	first, stack, _ := strings.Cut(text, "\n")
	rest, ok := strings.CutPrefix(first, panicTag)
	if !ok {
		return panicReport{}, false
	}
	var r panicReport
	var quoted string
	if n, _ := fmt.Sscanf(rest, "%d %d %q", &r.lo, &r.hi, &quoted); n != 3 {
		return panicReport{}, false
	}
	r.cause, r.stack = quoted, strings.TrimSpace(stack)
	return r, true
}

// RunTests is a test binary's TestMain for packages that start workers:
// the test binary is re-executed as each worker, which must serve the
// parent instead of running the tests again.
//
//	func TestMain(m *testing.M) { engine.RunTests(m) }
func RunTests(m interface{ Run() int }) {
	if IsChild() {
		os.Exit(ChildMain())
	}
	os.Exit(m.Run())
}

// notAWorker is the guard at the top of Run, Reduce and NewPool.
func notAWorker() error {
	if inWorker.Load() {
		return errors.New("engine: a worker may not start workers (Run, Reduce or NewPool called from a Func)")
	}
	if IsChild() {
		return fmt.Errorf("engine: this process was started as a pishm worker (%s is set) but called Run, Reduce or NewPool: "+
			"put `if engine.IsChild() { os.Exit(engine.ChildMain()) }` first in main, or engine.RunTests(m) in a test's TestMain", envSegment)
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
	v    segView
	i    int
	s    *slot
	pid  uint32
	jobs map[string]job // by name (and kernel, for pi), found once

	pub     publisher // reused by every call
	scratch Vector    // each publish's folds, reused by every call
}

func childMain() error {
	fault("attach")
	seg, i, err := takeEnv()
	if err != nil {
		return err
	}
	defer seg.Close()
	ctl := (*control)(seg.Block(0))
	l, err := ctl.check(seg)
	if err != nil {
		return err
	}
	if i >= l.workers {
		return fmt.Errorf("bad %s=%d for a segment of %d workers", envWorker, i, l.workers)
	}
	w := &worker{v: newView(seg, l), i: i, pid: uint32(os.Getpid()), jobs: map[string]job{}}
	w.s = w.v.slot(i)
	w.s.pid.Store(w.pid)
	w.s.state.Store(slotArrived)
	ctl.arrived.Add(1)
	if err := sem.WakeAll(&ctl.arrived); err != nil {
		return err
	}
	fault("arrived")
	spun := uint32(genQuit) // the call whose arrival this worker last spun for
	for {
		g := ctl.gen.Load() // load-acquire: the job written before gen is visible
		switch {
		case g == genQuit:
			return nil
		case g != 0 && w.s.doneGen.Load() != g:
			oneShot, err := w.call(g)
			if err != nil || oneShot {
				return err
			}
			continue
		}
		// Spin once per call waited for: a sleep that times out (to look
		// at the parent) goes back to sleep.
		if g != spun {
			spun = g
			if sem.SpinWhile(&ctl.gen, g, time.Duration(ctl.spinNs.Load())) {
				continue
			}
		}
		ctl.genSleepers.Add(1)
		err := sem.WaitWhile(&ctl.gen, g, time.Second)
		ctl.genSleepers.Add(^uint32(0))
		if err != nil {
			return err
		}
		if os.Getppid() == 1 {
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
	ctl := w.v.ctl
	spec := ctl.job // a copy: the parent does not write it during the call
	if err := spec.check(w.v.l, w.v.ops); err != nil {
		return false, err
	}
	mode, _ := modeOf(spec.mode)
	j, err := w.job(&spec)
	if err != nil {
		return false, err
	}
	j = j.bind(w.v.params(int(spec.params)))
	j.cancelled = func() bool { return ctl.cancel.Load() == g }
	start := time.Now()
	pub := &w.pub
	if err := sumShare(w.v, w.i, w.pid, &spec, mode, j, nil, pub, &w.scratch); err != nil {
		return false, err
	}
	if mode.IsTransport() {
		// The message carries the share's exact result, the journal's
		// fold: the parent's result comes from the messages, and the
		// journal is its check.
		lo, hi := span(spec.n, spec.grain, w.v.l.workers, w.i)
		_, cf := pub.j.cur()
		ms := make([]transport.Message, len(cf))
		for e := range cf {
			f := &cf[e]
			ms[e] = transport.Message{Worker: uint32(w.i), Lo: spec.offset + lo, Hi: spec.offset + hi,
				ElapsedNs: int64(time.Since(start)), Partial: f.value(), Sum: f.acc, Elem: uint32(e), Elems: uint32(len(cf))}
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
	ctl.finished.Add(1)
	if ctl.parentSleeps.Load() != 0 {
		if err := sem.WakeAll(&ctl.finished); err != nil {
			return false, err
		}
	}
	return oneShotGen(g), nil
}

// sumShare sums participant i's share of the call spec (a worker process,
// or a pool's caller on slot 0) and publishes it by mode into slot i's
// journal, claiming dynamic chunks as owner, through pub (set up here;
// its journal then holds the share's total) and scratch (grown to k).
// lock, if set, takes the accumulator's lock in the mutex mode instead of
// Mutex.Lock.
func sumShare(v segView, i int, owner uint32, spec *jobSpec, mode Mode, j job, lock func(*sem.Mutex) error, pub *publisher, scratch *Vector) error {
	s := v.slot(i)
	s.state.Store(slotRunning)
	pub.init(mode, j.ops, v, i, v.lane(i), lock)
	scratch.f = slices.Grow(scratch.f[:0], j.k())[:j.k()]
	if spec.dynamic {
		tbl := v.chunks(int(spec.chunks))
		sumChunks(j, spec.offset, spec.n, spec.chunk, spec.grain, tbl, &v.ctl.next, owner, &s.progress, scratch, pub)
	} else {
		lo, hi := span(spec.n, spec.grain, v.l.workers, i)
		sumRange(j, spec.offset+lo, spec.offset+hi, spec.chunk, spec.grain, &s.progress, scratch, pub)
	}
	return pub.finish()
}

// finishShare marks slot i done with call g.
func finishShare(v segView, i int, g uint32, elapsed time.Duration) {
	s := v.slot(i)
	s.elapsed.Store(int64(elapsed))
	s.state.Store(slotDone)
	s.doneGen.Store(g) // store-release: everything published before is visible
}

// oneShotGen: a one-shot Run numbers its only call genOneShot, so that its
// workers exit right after it instead of waiting to be told.
func oneShotGen(g uint32) bool { return g == genOneShot }

// genOneShot is the gen of a one-shot Run's call.
const genOneShot = genQuit - 1

// job finds the job spec names: the pi series with its kernel, or a
// registered Func.
func (w *worker) job(spec *jobSpec) (job, error) {
	name, _ := cString(spec.name[:])
	kname, _ := cString(spec.kernel[:])
	key := name + "/" + kname
	if j, ok := w.jobs[key]; ok {
		return j, nil
	}
	var j job
	if name == piJob {
		k, err := kernel.ByName(kname)
		if err != nil {
			return job{}, err
		}
		j = job{name: piJob, ops: sumOps, f: k.Sum}
	} else {
		var ok bool
		if j, ok = lookup(name); !ok {
			return job{}, fmt.Errorf("no Func registered as %q in this binary (Register it from an init function)", name)
		}
	}
	if ops := w.v.ops(int(spec.k)); !slices.Equal(j.ops, ops) {
		return job{}, fmt.Errorf("%q is registered with ops %s here, %s in the parent", name, opsString(j.ops), opsString(ops))
	}
	w.jobs[key] = j
	return j, nil
}

// sendTimeout bounds a worker's send of its one message.
const sendTimeout = time.Minute

// fold is a running reduction: for Sum an exact accumulator, for Min and
// Max the extreme so far, under an order-independent rule (NaN wins, and
// -0 is below +0). Either way its value depends on the set of values
// added, not on their order or grouping. It lives in the journal, so it
// holds no pointers.
type fold struct {
	acc  superacc.Acc // Sum
	best float64      // Min, Max
	op   Op
}

func newFold(op Op) fold { return fold{op: op, best: op.identity()} }

func (f *fold) add(x float64) {
	if f.op == Sum {
		f.acc.Add(x)
	} else {
		f.best = f.op.pick(x, f.best)
	}
}

// merge adds everything o holds.
func (f *fold) merge(o *fold) {
	if f.op == Sum {
		f.acc.Merge(&o.acc)
	} else {
		f.best = f.op.pick(o.best, f.best)
	}
}

// value is the result: for Sum the exact total rounded once.
func (f *fold) value() float64 {
	if f.op == Sum {
		return f.acc.Round()
	}
	return f.best
}

// piece adds the value of every piece of the grid in [a, b) into v (a and
// b are on the grid), counting each into progress, and stops early when
// the call is cancelled. A scalar Func's value goes to element 0; a
// vector Func adds into v itself.
func piece(j job, a, b, grain uint64, progress *atomic.Uint64, v *Vector) {
	for a < b {
		if j.cancelled != nil && j.cancelled() {
			return
		}
		e := min(b, a+grain)
		if j.vector() {
			callVector(j, a, e, v)
		} else {
			v.f[0].add(callFunc(j, a, e))
		}
		progress.Add(e - a)
		a = e
	}
}

// sumRange reduces [lo, hi) in publishes of chunk terms (whole pieces).
// scratch holds each publish's folds.
func sumRange(j job, lo, hi, chunk, grain uint64, progress *atomic.Uint64, scratch *Vector, to sink) {
	for a := lo; a < hi && (j.cancelled == nil || !j.cancelled()); {
		b := hi
		if hi-a > chunk {
			b = a + chunk
		}
		scratch.f.reset(j.ops)
		piece(j, a, b, grain, progress, scratch)
		fault("sum")
		to.publish(scratch.f, b-a, 0)
		a = b
	}
}

// sumChunks takes chunks of [base, base+n) from the table (see "Shares")
// until none is left, publishing each.
func sumChunks(j job, base, n, chunk, grain uint64, tbl chunkTable, next *atomic.Uint64, owner uint32,
	progress *atomic.Uint64, scratch *Vector, to sink) {
	for {
		c, ok := claimChunk(tbl, next, owner)
		if !ok || j.cancelled != nil && j.cancelled() {
			return
		}
		fault("claim")
		a := base + c*chunk
		b := min(base+n, a+chunk)
		scratch.f.reset(j.ops)
		piece(j, a, b, grain, progress, scratch)
		fault("sum")
		to.publish(scratch.f, b-a, c)
		fault("journal")
		tbl[c].Store(chunkDone)
	}
}

// claimChunk takes a free chunk: the next index from the counter, or, once
// the counter has run past the end, any chunk still free.
func claimChunk(tbl chunkTable, next *atomic.Uint64, owner uint32) (uint64, bool) {
	k := uint64(len(tbl))
	for {
		c := next.Add(1) - 1
		if c >= k {
			break
		}
		fault("claim-next")
		if tbl[c].CompareAndSwap(0, owner) {
			return c, true
		}
	}
	for c := range tbl {
		if tbl[c].Load() == 0 && tbl[c].CompareAndSwap(0, owner) {
			return uint64(c), true
		}
	}
	return 0, false
}

// sink takes a share's publishes: a publisher, or an in-process
// participant's own total. An interface, not a func, so that passing one
// allocates nothing.
type sink interface {
	publish(f folds, terms, chunk uint64)
}

// publisher is one mode's way of publishing, over the worker's journal.
// It holds no closures, so that one kept by its owner (a worker, a pool's
// caller) is reused by every call without allocating.
type publisher struct {
	j    journal
	mode Mode
	acc  []accElem              // the shared accumulator's elements
	mu   *sem.Mutex             // the accumulator's lock (mutex)
	lock func(*sem.Mutex) error // takes mu (mutex): Mutex.Lock, or the caller's way
	lane *atomic.Uint64         // the false-sharing experiment's word (slots), or nil
	run  float64                // the running total stored in lane
	err  error                  // the mutex mode's first lock error: the rest is skipped
}

// init makes pb publish participant i's folds of ops by mode into its
// journal in v and, for cas, mutex and racy, the shared accumulator; lane
// is the false-sharing experiment's word, or nil; lock takes the
// accumulator's lock (nil: Mutex.Lock).
func (pb *publisher) init(mode Mode, ops []Op, v segView, i int, lane *atomic.Uint64, lock func(*sem.Mutex) error) {
	if lock == nil {
		lock = (*sem.Mutex).Lock
	}
	*pb = publisher{j: openJournal(v, i, len(ops)), mode: mode, acc: v.accElems(len(ops)), mu: &v.acc.lock, lock: lock, lane: lane}
}

// record journals f (see "The journal").
func (pb *publisher) record(f folds, terms, chunk uint64) {
	e, ef := pb.j.next()
	ef.merge(f)
	e.terms += terms
	e.publishes++
	e.last = chunk + 1 // dynamic only: static shares pass chunk 0
	pb.j.commit()
}

// publish publishes f, the total of terms terms (of dynamic chunk chunk),
// by pb's mode.
func (pb *publisher) publish(f folds, terms, chunk uint64) {
	acc := pb.acc
	switch pb.mode {
	case Slots:
		pb.record(f, terms, chunk)
		if pb.lane != nil {
			// The false-sharing experiment: a running total also goes to
			// a lane packed as tightly as Config.Pad says.
			pb.run += f[0].value()
			pb.lane.Store(math.Float64bits(pb.run))
		}
	case Racy:
		// A plain load, add and store of each publish's value, as
		// unsynchronised code would write it: two workers that
		// interleave here lose one add. (Scalar Funcs only.)
		w := (*uint64)(unsafe.Pointer(&acc[0].best))
		*w = math.Float64bits(f64(*w) + f[0].value())
		fault("accum")
		pb.record(f, terms, chunk)
	case CAS:
		for e := range f {
			if f[e].op == Sum {
				superacc.AtomicMerge(&acc[e].exact, &f[e].acc)
			} else {
				casBetter(&acc[e].best, f[e].op, f[e].best)
			}
		}
		fault("accum")
		pb.record(f, terms, chunk)
	case Mutex:
		if pb.err != nil {
			return
		}
		if pb.err = pb.lock(pb.mu); pb.err != nil {
			return
		}
		// Critical section: plain adds made atomic by the lock.
		for e := range f {
			if f[e].op == Sum {
				acc[e].exact.Merge(&f[e].acc)
			} else {
				acc[e].best.Store(math.Float64bits(f[e].op.pick(f[e].best, f64(acc[e].best.Load()))))
			}
		}
		fault("accum")
		if pb.err = pb.mu.Unlock(); pb.err != nil {
			return
		}
		pb.record(f, terms, chunk)
	default: // the transports: the journal is what the message carries
		pb.record(f, terms, chunk)
	}
}

// finish is the share's publishing error, if any.
func (pb *publisher) finish() error { return pb.err }

// casBetter replaces the float64 at w with op's pick of it and x.
func casBetter(w *atomic.Uint64, op Op, x float64) {
	for {
		old := w.Load()
		v := math.Float64bits(op.pick(x, f64(old)))
		if v == old || w.CompareAndSwap(old, v) {
			return
		}
	}
}

func f64(bits uint64) float64 { return math.Float64frombits(bits) }
