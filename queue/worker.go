package queue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/redis/go-redis/v9"
)

// WorkerOptions adjusts Work.
type WorkerOptions struct {
	// ID names the worker in the job's keys; "" means HOST-PID-RANDOM.
	ID string
	// Job is the ID of the job to serve; "" means the first live one.
	Job string
	// Workers and Mode, when set, must equal the job's: the coordinator
	// fixes them so that a chunk's bits do not depend on the host, and a
	// worker told otherwise refuses the job rather than change them.
	Workers int
	Mode    engine.Mode
	// Wait bounds the wait for a job to appear; 0 means no bound.
	Wait time.Duration
	// Poll is how long one BLMOVE blocks before the worker looks for the
	// done marker; 0 means DefaultPoll.
	Poll time.Duration
	// Log, if set, gets a line per chunk taken and finished.
	Log io.Writer
}

// DefaultPoll is WorkerOptions.Poll's default.
const DefaultPoll = 200 * time.Millisecond

// WorkerStats is what one Work call did.
type WorkerStats struct {
	Worker  string        `json:"worker"`
	Job     string        `json:"job"`
	Chunks  int           `json:"chunks"`  // results sent
	Terms   uint64        `json:"terms"`   // terms in those chunks
	Late    int           `json:"late"`    // results for chunks requeued meanwhile (duplicates)
	Compute time.Duration `json:"compute"` // engine time
	Elapsed time.Duration `json:"elapsed"`
}

// Errors of Work.
var (
	ErrNoJob    = errors.New("queue: no job appeared")
	ErrRefused  = errors.New("queue: job refused")
	errJobOver  = errors.New("queue: the job is over")
	errNoResult = errors.New("queue: job gone before the result was sent")
)

// Work serves one job: it takes chunks with the reliable-queue pattern
// (BLMOVE from the job's queue into this worker's processing list),
// computes each with ComputeChunk, and publishes the result and removes
// the chunk from its processing list in one atomic step. A heartbeat key
// with the job's TTL says it is alive; if it lapses (the process was
// killed), the coordinator puts its chunks back on the queue.
//
// Work returns nil once the job is done; when ctx is cancelled it first
// returns its unfinished chunk to the queue, then returns ctx's cause.
func Work(ctx context.Context, client *redis.Client, o WorkerOptions) (st WorkerStats, err error) {
	start := time.Now()
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomID()[:6])
	}
	if o.Poll <= 0 {
		o.Poll = DefaultPoll
	}
	st.Worker = o.ID
	j, err := findJob(ctx, client, o)
	if err != nil {
		return st, err
	}
	st.Job = j.ID
	if err := compatible(j, o); err != nil {
		return st, err
	}
	w := &worker{client: client, job: j, keys: keysOf(j.ID), id: o.ID, log: o.Log}
	switch n, err := w.heartbeat(ctx); {
	case err != nil:
		return st, err
	case n != 1:
		return st, nil // over before we began
	}
	// The heartbeat outlives ctx: it runs until the chunk is returned.
	workCtx, stopWork := context.WithCancelCause(ctx)
	defer stopWork(nil)
	hbCtx, stopHB := context.WithCancel(context.Background())
	var hb sync.WaitGroup
	hb.Go(func() { w.beat(hbCtx, func() { stopWork(errJobOver) }) })
	defer func() {
		stopHB()
		hb.Wait()
		// Returns what the processing list still holds (a chunk cut short)
		// to the queue, and unregisters.
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		k := w.keys
		n, lerr := leaveScript.Run(lctx, client, []string{k.job(), k.queue(), k.proc(w.id), k.hb(w.id), k.workers()}, w.id).Int64()
		if lerr != nil {
			err = errors.Join(err, fmt.Errorf("queue: worker %s: leave: %w", w.id, lerr))
		} else if n > 0 {
			w.logf("returned %d unfinished chunk(s) to the queue", n)
		}
		st.Elapsed = time.Since(start)
	}()
	err = w.loop(workCtx, o.Poll, &st)
	if errors.Is(context.Cause(workCtx), errJobOver) && ctx.Err() == nil || errors.Is(err, errNoResult) {
		err = nil
	}
	return st, err
}

