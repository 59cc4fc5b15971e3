package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/partial"
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
	// Progress, if set, is called about every ProgressEvery with the
	// chunks accepted so far and the job's chunks, and once at the end.
	Progress      func(done, total int)
	ProgressEvery time.Duration
	// Key is the job key (see auth.go; ReadKey): with it, the job
	// records its KeyID, workers must hold the same key, and a result
	// without the key's HMAC is rejected. nil runs the job without.
	Key []byte
	// Refused, if set, is called as soon as a worker refuses the job
	// (another build, a Func it lacks or cannot run), with its name and
	// why: the job waits for other workers meanwhile.
	Refused func(worker, why string)
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
	// ErrNotRegistered: the coordinator's program has no Func of the
	// job's name, or has it with another Op.
	ErrNotRegistered = errors.New("queue: the job's Func is not registered in this program")
	// ErrInexact: the job's sum is not its Func's closed form within
	// SumRelTol.
	ErrInexact = errors.New("queue: the sum fails its closed form")
)

// endTTL is how long the end marker of a cancelled job stays: long enough
// for every worker to see it, at its next poll or lease renewal. A job
// that ended done or failed keeps its marker for Job.Retain, so that a
// late coordinator reports its outcome instead of running it again.
func endTTL(j Job) time.Duration { return max(10*j.Lease, 10*time.Second) }

