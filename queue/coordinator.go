package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// CoordinateOptions adjusts Coordinate.
type CoordinateOptions struct {
	// Timeout bounds the whole job; 0 means none. A job that times out
	// ends (its keys go).
	Timeout time.Duration
	// Outage is how long redis may stay unreachable before Coordinate
	// gives up, leaving the chunks done so far for a resume; 0 means
	// DefaultOutage.
	Outage time.Duration
	// Poll is the longest pause between two looks at the results; 0
	// means DefaultCoordinatorPoll.
	Poll time.Duration
	// Resume, when true, requires the job to exist already (pishm
	// coordinate -resume): Coordinate then takes its settings from redis.
	Resume bool
	// Started, if set, is called once the chunks are queued and workers
	// can find the job, with the number of chunks that already had a
	// result (non-zero on a resume).
	Started func(j Job, resumed int)
}

// DefaultCoordinatorPoll is CoordinateOptions.Poll's default.
const DefaultCoordinatorPoll = 100 * time.Millisecond

// pushBatch is how many chunk indices one script call queues.
const pushBatch = 4096

// Errors of Coordinate, for errors.Is.
var (
	// ErrJobExists: another coordinator holds the job.
	ErrJobExists = errors.New("queue: the job has a live coordinator")
	// ErrNoSuchJob: Resume found no job of that ID.
	ErrNoSuchJob = errors.New("queue: no such job")
	// ErrJobGone: the job's keys vanished while it ran (redis restarted
	// without persistence, or they expired while the coordinator was
	// stopped for longer than Job.Retain).
	ErrJobGone = errors.New("queue: the job's keys vanished")
	// ErrUsurped: another coordinator took the job over while this one
	// was away.
	ErrUsurped = errors.New("queue: another coordinator took the job over")
	// ErrDeadLetter: a chunk failed Job.MaxAttempts times.
	ErrDeadLetter = errors.New("queue: a chunk went to the dead letters")
	// ErrDisagree: three results of one chunk differ.
	ErrDisagree = errors.New("queue: results of one chunk disagree")
	// ErrInexact: the reduced S_n is not the closed form's within
	// SumRelTol.
	ErrInexact = errors.New("queue: S_n fails the exact check")
)

// endTTL is how long the end marker stays: long enough for every worker
// to see it, at its next poll or lease renewal.
func endTTL(j Job) time.Duration { return max(10*j.Lease, 10*time.Second) }

// Coordinate runs j on the workers that serve the redis-server client
// talks to, or resumes it if its keys are there (a coordinator that died or
// lost redis left them, for up to Job.Retain). It queues the chunks that
// have no result, validates every result against its chunk's closed-form
// bounds (the first valid one wins; for a reproducible job a second that
// differs puts the chunk to a third run, which settles it, and a third
// distinct value fails the job), and reduces the partials in chunk order,
// compensated, so that the result is bit-identical to Local(ctx, j). A
// sum that fails the exact check (SumRelTol) is returned with ErrInexact.
//
// Whenever the job ends (done, failed, cancelled, timed out) Coordinate
// deletes its keys and leaves only the end marker, which expires. When
// redis stays unreachable beyond the outage window it returns ErrOutage
// and the keys stay, for a resume.
func Coordinate(ctx context.Context, client *redis.Client, j Job, o CoordinateOptions) (res Result, err error) {
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	if o.Outage <= 0 {
		o.Outage = DefaultOutage
	}
	if o.Poll <= 0 {
		o.Poll = DefaultCoordinatorPoll
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("timed out after %v", o.Timeout))
		defer cancel()
	}
	c := &coordinator{client: client, job: j, keys: keysOf(j.ID), token: randomID(), r: &retrier{window: o.Outage}, poll: o.Poll}
	resumed, err := c.claim(ctx, o.Resume)
	if err != nil {
		return Result{}, err
	}
	j = c.job
	defer func() {
		// The job ends here unless redis is out of reach, or the job is
		// not ours or no longer there: then the keys stay as they are.
		if errors.Is(err, ErrOutage) || errors.Is(err, ErrUsurped) || errors.Is(err, ErrJobGone) {
			return
		}
		why := "done"
		if err != nil {
			why = "failed: " + err.Error()
			if ctx.Err() != nil {
				why = "cancelled: " + context.Cause(ctx).Error()
			}
		}
		err = errors.Join(err, c.end(why))
	}()
	start := time.Now()
	if err := c.initial(ctx, resumed); err != nil {
		return Result{}, err
	}
	if o.Started != nil {
		o.Started(j, j.Chunks-c.left)
	}
	if err := c.gather(ctx); err != nil {
		return Result{}, err
	}
	res = finish(j, c.parts, time.Since(start))
	res.Compute, res.Duplicates, res.Mismatches, res.Rejected = c.compute, c.duplicates, c.mismatches, c.rejected
	res.RejectReasons, res.Disputes, res.DeadLetters, res.ByWorker, res.Builds = c.reasons, c.disputes, c.deadNotes, c.byWorker, c.builds
	res.Resumed = resumed
	c.stats(&res)
	if math.Abs(res.SumRelError) > SumRelTol || math.IsNaN(res.SumRelError) {
		return res, fmt.Errorf("%w: job %s: S_n %.17g, exact %.17g: relative error %.3g is beyond %g",
			ErrInexact, j.ID, res.Sum, res.SumExact, res.SumRelError, SumRelTol)
	}
	return res, nil
}

