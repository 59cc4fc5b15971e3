package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/redis/go-redis/v9"
)

// WorkerOptions adjusts Work.
type WorkerOptions struct {
	// ID names the worker in logs and results; "" means HOST-PID. It
	// need not be unique: leases are tokens the server hands out, so two
	// workers of one name never hold each other's chunks.
	ID string
	// Job is the ID of the job to serve; "" means any job whose
	// coordinator is alive (a job whose coordinator is gone is an orphan,
	// and only a worker told its ID joins it).
	Job string
	// Serve keeps the worker serving jobs one after another until ctx
	// ends (or Wait passes without a job); without it Work returns after
	// one job.
	Serve bool
	// Workers and Mode, when set, must equal the job's: the coordinator
	// fixes them so that a chunk's bits do not depend on the host, and a
	// worker told otherwise refuses the job rather than change them.
	Workers int
	Mode    engine.Mode
	// Wait bounds the wait for a job to appear; 0 means no bound.
	Wait time.Duration
	// Poll is how long an idle worker waits for a chunk before it looks
	// again for lapsed leases, stragglers and the job's end; 0 means
	// DefaultPoll.
	Poll time.Duration
	// Outage is how long redis may stay unreachable before the worker
	// gives up; 0 means DefaultOutage.
	Outage time.Duration
	// NoSpeculate stops the worker from running a second copy of a
	// straggler when it has nothing else to do.
	NoSpeculate bool
	// Log, if set, gets a line per chunk taken and finished.
	Log io.Writer
	// Status, if set (else Log), gets a line every WaitNote while the
	// worker waits for a job, so that a log shows it alive and idle.
	Status io.Writer
	// WaitNote is how often an idle worker says that it waits for a job;
	// 0 means DefaultWaitNote, negative never.
	WaitNote time.Duration

	// tamper, if set, changes a chunk's result before it is sent: a test
	// plays a faulty worker with it.
	tamper func(chunk int, p *engine.Partial)
}

// DefaultWaitNote is WorkerOptions.WaitNote's default.
const DefaultWaitNote = 30 * time.Second

// DefaultPoll is WorkerOptions.Poll's default.
const DefaultPoll = 200 * time.Millisecond

// StartupGrace is how long a worker extends a fresh lease while the
// engine has not reported progress yet (its processes start), whatever
// Job.Lease is.
const StartupGrace = 10 * time.Second

// maxFailures is how many chunks in a row may fail on a worker before it
// takes itself for broken and exits.
const maxFailures = 3

// WorkerStats is what one Work call did.
type WorkerStats struct {
	Worker      string        `json:"worker"`
	Job         string        `json:"job"` // the last job served
	Jobs        int           `json:"jobs"`
	Chunks      int           `json:"chunks"`      // results sent
	Terms       uint64        `json:"terms"`       // terms in those chunks
	Late        int           `json:"late"`        // results for chunks another copy had sent already
	Speculative int           `json:"speculative"` // second copies of stragglers taken
	Abandoned   int           `json:"abandoned"`   // chunks given up: lease lost, no progress, or another copy won
	Compute     time.Duration `json:"compute_ns"`  // engine time
	Elapsed     time.Duration `json:"elapsed_ns"`
}

// Errors of Work, for errors.Is.
var (
	ErrNoJob   = errors.New("queue: no job appeared")
	ErrRefused = errors.New("queue: job refused")
	// ErrShunned: the coordinator shunned this worker, whose results
	// other workers outvoted (see ShunAfter).
	ErrShunned = errors.New("queue: the coordinator shunned this worker")
	// ErrJobEnded: the job ended without being done (its coordinator
	// failed or was stopped); the error gives its reason.
	ErrJobEnded = errors.New("queue: the job ended unfinished")
	// errFailing: chunks keep failing on this host.
	errFailing = errors.New("queue: chunks keep failing on this worker")
)