// findJob waits for the job o names, or any live job.
func findJob(ctx context.Context, client *redis.Client, o WorkerOptions) (Job, error) {
	var deadline <-chan time.Time
	if o.Wait > 0 {
		t := time.NewTimer(o.Wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		ids := []string{o.Job}
		if o.Job == "" {
			var err error
			if ids, err = client.SMembers(ctx, jobsKey).Result(); err != nil {
				return Job{}, fmt.Errorf("queue: smembers %s: %w", jobsKey, err)
			}
			sort.Strings(ids)
		}
		for _, id := range ids {
			s, err := client.Get(ctx, keysOf(id).job()).Result()
			if errors.Is(err, redis.Nil) {
				if o.Job == "" {
					// A coordinator sets the job key before it adds the ID
					// and removes the ID first: this one died.
					client.SRem(ctx, jobsKey, id)
				}
				continue
			}
			if err != nil {
				return Job{}, fmt.Errorf("queue: get %s: %w", keysOf(id).job(), err)
			}
			j, err := decodeJob(s)
			if err != nil {
				return Job{}, fmt.Errorf("queue: job %s: %w", id, err)
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

// compatible checks that this worker can compute j's chunks bit for bit as
// any other would.
func compatible(j Job, o WorkerOptions) error {
	if o.Workers != 0 && o.Workers != j.Workers {
		return fmt.Errorf("%w %s: it fixes %d engine workers per chunk, this worker was given %d (set them at the coordinator: they change the result's bits)", ErrRefused, j.ID, j.Workers, o.Workers)
	}
	if o.Mode != "" && o.Mode != j.Mode {
		return fmt.Errorf("%w %s: it fixes mode %s, this worker was given %s (set it at the coordinator)", ErrRefused, j.ID, j.Mode, o.Mode)
	}
	i := slices.IndexFunc(engine.Kernels(), func(k engine.KernelInfo) bool { return k.Name == j.Kernel })
	if i < 0 || !engine.Kernels()[i].Supported {
		return fmt.Errorf("%w %s: its kernel %s does not run on this CPU (start the coordinator with a kernel every host runs, e.g. -kernel generic)", ErrRefused, j.ID, j.Kernel)
	}
	return nil
}

type worker struct {
	client *redis.Client
	job    Job
	keys   keys
	id     string
	log    io.Writer
	logMu  sync.Mutex
}

func (w *worker) logf(format string, args ...any) {
	if w.log == nil {
		return
	}
	w.logMu.Lock()
	defer w.logMu.Unlock()
	fmt.Fprintf(w.log, "worker %s: job %s: "+format+"\n", append([]any{w.id, w.job.ID}, args...)...)
}

// heartbeat registers the worker and renews its heartbeat key: 1 while the
// job runs, 2 once it is done, 0 when it is gone.
func (w *worker) heartbeat(ctx context.Context) (int64, error) {
	k := w.keys
	n, err := heartbeatScript.Run(ctx, w.client, []string{k.job(), k.workers(), k.hb(w.id), k.proc(w.id), k.done()},
		w.id, w.job.Heartbeat.Milliseconds(), keyTTL.Milliseconds()).Int64()
	if err != nil {
		return 0, fmt.Errorf("queue: worker %s: heartbeat: %w", w.id, err)
	}
	return n, nil
}

// beat renews the heartbeat three times per TTL until ctx ends, and calls
// over when the job is done or gone.
func (w *worker) beat(ctx context.Context, over func()) {
	t := time.NewTicker(w.job.Heartbeat / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// An error (the server briefly unreachable) is retried at the next
		// tick; if the heartbeat lapses meanwhile the chunk is requeued and
		// a result from here becomes a duplicate.
		if n, err := w.heartbeat(ctx); err == nil && n != 1 {
			over()
			return
		}
	}
}

// loop takes and computes chunks until the job is over or ctx ends.
func (w *worker) loop(ctx context.Context, poll time.Duration, st *WorkerStats) error {
	k := w.keys
	for ctx.Err() == nil {
		v, err := w.client.Do(ctx, "blmove", k.queue(), k.proc(w.id), "LEFT", "RIGHT", seconds(poll)).Text()
		if errors.Is(err, redis.Nil) {
			over, err := w.over(ctx)
			if err != nil || over {
				return err
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("queue: worker %s: blmove %s: %w", w.id, k.queue(), err)
		}
		i, err := strconv.Atoi(v)
		if err != nil || i < 0 || i >= w.job.Chunks {
			return fmt.Errorf("queue: worker %s: queue %s holds %q, not a chunk of [0, %d)", w.id, k.queue(), v, w.job.Chunks)
		}
		lo, hi := w.job.Bounds(i)
		w.logf("chunk %d [%d, %d) taken", i, lo, hi)
		sum, d, err := computeChunk(ctx, w.job, i)
		if err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			return fmt.Errorf("queue: worker %s: %w", w.id, err)
		}
		rec := record{Chunk: uint64(i), Sum: sum, Elapsed: d, Worker: w.id}
		// The result goes out even if ctx ended meanwhile: it is done.
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		n, err := ackScript.Run(actx, w.client, []string{k.job(), k.results(), k.proc(w.id)}, rec.marshal(), v).Int64()
		cancel()
		if err != nil {
			return fmt.Errorf("queue: worker %s: ack chunk %d: %w", w.id, i, err)
		}
		if n < 0 {
			return errNoResult
		}
		st.Chunks++
		st.Terms += hi - lo
		st.Compute += d
		if n == 0 {
			st.Late++
			w.logf("chunk %d done in %v, after it was requeued (a duplicate)", i, d)
		} else {
			w.logf("chunk %d done in %v", i, d)
		}
	}
	return context.Cause(ctx)
}

// computeChunk is ComputeChunk; a variable so that a benchmark can time
// the queue without the engine.
var computeChunk = ComputeChunk

// over reports whether the job is done or gone.
func (w *worker) over(ctx context.Context) (bool, error) {
	n, err := w.client.Exists(ctx, w.keys.job()).Result()
	if err != nil {
		if ctx.Err() != nil {
			return false, context.Cause(ctx)
		}
		return false, fmt.Errorf("queue: worker %s: exists %s: %w", w.id, w.keys.job(), err)
	}
	if n == 0 {
		return true, nil
	}
	d, err := w.client.Exists(ctx, w.keys.done()).Result()
	if err != nil {
		return false, fmt.Errorf("queue: worker %s: exists %s: %w", w.id, w.keys.done(), err)
	}
	return d == 1, nil
}