// coordinator is the state of one Coordinate call.
type coordinator struct {
	client *redis.Client
	job    Job
	keys   keys
	token  string
	r      *retrier
	poll   time.Duration

	parts []float64
	chunk []chunkState
	left  int

	cursor, deadCursor int64
	nextRenew          time.Time // when the keys' TTLs are renewed next

	compute                                    time.Duration
	duplicates, mismatches, rejected, disputes int
	reasons, deadNotes                         []string
	byWorker, builds                           map[string]int
}

// chunkState is what the coordinator knows of one chunk.
type chunkState struct {
	have     bool              // parts[i] holds its accepted value
	disputed bool              // two results differ: a third decides
	votes    map[uint64]string // distinct valid results: bits -> worker
	count    map[uint64]int    // how many results gave those bits
	worker   string            // who sent the accepted value
	elapsed  time.Duration     // and its compute time
}

// maxReasons bounds the rejection reasons kept for the report.
const maxReasons = 5

// do runs f with c's outage retries, naming the job once in any error.
func (c *coordinator) do(ctx context.Context, what string, f func(context.Context) error) error {
	if err := c.r.do(ctx, what, f); err != nil {
		if ctx.Err() != nil {
			return c.stopped(ctx)
		}
		if errors.Is(err, ErrOutage) {
			return fmt.Errorf("job %s: %w; %d of %d chunks have results, kept in redis for %v after it comes back: resume with the same flags or -resume %s",
				c.job.ID, err, c.job.Chunks-c.left, c.job.Chunks, c.job.Retain, c.job.ID)
		}
		return fmt.Errorf("queue: job %s: %s: %w", c.job.ID, what, err)
	}
	return nil
}

func (c *coordinator) stopped(ctx context.Context) error {
	return fmt.Errorf("queue: job %s: %w (%d of %d chunks have results)", c.job.ID, context.Cause(ctx), c.job.Chunks-c.left, c.job.Chunks)
}

// over turns a script's "end" or "gone" reply into an error.
func (c *coordinator) over(v []any) error {
	switch str(v, 0) {
	case "gone":
		return fmt.Errorf("%w: job %s (redis restarted without persistence, or the keys expired while this coordinator was stopped for more than %v); %d of %d chunks had results, none is left",
			ErrJobGone, c.job.ID, c.job.Retain, c.job.Chunks-c.left, c.job.Chunks)
	case "end":
		return fmt.Errorf("%w: job %s was ended by another coordinator: %s", ErrUsurped, c.job.ID, str(v, 1))
	case "usurped":
		return fmt.Errorf("%w: job %s", ErrUsurped, c.job.ID)
	}
	return fmt.Errorf("queue: job %s: unexpected reply %v", c.job.ID, v)
}