// Work serves a job: it takes chunks with a lease (takeScript), computes
// each with ComputeChunk, and publishes the result and ends the lease in
// one atomic step. It extends a lease only while the engine's term count
// grows; a chunk that stops progressing for Job.Lease is given up and
// requeued (the engine's processes killed), and one whose lease another
// worker reclaimed, or whose result another copy sent, is dropped.
//
// Work returns nil once its job is done (with Serve, when ctx ends or no
// job appears within Wait). It returns ErrJobGone when the job's keys
// vanish, ErrJobEnded when its coordinator ended it unfinished, ErrOutage
// when redis stays out of reach. When ctx is cancelled it first returns
// its unfinished chunk to the queue, then returns ctx's cause.
func Work(ctx context.Context, client redis.UniversalClient, o WorkerOptions) (st WorkerStats, err error) {
	start := time.Now()
	defer func() { st.Elapsed = time.Since(start) }()
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	if o.Outage <= 0 {
		o.Outage = DefaultOutage
	}
	st.Worker = o.ID
	r := &retrier{window: o.Outage}
	skip := map[string]bool{} // jobs this worker refused or was shunned from
	for {
		j, err := findJob(ctx, client, r, o, skip)
		if errors.Is(err, ErrRefused) && o.Serve && o.Job == "" {
			skip[j.ID] = true
			logTo(o.Log, "worker %s: %v", o.ID, err)
			continue
		}
		if err != nil {
			if o.Serve && st.Jobs > 0 && errors.Is(err, ErrNoJob) {
				return st, nil
			}
			return st, err
		}
		st.Job = j.ID
		st.Jobs++
		w := &worker{client: client, job: j, id: o.ID, log: o.Log, r: r, o: o}
		err = w.serve(ctx, &st)
		w.closePool()
		if !o.Serve || ctx.Err() != nil || errors.Is(err, ErrOutage) || errors.Is(err, errFailing) {
			return st, err
		}
		if err != nil {
			w.logf("%v", err)
		}
		if errors.Is(err, ErrShunned) {
			skip[j.ID] = true
		}
		if o.Job != "" {
			return st, err // it was told to serve this one job
		}
	}
}

// logTo writes a line to w, if set.
func logTo(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

// findJob waits for the job o names, or any job whose coordinator is
// alive and that skip does not name, and checks that this worker may
// compute it: when it may not, it says why in the job's dead letters
// (once per worker) and returns the job with an error wrapping
// ErrRefused.
func findJob(ctx context.Context, client redis.UniversalClient, r *retrier, o WorkerOptions, skip map[string]bool) (Job, error) {
	var deadline <-chan time.Time
	if o.Wait > 0 {
		t := time.NewTimer(o.Wait)
		defer t.Stop()
		deadline = t.C
	}
	note := o.WaitNote
	if note == 0 {
		note = DefaultWaitNote
	}
	since, nextNote := time.Now(), time.Now().Add(note)
	for {
		if note > 0 && time.Now().After(nextNote) {
			what := "a job"
			if o.Job != "" {
				what = "job " + o.Job
			}
			out := o.Status
			if out == nil {
				out = o.Log
			}
			logTo(out, "worker %s: waiting for %s (%v so far)", o.ID, what, time.Since(since).Round(time.Second))
			nextNote = time.Now().Add(note)
		}
		ids := []string{o.Job}
		if o.Job == "" {
			err := r.do(ctx, "smembers "+jobsKey, func(ctx context.Context) error {
				var err error
				ids, err = client.SMembers(ctx, jobsKey).Result()
				return err
			})
			if err != nil {
				return Job{}, workerErr(ctx, err)
			}
			sort.Strings(ids)
		}
		for _, id := range ids {
			if skip[id] {
				continue
			}
			k := keysOf(id)
			var job, coord, end string
			err := r.do(ctx, "get "+k.job(), func(ctx context.Context) error {
				v, err := client.MGet(ctx, k.job(), k.coord(), k.end()).Result()
				if err == nil {
					job, _ = v[0].(string)
					coord, _ = v[1].(string)
					end, _ = v[2].(string)
				}
				return err
			})
			if err != nil {
				return Job{}, workerErr(ctx, err)
			}
			switch {
			case job == "" && o.Job == "":
				// A coordinator sets the job key before it lists the ID and
				// unlists it first: this one is over.
				client.SRem(ctx, jobsKey, id)
				continue
			case job == "" && end != "":
				if end == "done" {
					return Job{}, fmt.Errorf("%w: job %s is already done", ErrNoJob, id)
				}
				return Job{}, fmt.Errorf("%w: job %s: %s", ErrJobEnded, id, end)
			case job == "":
				continue
			case coord == "" && o.Job == "":
				continue // an orphan: only a worker told its ID joins it
			}
			j, err := decodeJob(job)
			if err != nil {
				if o.Job == "" {
					continue // a job of another protocol: not ours
				}
				return Job{}, fmt.Errorf("%w %s: %v", ErrRefused, id, err)
			}
			if err := compatible(j, o); err != nil {
				return j, refuse(ctx, client, r, j, o.ID, err)
			}
			return j, nil
		}
		select {
		case <-ctx.Done():
			return Job{}, context.Cause(ctx)
		case <-deadline:
			return Job{}, fmt.Errorf("%w within %v", ErrNoJob, o.Wait)
		case <-time.After(o.Poll):
		}
	}
}

func workerErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if errors.Is(err, ErrOutage) {
		return err
	}
	return fmt.Errorf("queue: %w", err)
}