// Coordinate runs j on the workers that serve the redis-server client
// talks to, or resumes it if its keys are there (a coordinator that died or
// lost redis left them, for up to Job.Retain). It queues the chunks that
// have no result, checks every result (for a Func with a closed form
// against its chunk's bounds), and accepts a chunk's exact state once
// Job.Redundancy results agree bit for bit; with Redundancy 1 the first
// valid one is taken, and a later one that differs puts the chunk to
// another run, which settles it. A third distinct value fails the job. The
// accepted states are merged exactly and rounded once, so the result is
// bit-identical to Local(ctx, j) and to engine.Reduce of the job's Func on
// one machine. A sum that fails its Func's closed form (SumRelTol) is
// returned with ErrInexact.
//
// Whenever the job ends (done, failed, cancelled, timed out) Coordinate
// deletes its keys and leaves only the end marker, which expires: after
// Job.Retain for a job done or failed, and a coordinator that comes
// meanwhile (a late twin, or the same command run again) returns the
// recorded outcome (Result.Replayed) or ErrJobEnded instead of running the
// job again; a cancelled job's marker goes soon, and the job may be run
// anew. When
// redis stays unreachable beyond the outage window it returns ErrOutage
// and the keys stay, for a resume.
func Coordinate(ctx context.Context, client redis.UniversalClient, j Job, o CoordinateOptions) (res Result, err error) {
	j.KeyID = keyID(o.Key)
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	if err := registered(j); err != nil && !o.Resume {
		return Result{}, fmt.Errorf("%w: %v", ErrNotRegistered, err)
	} else if err == nil && j.Check == "" {
		if j.Check, err = knownAnswer(ctx, j); err != nil {
			return Result{}, errorf("job %s: the Func's check ranges: %w", j.ID, err)
		}
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
	if err := checkEviction(ctx, client); err != nil {
		return Result{}, err
	}
	c := &coordinator{client: client, job: j, keys: keysOf(j.ID), token: randomID(), r: &retrier{window: o.Outage}, poll: o.Poll, o: o}
	resumed, ended, err := c.claim(ctx, o.Resume)
	if err != nil {
		return Result{}, err
	}
	if ended != "" {
		return replay(j, ended)
	}
	j = c.job
	defer func() {
		// The job ends here unless redis is out of reach, or the job is
		// not ours or no longer there: then the keys stay as they are.
		if errors.Is(err, ErrOutage) || errors.Is(err, ErrUsurped) || errors.Is(err, ErrJobGone) {
			return
		}
		why, keep := endMarker(res), j.Retain
		switch {
		case err != nil && ctx.Err() != nil:
			why, keep = "cancelled: "+context.Cause(ctx).Error(), endTTL(j)
		case err != nil:
			why = "failed: " + err.Error()
		}
		err = errors.Join(err, c.end(why, keep))
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
	if c.rebuild {
		if err := c.rebuildTotal(ctx); err != nil {
			return Result{}, err
		}
	}
	res = finish(j, c.total, time.Since(start))
	res.Compute, res.Duplicates, res.Mismatches, res.Rejected = c.compute, c.duplicates, c.mismatches, c.rejected
	res.RejectReasons, res.Disputes, res.DeadLetters, res.ByWorker, res.Builds = c.reasons, c.disputes, c.deadNotes, c.byWorker, c.builds
	res.Resumed, res.Shunned = resumed, c.shunnedList
	if len(c.outvoted) > 0 {
		res.Outvoted = c.outvoted
	}
	c.stats(&res)
	return res, j.checkSum(res)
}

// coordinator is the state of one Coordinate call.
type coordinator struct {
	client redis.UniversalClient
	job    Job
	keys   keys
	token  string
	r      *retrier
	poll   time.Duration
	o      CoordinateOptions

	// total is the exact merge of the accepted chunks' states; rebuild
	// says an accepted state was revoked (a later result disputed it), so
	// total is rebuilt from the accepted records at the end.
	total   partial.Partial
	rebuild bool
	chunk   []chunkState
	left    int
	again   []int // chunks that need another copy now (a dispute)

	outvoted    map[string]int
	shunned     map[string]bool
	shunnedList []string
	toShun      []string
	nextNote    time.Time

	cursor, deadCursor int64
	nextRenew          time.Time // when the keys' TTLs are renewed next

	compute                                    time.Duration
	duplicates, mismatches, rejected, disputes int
	reasons, deadNotes                         []string
	byWorker, builds                           map[string]int
}

// do runs f with c's outage retries, naming the job once in any error.
func (c *coordinator) do(ctx context.Context, what string, f func(context.Context) error) error {
	if err := c.r.do(ctx, what, f); err != nil {
		if ctx.Err() != nil {
			return c.stopped(ctx)
		}
		if errors.Is(err, ErrOutage) {
			return fmt.Errorf("job %s: %w; %d of %d chunks have results, kept for %v after redis comes back if it saved them (appendonly; a server without persistence lost them): resume with the same flags or -resume %s",
				c.job.ID, err, c.job.Chunks-c.left, c.job.Chunks, c.job.Retain, c.job.ID)
		}
		return errorf("job %s: %s: %w", c.job.ID, what, err)
	}
	return nil
}

func (c *coordinator) stopped(ctx context.Context) error {
	return errorf("job %s: %w (%d of %d chunks have results)", c.job.ID, context.Cause(ctx), c.job.Chunks-c.left, c.job.Chunks)
}

// endError turns a script's "end", "gone" or "usurped" reply into an error.
func (c *coordinator) endError(v []any) error {
	switch str(v, 0) {
	case "gone":
		return fmt.Errorf("%w: job %s (redis restarted without persistence, or the keys expired while this coordinator was stopped for more than %v); %d of %d chunks had results, none is left",
			ErrJobGone, c.job.ID, c.job.Retain, c.job.Chunks-c.left, c.job.Chunks)
	case "end":
		return fmt.Errorf("%w: job %s was ended by another coordinator: %s", ErrUsurped, c.job.ID, endWhy(str(v, 1)))
	case "usurped":
		return fmt.Errorf("%w: job %s", ErrUsurped, c.job.ID)
	}
	return errorf("job %s: unexpected reply %v", c.job.ID, v)
}

// note calls the Progress callback when it is time, and at the end.
func (c *coordinator) note(final bool) {
	if c.o.Progress == nil {
		return
	}
	every := c.o.ProgressEvery
	if every <= 0 {
		every = DefaultProgressEvery
	}
	if now := time.Now(); final || !now.Before(c.nextNote) {
		c.nextNote = now.Add(every)
		c.o.Progress(c.job.Chunks-c.left, c.job.Chunks)
	}
}

// DefaultProgressEvery is CoordinateOptions.ProgressEvery's default.
const DefaultProgressEvery = 5 * time.Second

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

// end deletes the job's keys but the end marker, which says why, for
// keep.
func (c *coordinator) end(why string, keep time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	if err := c.client.SRem(ctx, jobsKey, c.job.ID).Err(); err != nil {
		errs = append(errs, fmt.Errorf("srem %s: %w", jobsKey, err))
	}
	v, err := run(ctx, c.client, endScript, c.job.ID, c.token, why, max(keep, endTTL(c.job)).Milliseconds())
	if err != nil {
		errs = append(errs, err)
	} else if str(v, 0) != "ok" {
		errs = append(errs, fmt.Errorf("another coordinator holds the job"))
	}
	if err := errors.Join(errs...); err != nil {
		return errorf("end job %s: %w", c.job.ID, err)
	}
	return nil
}

// ErrEviction: the redis-server may evict keys under memory pressure.
var ErrEviction = errors.New("queue: redis-server evicts keys")

// checkEviction refuses a server whose maxmemory-policy may evict keys:
// every key of a job has a TTL, so even a volatile-* policy may drop one
// mid-job, and a lost key reads as a restart or an expiry. A server that
// does not answer CONFIG GET (a managed one, an ACL without it) is taken
// as it is.
func checkEviction(ctx context.Context, client redis.UniversalClient) error {
	v, err := client.ConfigGet(ctx, "maxmemory-policy").Result()
	if err != nil {
		return nil
	}
	if p := v["maxmemory-policy"]; p != "" && p != "noeviction" {
		return fmt.Errorf("%w under memory pressure (maxmemory-policy %s): a job's keys could vanish mid-run; set maxmemory-policy noeviction (redis-cli config set maxmemory-policy noeviction)", ErrEviction, p)
	}
	return nil
}

// endMarker is the end marker of a job done with res: "done", then a line
// of JSON holding res and its exact total (Result.Reduction's binary
// Partial, which res's JSON leaves out), for a late coordinator to report.
func endMarker(res Result) string {
	p, _ := res.Reduction.Partial.MarshalBinary()
	b, err := json.Marshal(struct {
		Result  Result `json:"result"`
		Partial []byte `json:"partial"`
	}{res, p})
	if err != nil {
		return "done"
	}
	return "done\n" + string(b)
}

// endWhy is an end marker's first line: "done", or why the job failed or
// was cancelled.
func endWhy(marker string) string {
	why, _, _ := strings.Cut(marker, "\n")
	return why
}

// finalEnd reports whether an end marker says the job ended for good,
// done or failed (a cancelled job may be run again).
func finalEnd(marker string) bool {
	return strings.HasPrefix(marker, "done") || strings.HasPrefix(marker, "failed")
}

// replay is what a coordinator that came after j ended returns: the
// outcome its end marker recorded, with Replayed set (the Result rebuilt
// from the exact total, bit for bit the one returned then), or the error
// it failed with.
func replay(j Job, marker string) (Result, error) {
	why, data, _ := strings.Cut(marker, "\n")
	if why != "done" {
		return Result{}, fmt.Errorf("%w: job %s had ended when this coordinator came, and is not run again: %s", ErrJobEnded, j.ID, why)
	}
	var out struct {
		Result  Result `json:"result"`
		Partial []byte `json:"partial"`
	}
	var p partial.Partial
	if err := json.Unmarshal([]byte(data), &out); err != nil {
		return Result{}, errorf("job %s ended done, and its recorded outcome is unreadable: %w", j.ID, err)
	}
	if err := p.UnmarshalBinary(out.Partial); err != nil {
		return Result{}, errorf("job %s ended done, and its recorded exact total is unreadable: %w", j.ID, err)
	}
	res := out.Result
	res.Reduction = finish(res.Job, p, res.Elapsed).Reduction
	if math.Float64bits(res.Reduction.Value) != math.Float64bits(res.Sum) {
		return Result{}, errorf("job %s ended done, and its recorded total gives %v where its result said %v", j.ID, res.Reduction.Value, res.Sum)
	}
	res.Replayed = true
	return res, nil
}
