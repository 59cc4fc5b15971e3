package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
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
	Mode    lab.Mode
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
	// worker waits for a job, so that a log shows it alive and idle, and
	// a line for each job it refuses.
	Status io.Writer
	// WaitNote is how often an idle worker says that it waits for a job;
	// 0 means DefaultWaitNote, negative never.
	WaitNote time.Duration

	// Key is the job key (see auth.go; ReadKey): a job whose coordinator
	// has one is served only with the same, and every record is signed
	// with it. nil serves only jobs without a key.
	Key []byte

	// tamper, if set, changes a chunk's result before it is sent: a test
	// plays a faulty worker with it.
	tamper func(chunk int, p *partial.Partial)
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
			// Always said where the worker's status goes, not only in a
			// verbose log: a refused job waits for other workers, and its
			// coordinator counts the dead letter.
			status := o.Status
			if status == nil {
				status = o.Log
			}
			logTo(status, "worker %s: %v", o.ID, err)
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
			return nil, errorf("worker %s: job %s: %w", w.id, w.job.ID, err)
		}
		return nil, errorf("worker %s: job %s: %s: %w", w.id, w.job.ID, what, err)
	}
	return v, nil
}

// jobEnd turns an "end" or "gone" reply into Work's result: nil when the
// job is done.
func (w *worker) jobEnd(v []any) error {
	switch str(v, 0) {
	case "end":
		if why := endWhy(str(v, 1)); why != "done" {
			return fmt.Errorf("%w: job %s: %s", ErrJobEnded, w.job.ID, why)
		}
		return nil
	case "gone":
		return fmt.Errorf("%w: job %s (redis restarted without persistence, or its coordinator was away for more than %v)", ErrJobGone, w.job.ID, w.job.Retain)
	}
	return errorf("worker %s: job %s: unexpected reply %v", w.id, w.job.ID, v)
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