// refuse puts the reason of worker id's refusal of j in j's dead letters
// (the first time) and marks it as taking no chunk of j, and returns err.
func refuse(ctx context.Context, client redis.UniversalClient, r *retrier, j Job, id string, err error) error {
	d, _ := json.Marshal(map[string]string{"entry": "worker " + id, "worker": id, "reason": err.Error()})
	rerr := r.do(ctx, "refuse", func(ctx context.Context) error {
		_, err := run(ctx, client, banScript, j.ID, id, "refused: "+err.Error(), string(d))
		return err
	})
	if rerr != nil {
		return errors.Join(err, workerErr(ctx, rerr))
	}
	return err
}

// compatible checks that this worker can compute j's chunks bit for bit as
// any other would: its program has j's Func with j's Op, and, for a Func
// other than the pi series (which has a closed form to check it), the
// same build as the coordinator's.
func compatible(j Job, o WorkerOptions) error {
	ops, ok := engine.FuncOps(j.Func)
	switch {
	case !ok:
		return fmt.Errorf("%w %s: no Func registered as %q in this worker's program (it has %v)", ErrRefused, j.ID, j.Func, engine.Registered())
	case engine.FormatOps(ops) != j.Op:
		return fmt.Errorf("%w %s: Func %q is registered with op %s in this worker's program, the job says %s", ErrRefused, j.ID, j.Func, engine.FormatOps(ops), j.Op)
	case !j.IsPi() && j.Engine != engine.BuildID():
		return fmt.Errorf("%w %s: the job comes from another build of the program (engine build %s, this worker's %s): run the same binary on every host", ErrRefused, j.ID, j.Engine, engine.BuildID())
	}
	if o.Workers != 0 && o.Workers != j.Workers {
		return fmt.Errorf("%w %s: it fixes %d engine workers per chunk, this worker was given %d (set them at the coordinator: they change the result's bits)", ErrRefused, j.ID, j.Workers, o.Workers)
	}
	if o.Mode != "" && o.Mode != j.Mode {
		return fmt.Errorf("%w %s: it fixes mode %s, this worker was given %s (set it at the coordinator)", ErrRefused, j.ID, j.Mode, o.Mode)
	}
	i := slices.IndexFunc(engine.Kernels(), func(k engine.KernelInfo) bool { return k.Name == j.Kernel })
	if j.IsPi() && (i < 0 || !engine.Kernels()[i].Supported) {
		return fmt.Errorf("%w %s: its kernel %s does not run on this CPU (start the coordinator with a kernel every host runs, e.g. -kernel generic)", ErrRefused, j.ID, j.Kernel)
	}
	return nil
}