// claim makes this the job's coordinator, new or resumed. A coordinator
// that still holds the job is waited for up to two leases (it may be one
// that was just killed, whose presence has not lapsed yet).
func (c *coordinator) claim(ctx context.Context, mustExist bool) (resumed bool, err error) {
	k, j := c.keys, c.job
	if mustExist {
		var s string
		err := c.do(ctx, "get "+k.job(), func(ctx context.Context) error {
			var err error
			s, err = c.client.Get(ctx, k.job()).Result()
			return err
		})
		if errors.Is(err, redis.Nil) {
			return false, fmt.Errorf("%w: %s (it ended, or its keys expired after %v without a coordinator)", ErrNoSuchJob, j.ID, j.Retain)
		}
		if err != nil {
			return false, err
		}
		if c.job, err = decodeJob(s); err != nil {
			return false, fmt.Errorf("queue: job %s: %w", j.ID, err)
		}
		j = c.job
	}
	deadline := time.Now().Add(2 * j.Lease)
	for {
		var v []any
		err := c.do(ctx, "claim", func(ctx context.Context) error {
			var err error
			v, err = run(ctx, c.client, claimScript, j.ID, j.encode(), c.token, j.Lease.Milliseconds(), j.Retain.Milliseconds())
			return err
		})
		if err != nil {
			return false, err
		}
		switch str(v, 0) {
		case "new":
			if mustExist {
				return false, fmt.Errorf("%w: %s", ErrNoSuchJob, j.ID)
			}
			return false, nil
		case "resume":
			old, err := decodeJob(str(v, 1))
			if err != nil {
				return false, fmt.Errorf("queue: job %s: %w", j.ID, err)
			}
			if !old.sameWork(j) {
				return false, fmt.Errorf("queue: job %s exists with other settings (%s): choose another ID", j.ID, str(v, 1))
			}
			c.job = old
			return true, nil
		case "busy":
			if time.Now().After(deadline) {
				return false, fmt.Errorf("%w: %s (its presence lapses %v after it stops)", ErrJobExists, j.ID, j.Lease)
			}
		default:
			return false, c.over(v)
		}
		select {
		case <-ctx.Done():
			return false, c.stopped(ctx)
		case <-time.After(min(j.Lease/4, 250*time.Millisecond)):
		}
	}
}

// initial queues a new job's chunks, or reads a resumed job's results and
// requeues what is missing; then it announces the job to workers.
func (c *coordinator) initial(ctx context.Context, resumed bool) error {
	j := c.job
	c.parts, c.chunk, c.left = make([]float64, j.Chunks), make([]chunkState, j.Chunks), j.Chunks
	c.byWorker, c.builds = map[string]int{}, map[string]int{}
	if !resumed {
		for lo := 0; lo < j.Chunks; lo += pushBatch {
			args := []any{c.token}
			for i := lo; i < min(j.Chunks, lo+pushBatch); i++ {
				args = append(args, strconv.Itoa(i))
			}
			if err := c.script(ctx, "queue chunks", requeueScript, args...); err != nil {
				return err
			}
		}
	}
	for resumed {
		t, err := c.tick(ctx)
		if err != nil {
			return err
		}
		resumed = t.more
	}
	return c.announce(ctx)
}

// announce lists the job in jobsKey for workers without -job. The set is
// in another cluster slot than the job's keys, so it is written apart,
// with its own TTL, renewed while a coordinator runs.
func (c *coordinator) announce(ctx context.Context) error {
	return c.do(ctx, "sadd "+jobsKey, func(ctx context.Context) error {
		p := c.client.TxPipeline()
		p.SAdd(ctx, jobsKey, c.job.ID)
		p.PExpire(ctx, jobsKey, c.job.Retain)
		_, err := p.Exec(ctx)
		return err
	})
}

