package queue

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/engine"
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
// have no result, checks every result (for the pi series against its
// chunk's closed-form bounds), and accepts a chunk's exact state once
// Job.Redundancy results agree bit for bit; with Redundancy 1 the first
// valid one is taken, and a later one that differs puts the chunk to
// another run, which settles it. A third distinct value fails the job. The
// accepted states are merged exactly and rounded once, so the result is
// bit-identical to Local(ctx, j) and to engine.Reduce of the job's Func on
// one machine. A pi sum that fails the exact check (SumRelTol) is returned
// with ErrInexact.
//
// Whenever the job ends (done, failed, cancelled, timed out) Coordinate
// deletes its keys and leaves only the end marker, which expires. When
// redis stays unreachable beyond the outage window it returns ErrOutage
// and the keys stay, for a resume.
func Coordinate(ctx context.Context, client redis.UniversalClient, j Job, o CoordinateOptions) (res Result, err error) {
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	if err := registered(j); err != nil && !o.Resume {
		return Result{}, fmt.Errorf("%w: %v", ErrNotRegistered, err)
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
	c := &coordinator{client: client, job: j, keys: keysOf(j.ID), token: randomID(), r: &retrier{window: o.Outage}, poll: o.Poll, o: o}
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
	if j.IsPi() && (math.Abs(res.SumRelError) > SumRelTol || math.IsNaN(res.SumRelError)) {
		return res, fmt.Errorf("%w: job %s: S_n %.17g, exact %.17g: relative error %.3g is beyond %g",
			ErrInexact, j.ID, res.Sum, res.SumExact, res.SumRelError, SumRelTol)
	}
	return res, nil
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
	total   engine.Partial
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

// chunkState is what the coordinator knows of one chunk: a few words once
// it is accepted (no partial: it is merged into the total), and the
// results so far while it waits for enough equal ones.
type chunkState struct {
	have     bool     // accepted: merged into total
	disputed bool     // two results differ: another decides
	digest   [32]byte // of the accepted state
	at       int64    // index of the accepted record in the results list
	pending  *ballot  // the results so far, until one state has the votes
}

// ballot is the distinct states sent for one chunk, with who sent them.
type ballot struct {
	states []*candidate
}

type candidate struct {
	digest  [32]byte
	p       engine.Partial
	rec     record
	at      int64
	workers []string
}

// digestOf names an exact state by the hash of its canonical binary form.
func digestOf(p engine.Partial) [32]byte {
	b, _ := p.MarshalBinary()
	return sha256.Sum256(b)
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
	c.total, c.chunk, c.left = engine.NewPartial(j.ops()...), make([]chunkState, j.Chunks), j.Chunks
	c.byWorker, c.builds, c.outvoted, c.shunned = map[string]int{}, map[string]int{}, map[string]int{}, map[string]bool{}
	if !resumed {
		// Redundancy k queues each chunk k times in a row, so that its
		// copies run at once on distinct workers.
		for lo := 0; lo < j.Chunks; lo += pushBatch / j.Redundancy {
			args := []any{c.token}
			for i := lo; i < min(j.Chunks, lo+pushBatch/j.Redundancy); i++ {
				for range j.Redundancy {
					args = append(args, strconv.Itoa(i))
				}
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
		c.note(c.left == 0)
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
	at := c.cursor
	c.cursor += int64(len(recs))
	c.deadCursor += int64(len(dead))
	for _, d := range dead {
		if err := c.deadLetter(d); err != nil {
			return tickInfo{}, err
		}
	}
	for k, r := range recs {
		if err := c.take(ctx, r, at+int64(k)); err != nil {
			return tickInfo{}, err
		}
	}
	if err := c.settle(ctx); err != nil {
		return tickInfo{}, err
	}
	more := c.cursor < num(v, 3) || c.deadCursor < num(v, 6)
	return tickInfo{got: len(recs), more: more, queue: num(v, 4), leases: num(v, 5)}, nil
}

// settle shuns the workers outvoted ShunAfter times and queues the copies
// that disputes asked for.
func (c *coordinator) settle(ctx context.Context) error {
	for _, w := range c.toShun {
		why := fmt.Sprintf("shunned by the coordinator: outvoted on %d chunks", c.outvoted[w])
		if err := c.script(ctx, "shun "+w, banScript, w, why, ""); err != nil {
			return err
		}
	}
	c.toShun = c.toShun[:0]
	if len(c.again) > 0 {
		args := []any{c.token}
		for _, i := range c.again {
			args = append(args, strconv.Itoa(i))
		}
		c.again = c.again[:0]
		return c.script(ctx, "requeue", requeueScript, args...)
	}
	return nil
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
	if len(c.deadNotes) < 100 {
		if strings.HasPrefix(d.Entry, "worker ") {
			c.deadNotes = append(c.deadNotes, fmt.Sprintf("%s refused the job: %s", d.Entry, d.Reason))
		} else {
			c.deadNotes = append(c.deadNotes, fmt.Sprintf("%q: %s (found by worker %s)", d.Entry, d.Reason, d.Worker))
		}
	}
	return nil
}

// take checks one record (at index at of the results list) and counts it
// as a vote for its chunk's state: the state that reaches the votes it
// needs (Job.Redundancy, and at least two once the chunk is disputed) is
// accepted and merged into the total, and the workers that sent another
// are outvoted.
func (c *coordinator) take(ctx context.Context, s string, at int64) error {
	j := c.job
	r, p, err := parseRecord(j, s)
	if err == nil && j.IsPi() {
		if why := j.checkChunk(int(r.Chunk), p.Value()); why != "" {
			err = errors.New(why)
		}
	}
	if err == nil && c.shunned[r.Worker] {
		err = fmt.Errorf("chunk %d: the worker is shunned", r.Chunk)
	}
	if err != nil {
		c.reject(err, r.Worker)
		return nil
	}
	i, d := int(r.Chunk), digestOf(p)
	st := &c.chunk[i]
	c.builds[r.Build]++
	if st.have {
		c.duplicates++
		if d == st.digest {
			return nil
		}
		c.mismatches++
		if j.Redundancy > 1 {
			// Redundancy equal states outvote a late one.
			c.outvote(r.Worker)
			return nil
		}
		// One result was taken; another differs: the accepted one becomes
		// a vote again, and another run decides.
		old, err := c.reread(ctx, st.at)
		if err != nil {
			return err
		}
		c.disputes++
		st.have, st.disputed = false, true
		c.left++
		c.rebuild = true
		c.compute -= time.Duration(old.rec.Elapsed)
		if c.byWorker[old.rec.Worker]--; c.byWorker[old.rec.Worker] == 0 {
			delete(c.byWorker, old.rec.Worker)
		}
		st.pending = &ballot{states: []*candidate{old}}
	}
	if st.pending == nil {
		st.pending = &ballot{}
	}
	b := st.pending
	var cand *candidate
	for _, x := range b.states {
		if x.digest == d {
			cand = x
		}
		if slices.Contains(x.workers, r.Worker) && j.Redundancy > 1 {
			// One worker's second result for a chunk (a retry after a
			// reclaim) is no second vote.
			c.duplicates++
			return nil
		}
	}
	if cand == nil {
		cand = &candidate{digest: d, p: p, rec: r, at: at}
		b.states = append(b.states, cand)
	}
	cand.workers = append(cand.workers, r.Worker)
	if len(b.states) > 1 && !st.disputed {
		st.disputed = true
		c.mismatches++
		c.disputes++
	}
	need := j.Redundancy
	if st.disputed {
		need = max(need, 2)
	}
	votes := 0
	for _, x := range b.states {
		votes += len(x.workers)
	}
	switch {
	case len(cand.workers) >= need:
		c.accept(i, cand)
		for _, x := range b.states {
			if x != cand {
				for _, w := range x.workers {
					c.outvote(w)
				}
			}
		}
		st.pending = nil
	case len(b.states) >= 3:
		var who []string
		for _, x := range b.states {
			who = append(who, fmt.Sprintf("%s (value %016x) from %s (%s)", x.p, math.Float64bits(x.p.Value()), strings.Join(x.workers, ", "), x.rec.Build))
		}
		return fmt.Errorf("%w: job %s: chunk %d: %v", ErrDisagree, j.ID, i, who)
	case st.disputed && votes >= need:
		// Every copy asked for has come and none has the votes: one more.
		c.again = append(c.again, i)
	}
	return nil
}

func (c *coordinator) reject(err error, worker string) {
	c.rejected++
	if len(c.reasons) < maxReasons {
		c.reasons = append(c.reasons, fmt.Sprintf("%v (worker %q)", err, worker))
	}
}

// outvote counts a result of w that lost, and shuns w at ShunAfter.
func (c *coordinator) outvote(w string) {
	c.outvoted[w]++
	if c.outvoted[w] >= ShunAfter && !c.shunned[w] {
		c.shunned[w] = true
		c.shunnedList = append(c.shunnedList, w)
		c.toShun = append(c.toShun, w)
	}
}

// reread fetches the record at index at of the results list.
func (c *coordinator) reread(ctx context.Context, at int64) (*candidate, error) {
	var s string
	err := c.do(ctx, "lindex "+c.keys.results(), func(ctx context.Context) error {
		var err error
		s, err = c.client.LIndex(ctx, c.keys.results(), at).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	r, p, err := parseRecord(c.job, s)
	if err != nil {
		return nil, fmt.Errorf("queue: job %s: the accepted record %d: %v", c.job.ID, at, err)
	}
	return &candidate{digest: digestOf(p), p: p, rec: r, at: at, workers: []string{r.Worker}}, nil
}

func (c *coordinator) accept(i int, x *candidate) {
	st := &c.chunk[i]
	st.have, st.digest, st.at = true, x.digest, x.at
	c.total.Merge(x.p) // parseRecord checked its op
	c.left--
	c.compute += time.Duration(x.rec.Elapsed)
	c.byWorker[x.rec.Worker]++
}

// rebuildTotal merges the accepted records again, read back from redis,
// after a dispute revoked one that was merged.
func (c *coordinator) rebuildTotal(ctx context.Context) error {
	c.total = engine.NewPartial(c.job.ops()...)
	for lo := 0; lo < len(c.chunk); lo += 1000 {
		var cmds []*redis.StringCmd
		err := c.do(ctx, "read accepted results", func(ctx context.Context) error {
			p := c.client.Pipeline()
			cmds = cmds[:0]
			for i := lo; i < min(len(c.chunk), lo+1000); i++ {
				cmds = append(cmds, p.LIndex(ctx, c.keys.results(), c.chunk[i].at))
			}
			_, err := p.Exec(ctx)
			return err
		})
		if err != nil {
			return err
		}
		for k, cmd := range cmds {
			_, p, err := parseRecord(c.job, cmd.Val())
			if err != nil || digestOf(p) != c.chunk[lo+k].digest {
				return fmt.Errorf("queue: job %s: chunk %d's accepted record changed in redis (%v)", c.job.ID, lo+k, err)
			}
			c.total.Merge(p)
		}
	}
	return nil
}

// requeueMissing queues again every chunk without an accepted result, as
// many copies as its votes lack.
func (c *coordinator) requeueMissing(ctx context.Context) error {
	args := []any{c.token}
	for i := range c.chunk {
		st := &c.chunk[i]
		if !st.have {
			need, best := c.job.Redundancy, 0
			if st.disputed {
				need = max(need, 2)
			}
			if st.pending != nil {
				for _, x := range st.pending.states {
					best = max(best, len(x.workers))
				}
			}
			for range max(1, need-best) {
				args = append(args, strconv.Itoa(i))
			}
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