type worker struct {
	client redis.UniversalClient
	job    Job
	id     string
	log    io.Writer
	logMu  sync.Mutex
	r      *retrier
	o      WorkerOptions

	pool     *engine.Pool  // the engine's processes, started at the first chunk
	failures int           // chunks failed in a row
	wall     time.Duration // wall time of the chunks sent, for speculation
	sent     int
}

func (w *worker) logf(format string, args ...any) {
	if w.log == nil {
		return
	}
	w.logMu.Lock()
	defer w.logMu.Unlock()
	fmt.Fprintf(w.log, "worker %s: job %s: "+format+"\n", append([]any{w.id, w.job.ID}, args...)...)
}

// lease is a chunk this worker holds.
type lease struct {
	token string
	chunk int
	kind  string // queued, reclaimed or speculative
}

// call runs a worker script with outage retries.
func (w *worker) call(ctx context.Context, what string, s *luaScript, args ...any) ([]any, error) {
	var v []any
	err := w.r.do(ctx, what, func(ctx context.Context) error {
		var err error
		v, err = run(ctx, w.client, s, w.job.ID, args...)
		return err
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		if errors.Is(err, ErrOutage) {
			return nil, fmt.Errorf("queue: worker %s: job %s: %w", w.id, w.job.ID, err)
		}
		return nil, fmt.Errorf("queue: worker %s: job %s: %s: %w", w.id, w.job.ID, what, err)
	}
	return v, nil
}

// jobEnd turns an "end" or "gone" reply into Work's result: nil when the
// job is done.
func (w *worker) jobEnd(v []any) error {
	switch str(v, 0) {
	case "end":
		if str(v, 1) == "done" {
			return nil
		}
		return fmt.Errorf("%w: job %s: %s", ErrJobEnded, w.job.ID, str(v, 1))
	case "gone":
		return fmt.Errorf("%w: job %s (redis restarted without persistence, or its coordinator was away for more than %v)", ErrJobGone, w.job.ID, w.job.Retain)
	}
	return fmt.Errorf("queue: worker %s: job %s: unexpected reply %v", w.id, w.job.ID, v)
}

// serve takes and computes chunks until the job is over or ctx ends.
func (w *worker) serve(ctx context.Context, st *WorkerStats) error {
	j := w.job
	k := keysOf(j.ID)
	for {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		var spec time.Duration
		if !w.o.NoSpeculate && w.sent > 0 && j.Redundancy == 1 {
			// A chunk is a straggler when it has run twice as long as
			// this worker's chunks take on average.
			spec = max(2*w.wall/time.Duration(w.sent), time.Millisecond)
		}
		v, err := w.call(ctx, "take", takeScript, w.id, j.Lease.Milliseconds(), j.MaxAttempts*j.Redundancy, spec.Milliseconds(), j.Chunks, j.Redundancy)
		if err != nil {
			return err
		}
		switch str(v, 0) {
		case "lease":
			chunk, _ := strconv.Atoi(str(v, 2))
			l := lease{token: str(v, 1), chunk: chunk, kind: str(v, 3)}
			if err := w.compute(ctx, l, st); err != nil {
				return err
			}
		case "dead":
			w.logf("chunk %s went to the dead letters", str(v, 1))
		case "shunned":
			return fmt.Errorf("%w: job %s: %s", ErrShunned, j.ID, str(v, 1))
		case "idle":
			if num(v, 1) > 0 {
				// What waits are copies of chunks this worker computed:
				// they are for other workers (Redundancy).
				select {
				case <-ctx.Done():
					return context.Cause(ctx)
				case <-time.After(w.o.Poll):
				}
				continue
			}
			// Block until the queue has an entry (BLMOVE from a list to
			// itself, right to right, leaves it as it was) or Poll passes.
			err := w.r.do(ctx, "wait", func(ctx context.Context) error {
				err := w.client.Do(ctx, "blmove", k.queue(), k.queue(), "RIGHT", "RIGHT", seconds(w.o.Poll)).Err()
				if errors.Is(err, redis.Nil) {
					return nil
				}
				return err
			})
			if err != nil {
				return workerErr(ctx, err)
			}
		default:
			return w.jobEnd(v)
		}
	}
}

// Why a chunk's computation was cut short.
var (
	errLost     = errors.New("its lease was reclaimed by another worker")
	errFinished = errors.New("another copy sent its result first")
	errStalled  = errors.New("no progress")
)

// compute runs one leased chunk, renewing the lease while it progresses,
// and sends its result.
func (w *worker) compute(ctx context.Context, l lease, st *WorkerStats) error {
	j := w.job
	lo, hi := j.Bounds(l.chunk)
	taken := time.Now()
	w.logf("chunk %d [%d, %d) taken (%s)", l.chunk, lo, hi, l.kind)
	if l.kind == "speculative" {
		st.Speculative++
	}
	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var done atomic.Uint64             // terms summed, from the engine's progress
	var begun atomic.Bool              // the engine has reported once
	var ended atomic.Pointer[jobEnded] // the job's end, seen by a renewal
	var wg sync.WaitGroup
	wg.Go(func() { w.keep(runCtx, l, &done, &begun, &ended, cancel) })
	if w.pool == nil {
		// The engine's processes start once per job, not once per chunk
		// (tens of milliseconds each).
		p, err := j.newPool(ctx)
		if err != nil {
			w.nack(l, err.Error(), true)
			return fmt.Errorf("queue: worker %s: job %s: start the engine: %w", w.id, j.ID, err)
		}
		w.pool = p
	}
	part, d, err := computeChunk(runCtx, j, l.chunk, func(n uint64) { done.Store(n); begun.Store(true) }, w.pool)
	if err != nil {
		// Whatever went wrong, the next chunk gets fresh processes.
		w.closePool()
	}
	cancel(nil)
	wg.Wait()
	if o := ended.Load(); o != nil {
		return o.err // the job is over: nil when done
	}
	if err != nil {
		cause := context.Cause(runCtx)
		switch {
		case ctx.Err() != nil:
			// Stopped: the chunk goes back without counting an attempt.
			w.nack(l, "worker stopped", true)
			return context.Cause(ctx)
		case errors.Is(cause, errLost), errors.Is(cause, errFinished):
			st.Abandoned++
			w.logf("chunk %d dropped: %v", l.chunk, cause)
			return nil
		case errors.Is(cause, errStalled):
			st.Abandoned++
			w.logf("chunk %d given up: %v", l.chunk, cause)
			return w.nack(l, cause.Error(), false)
		}
		w.failures++
		w.logf("chunk %d failed: %v", l.chunk, err)
		if nerr := w.nack(l, err.Error(), false); nerr != nil {
			return nerr
		}
		if w.failures >= maxFailures {
			return fmt.Errorf("%w (%d in a row; the last: %v)", errFailing, w.failures, err)
		}
		return nil
	}
	w.failures = 0
	if w.o.tamper != nil {
		w.o.tamper(l.chunk, &part)
	}
	rec := newRecord(j, l.chunk, part, d, w.id)
	// The result goes out even if ctx ended meanwhile: it is done.
	v, err := w.call(context.WithoutCancel(ctx), "send result", ackScript, rec.marshal(), l.token, l.chunk, j.Redundancy)
	if err != nil {
		return err
	}
	if str(v, 0) != "ok" {
		return w.jobEnd(v)
	}
	st.Chunks++
	st.Terms += hi - lo
	st.Compute += d
	w.sent++
	w.wall += time.Since(taken)
	if num(v, 2) == 1 {
		st.Late++
		w.logf("chunk %d done in %v, after another copy (a duplicate)", l.chunk, d)
	} else {
		w.logf("chunk %d done in %v", l.chunk, d)
	}
	return nil
}

// keep renews lease l four times per Job.Lease while the engine's term
// count grows (or, before its first report, for up to StartupGrace). It
// cancels the computation when the chunk stalls for Job.Lease, when the
// lease is lost or the chunk done elsewhere, and when the job is over.
func (w *worker) keep(ctx context.Context, l lease, done *atomic.Uint64, begun *atomic.Bool, ended *atomic.Pointer[jobEnded], cancel context.CancelCauseFunc) {
	j := w.job
	t := time.NewTicker(j.Lease / 4)
	defer t.Stop()
	start := time.Now()
	last, moved := uint64(0), time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		n := done.Load()
		extend := false
		switch {
		case n != last:
			last, moved, extend = n, now, true
		case !begun.Load():
			if now.Sub(start) > max(j.Lease, StartupGrace) {
				cancel(fmt.Errorf("%w: the engine did not start within %v", errStalled, max(j.Lease, StartupGrace)))
				return
			}
			moved, extend = now, true
		case now.Sub(moved) > j.Lease:
			cancel(fmt.Errorf("%w for %v at %d of %d terms", errStalled, now.Sub(moved).Round(time.Millisecond), n, j.config(l.chunk).N))
			return
		}
		ext := "0"
		if extend {
			ext = "1"
		}
		// One try: a renewal lost to an outage is retried at the next tick,
		// and the lease has three more ticks before it lapses.
		v, err := run(ctx, w.client, renewScript, j.ID, l.token, l.chunk, j.Lease.Milliseconds(), ext)
		if err != nil {
			continue
		}
		switch str(v, 0) {
		case "ok":
		case "lost":
			cancel(errLost)
			return
		case "finished":
			cancel(errFinished)
			return
		default:
			ended.Store(&jobEnded{w.jobEnd(v)})
			cancel(errFinished)
			return
		}
	}
}