// script runs one of the coordinator's scripts that answer only "ok".
func (c *coordinator) script(ctx context.Context, what string, s *redis.Script, args ...any) error {
	var v []any
	if err := c.do(ctx, what, func(ctx context.Context) error {
		var err error
		v, err = run(ctx, c.client, s, c.job.ID, args...)
		return err
	}); err != nil {
		return err
	}
	if str(v, 0) != "ok" {
		return c.over(v)
	}
	return nil
}

// gather reads results until every chunk has an accepted one. It looks
// again at once while results come, and backs off to c.poll when none do.
func (c *coordinator) gather(ctx context.Context) error {
	const minWait = 2 * time.Millisecond
	wait := minWait
	nextAnnounce := time.Now().Add(c.job.Lease)
	for {
		v, err := c.tick(ctx)
		if err != nil {
			return err
		}
		if c.left == 0 {
			return nil
		}
		if time.Now().After(nextAnnounce) {
			if err := c.announce(ctx); err != nil {
				return err
			}
			nextAnnounce = time.Now().Add(c.job.Lease)
		}
		if v.got > 0 {
			wait = minWait
		} else {
			wait = min(2*wait, c.poll)
		}
		if v.more {
			continue
		}
		if v.queue == 0 && v.leases == 0 {
			// Nothing waits and nothing runs, yet chunks lack a result:
			// their results were invalid or disputed, or a resumed job's
			// chunks were in flight when its coordinator died.
			if err := c.requeueMissing(ctx); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			return c.stopped(ctx)
		case <-time.After(wait):
		}
	}
}

type tickInfo struct {
	got           int
	more          bool
	queue, leases int64
}

// tick runs gatherScript once and takes what it returns.
func (c *coordinator) tick(ctx context.Context) (tickInfo, error) {
	// The keys' TTLs (Job.Retain) are renewed a few times per lease, not
	// at every look: the look comes every few milliseconds while results
	// flow, and the renewal touches every key.
	renew := "0"
	if now := time.Now(); !now.Before(c.nextRenew) {
		renew, c.nextRenew = "1", now.Add(min(c.job.Lease/4, time.Second))
	}
	var v []any
	err := c.do(ctx, "gather", func(ctx context.Context) error {
		var err error
		v, err = run(ctx, c.client, gatherScript, c.job.ID, c.token, c.job.Lease.Milliseconds(), c.job.Retain.Milliseconds(), c.cursor, c.deadCursor, renew)
		return err
	})
	if err != nil {
		return tickInfo{}, err
	}
	if str(v, 0) != "ok" {
		return tickInfo{}, c.over(v)
	}
	recs, dead := strs(v, 1), strs(v, 2)
	c.cursor += int64(len(recs))
	c.deadCursor += int64(len(dead))
	for _, d := range dead {
		if err := c.deadLetter(d); err != nil {
			return tickInfo{}, err
		}
	}
	for _, r := range recs {
		if err := c.take(r); err != nil {
			return tickInfo{}, err
		}
	}
	return tickInfo{got: len(recs), more: c.cursor < num(v, 3), queue: num(v, 4), leases: num(v, 5)}, nil
}

// deadLetter fails the job for a chunk that went to the dead letters, and
// notes an entry that was no chunk at all.
func (c *coordinator) deadLetter(s string) error {
	var d struct{ Entry, Reason, Worker string }
	if err := json.Unmarshal([]byte(s), &d); err != nil {
		d.Entry, d.Reason = s, "unreadable dead letter"
	}
	if i, err := strconv.Atoi(d.Entry); err == nil && i >= 0 && i < c.job.Chunks && strconv.Itoa(i) == d.Entry {
		if c.chunk[i].have {
			return nil // a late attempt of a chunk that has its result
		}
		return fmt.Errorf("%w: job %s: chunk %d: %s (worker %s)", ErrDeadLetter, c.job.ID, i, d.Reason, d.Worker)
	}
	c.deadNotes = append(c.deadNotes, fmt.Sprintf("%q: %s (found by worker %s)", d.Entry, d.Reason, d.Worker))
	return nil
}