// jobEnded is how the job ended, as a renewal found it.
type jobEnded struct{ err error }

// nack gives lease l back; forgive says the attempt should not count.
func (w *worker) nack(l lease, reason string, forgive bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), w.r.window)
	defer cancel()
	f := "0"
	if forgive {
		f = "1"
	}
	v, err := w.call(ctx, "return chunk", nackScript, l.token, l.chunk, reason, f, w.job.Redundancy, w.id)
	if err != nil {
		return err
	}
	switch str(v, 0) {
	case "ok":
		w.logf("chunk %d returned to the queue", l.chunk)
	case "lost":
	default:
		return w.jobEnd(v)
	}
	return nil
}

// computeChunk computes chunk i of j on pool, as ComputeChunk does on
// processes of its own; a variable so that a benchmark can time the queue
// without the engine, and a test can stall a chunk.
var computeChunk = chunkOnPool

// chunkOnPool computes chunk i of j on pool.
func chunkOnPool(ctx context.Context, j Job, i int, progress func(uint64), pool *engine.Pool) (engine.Partial, time.Duration, error) {
	cfg := j.config(i)
	if progress != nil {
		cfg.Progress = func(p engine.Progress) { progress(p.Done) }
	}
	r, err := pool.Reduce(ctx, j.Func, cfg.N, engine.WithConfig(cfg))
	if err != nil {
		return engine.Partial{}, 0, fmt.Errorf("queue: chunk %d: %w", i, err)
	}
	return r.Partial(), r.Elapsed, nil
}

// newPool starts the engine's processes for j's chunks. The segment holds
// the job's elements only: by default a Pool makes room for the widest
// Func the program registered.
func (j Job) newPool(ctx context.Context) (*engine.Pool, error) {
	return engine.NewPool(ctx, engine.WithWorkers(j.Workers), engine.WithMode(j.Mode),
		engine.WithMaxParams(max(len(j.Params), 1)), engine.WithMaxK(max(len(j.ops()), 1)))
}

// closePool stops the engine's processes of the job.
func (w *worker) closePool() {
	if w.pool != nil {
		w.pool.Close()
		w.pool = nil
	}
}

// seconds formats d for a blocking command's timeout.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