// take checks one record and keeps it as its chunk's result if it is the
// first valid one, or settles a dispute.
func (c *coordinator) take(s string) error {
	j := c.job
	r, v, err := parseRecord(j, s)
	if err == nil {
		if why := j.checkChunk(int(r.Chunk), v); why != "" {
			err = errors.New(why)
		}
	}
	if err != nil {
		c.rejected++
		if len(c.reasons) < maxReasons {
			c.reasons = append(c.reasons, fmt.Sprintf("%v (worker %q)", err, r.Worker))
		}
		return nil
	}
	i, bits := int(r.Chunk), math.Float64bits(v)
	st := &c.chunk[i]
	if st.votes == nil {
		st.votes, st.count = map[uint64]string{}, map[uint64]int{}
	}
	if _, ok := st.votes[bits]; !ok {
		st.votes[bits] = fmt.Sprintf("%s (%s)", r.Worker, r.Build)
	}
	st.count[bits]++
	c.builds[r.Build]++
	switch {
	case !st.have && !st.disputed:
		c.accept(i, v, r)
	case st.have && math.Float64bits(c.parts[i]) == bits:
		c.duplicates++
	case st.have && !j.Reproducible():
		// cas and mutex with several engine workers add in arrival
		// order: both values passed the bounds, the first stays.
		c.duplicates++
		c.mismatches++
	case st.have:
		c.duplicates++
		c.mismatches++
		c.disputes++
		st.have, st.disputed = false, true
		c.left++
		c.compute -= st.elapsed
		if c.byWorker[st.worker]--; c.byWorker[st.worker] == 0 {
			delete(c.byWorker, st.worker)
		}
	case st.count[bits] >= 2:
		c.duplicates++
		st.disputed = false
		c.accept(i, v, r)
	case len(st.votes) >= 3:
		var who []string
		for b, w := range st.votes {
			who = append(who, fmt.Sprintf("%016x from %s", b, w))
		}
		return fmt.Errorf("%w: job %s: chunk %d: %v", ErrDisagree, j.ID, i, who)
	default:
		c.duplicates++
	}
	return nil
}

func (c *coordinator) accept(i int, v float64, r record) {
	c.chunk[i].have, c.chunk[i].worker, c.chunk[i].elapsed = true, r.Worker, time.Duration(r.Elapsed)
	c.parts[i] = v
	c.left--
	c.compute += time.Duration(r.Elapsed)
	c.byWorker[r.Worker]++
}

// requeueMissing queues again every chunk without an accepted result.
func (c *coordinator) requeueMissing(ctx context.Context) error {
	args := []any{c.token}
	for i := range c.chunk {
		if !c.chunk[i].have {
			args = append(args, strconv.Itoa(i))
		}
		if len(args) > pushBatch || i == len(c.chunk)-1 && len(args) > 1 {
			if err := c.script(ctx, "requeue", requeueScript, args...); err != nil {
				return err
			}
			args = args[:1]
		}
	}
	return nil
}

// stats adds the workers' counters to res.
func (c *coordinator) stats(res *Result) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m, err := c.client.HGetAll(ctx, c.keys.stats()).Result()
	if err != nil {
		return // figures for the report only
	}
	res.Reclaimed, _ = strconv.Atoi(m["reclaimed"])
	res.Speculative, _ = strconv.Atoi(m["speculative"])
}

// end deletes the job's keys but the end marker, which says why.
func (c *coordinator) end(why string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := c.client.SRem(ctx, jobsKey, c.job.ID).Err(); err != nil {
		errs = append(errs, fmt.Errorf("srem %s: %w", jobsKey, err))
	}
	v, err := run(ctx, c.client, endScript, c.job.ID, c.token, why, endTTL(c.job).Milliseconds())
	if err != nil {
		errs = append(errs, err)
	} else if str(v, 0) != "ok" {
		errs = append(errs, fmt.Errorf("another coordinator holds the job"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: end job %s: %w", c.job.ID, err)
	}
	return nil
}
