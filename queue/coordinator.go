package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// CoordinateOptions adjusts Coordinate.
type CoordinateOptions struct {
	// Timeout bounds the whole job; 0 means none.
	Timeout time.Duration
	// Started, if set, is called once the chunks are queued and workers
	// can find the job.
	Started func(Job)
}

// keyTTL removes a job's keys if its coordinator dies without cleaning up
// (SIGKILL, power loss); the coordinator renews it while it runs.
const keyTTL = time.Minute

// pushBatch is how many chunk indices one RPUSH carries.
const pushBatch = 1024

// ErrJobExists is returned by Coordinate when the job's ID is taken.
var ErrJobExists = errors.New("queue: a job with this ID exists")

// Coordinate runs j on the workers that serve the redis-server client
// talks to: it queues j's chunks, gathers their results (the first result
// of a chunk wins; later ones are counted and dropped), requeues the chunks
// of workers whose heartbeat lapsed, and reduces the partials in chunk
// order, compensated, so the result is bit-identical to Local(ctx, j). It
// deletes every key it created before it returns, whatever happens.
func Coordinate(ctx context.Context, client *redis.Client, j Job, o CoordinateOptions) (res Result, err error) {
	j = j.withDefaults()
	if err := j.Validate(); err != nil {
		return Result{}, err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, fmt.Errorf("queue: job %s: timed out after %v", j.ID, o.Timeout))
		defer cancel()
	}
	k := keysOf(j.ID)
	ok, err := client.SetNX(ctx, k.job(), j.encode(), keyTTL).Result()
	if err != nil {
		return Result{}, fmt.Errorf("queue: set %s: %w", k.job(), err)
	}
	if !ok {
		return Result{}, fmt.Errorf("%w: %s", ErrJobExists, j.ID)
	}
	defer func() { err = errors.Join(err, cleanup(client, j.ID)) }()

	start := time.Now()
	for lo := 0; lo < j.Chunks; lo += pushBatch {
		args := make([]any, 0, pushBatch)
		for i := lo; i < min(j.Chunks, lo+pushBatch); i++ {
			args = append(args, strconv.Itoa(i))
		}
		if err := client.RPush(ctx, k.queue(), args...).Err(); err != nil {
			return Result{}, fmt.Errorf("queue: rpush %s: %w", k.queue(), err)
		}
	}
	if err := client.SAdd(ctx, jobsKey, j.ID).Err(); err != nil {
		return Result{}, fmt.Errorf("queue: sadd %s: %w", jobsKey, err)
	}
	c := &coordinator{
		client: client, job: j, keys: k,
		parts: make([]float64, j.Chunks), have: make([]bool, j.Chunks), left: j.Chunks,
		byWorker: map[string]int{},
	}
	if err := c.keepalive(ctx); err != nil {
		return Result{}, err
	}
	if o.Started != nil {
		o.Started(j)
	}
	if err := c.gather(ctx); err != nil {
		return Result{}, err
	}
	// The done marker: workers that poll see it before the keys go.
	if err := client.Set(ctx, k.done(), "1", keyTTL).Err(); err != nil {
		return Result{}, fmt.Errorf("queue: set %s: %w", k.done(), err)
	}
	res = finish(j, c.parts, time.Since(start))
	res.Compute, res.Requeues, res.Duplicates, res.Mismatches, res.Rejected = c.compute, c.requeues, c.duplicates, c.mismatches, c.rejected
	res.ByWorker = c.byWorker
	return res, nil
}

// coordinator is the state of one Coordinate call.
type coordinator struct {
	client *redis.Client
	job    Job
	keys   keys

	parts []float64
	have  []bool
	left  int

	compute                                    time.Duration
	requeues, duplicates, mismatches, rejected int
	byWorker                                   map[string]int
}

// gather takes results until every chunk has one, reaping dead workers'
// chunks every half heartbeat and renewing the keys' TTL.
func (c *coordinator) gather(ctx context.Context) error {
	reapEvery, keepEvery := c.job.Heartbeat/2, keyTTL/4
	nextReap, nextKeep := time.Now().Add(reapEvery), time.Now().Add(keepEvery)
	for c.left > 0 {
		if ctx.Err() != nil {
			return fmt.Errorf("queue: job %s: %w (%d of %d chunks have results)", c.job.ID, context.Cause(ctx), c.job.Chunks-c.left, c.job.Chunks)
		}
		now := time.Now()
		if !now.Before(nextReap) {
			if err := c.reap(ctx); err != nil {
				if ctx.Err() != nil {
					continue // the check above says why
				}
				return err
			}
			nextReap = now.Add(reapEvery)
		}
		if !now.Before(nextKeep) {
			if err := c.keepalive(ctx); err != nil {
				if ctx.Err() != nil {
					continue
				}
				return err
			}
			nextKeep = now.Add(keepEvery)
		}
		recs, err := c.pop(ctx, min(max(time.Until(nextReap), 10*time.Millisecond), time.Second))
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return err
		}
		for _, r := range recs {
			c.take(r)
		}
	}
	return nil
}

// pop waits up to wait for results and returns those that came.
func (c *coordinator) pop(ctx context.Context, wait time.Duration) ([][]byte, error) {
	q := c.keys.results()
	// BLPOP with a fractional timeout (the client's BLPop rounds to seconds).
	kv, err := c.client.Do(ctx, "blpop", q, seconds(wait)).StringSlice()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("queue: blpop %s: %w", q, err)
	}
	out := [][]byte{[]byte(kv[1])}
	more, err := c.client.LPopCount(ctx, q, 1024).Result()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("queue: lpop %s: %w", q, err)
	}
	for _, m := range more {
		out = append(out, []byte(m))
	}
	return out, nil
}

// take keeps the first result of each chunk.
func (c *coordinator) take(b []byte) {
	r, err := unmarshalRecord(b)
	if err != nil || r.Chunk >= uint64(c.job.Chunks) {
		c.rejected++
		return
	}
	if c.have[r.Chunk] {
		c.duplicates++
		if math.Float64bits(r.Sum) != math.Float64bits(c.parts[r.Chunk]) {
			c.mismatches++
		}
		return
	}
	c.have[r.Chunk], c.parts[r.Chunk] = true, r.Sum
	c.left--
	c.compute += r.Elapsed
	c.byWorker[r.Worker]++
}

// reap requeues the chunks of workers whose heartbeat has lapsed. When the
// queue and the results list are both empty it also requeues the chunks
// without a result that no live worker holds: the chunk of a worker that
// took it in the instant after being reaped and died before its next
// heartbeat, which is in no list a scan would look at.
func (c *coordinator) reap(ctx context.Context) error {
	k := c.keys
	procP, hbP := k.prefixes()
	v, err := reapScript.Run(ctx, c.client, []string{k.job(), k.queue(), k.workers(), k.results()}, procP, hbP).Slice()
	if err != nil {
		return fmt.Errorf("queue: reap: %w", err)
	}
	if len(v) != 4 {
		return fmt.Errorf("queue: reap: %d values, want 4", len(v))
	}
	moved, _ := v[0].(int64)
	qlen, _ := v[1].(int64)
	rlen, _ := v[2].(int64)
	c.requeues += int(moved)
	if qlen != 0 || rlen != 0 {
		return nil
	}
	held := make(map[int]bool)
	heldList, _ := v[3].([]any)
	for _, h := range heldList {
		if s, ok := h.(string); ok {
			if i, err := strconv.Atoi(s); err == nil {
				held[i] = true
			}
		}
	}
	var lost []any
	for i, ok := range c.have {
		if !ok && !held[i] {
			lost = append(lost, strconv.Itoa(i))
		}
	}
	if len(lost) == 0 {
		return nil
	}
	if err := c.client.RPush(ctx, k.queue(), lost...).Err(); err != nil {
		return fmt.Errorf("queue: rpush %s: %w", k.queue(), err)
	}
	c.requeues += len(lost)
	return nil
}

func (c *coordinator) keepalive(ctx context.Context) error {
	k := c.keys
	procP, _ := k.prefixes()
	err := keepaliveScript.Run(ctx, c.client, []string{k.job(), k.queue(), k.workers(), k.results(), k.done()}, keyTTL.Milliseconds(), procP).Err()
	if err != nil {
		return fmt.Errorf("queue: keepalive: %w", err)
	}
	// The set of live jobs (another cluster slot) expires with the last
	// coordinator that renews it.
	if err := c.client.PExpire(ctx, jobsKey, keyTTL).Err(); err != nil {
		return fmt.Errorf("queue: pexpire %s: %w", jobsKey, err)
	}
	return nil
}

// cleanup deletes every key of job id: the job's own in one atomic step,
// then any stray key that matches its prefix.
func cleanup(client *redis.Client, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	k := keysOf(id)
	procP, hbP := k.prefixes()
	var errs []error
	if err := client.SRem(ctx, jobsKey, id).Err(); err != nil {
		errs = append(errs, fmt.Errorf("srem %s: %w", jobsKey, err))
	}
	if err := cleanupScript.Run(ctx, client, []string{k.job(), k.queue(), k.workers(), k.results(), k.done()}, procP, hbP).Err(); err != nil {
		errs = append(errs, err)
	}
	var stray []string
	iter := client.Scan(ctx, 0, k.pattern(), 1000).Iterator()
	for iter.Next(ctx) {
		stray = append(stray, iter.Val())
	}
	if err := iter.Err(); err != nil {
		errs = append(errs, fmt.Errorf("scan %s: %w", k.pattern(), err))
	}
	if len(stray) > 0 {
		if err := client.Del(ctx, stray...).Err(); err != nil {
			errs = append(errs, fmt.Errorf("del %v: %w", stray, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("queue: clean up job %s: %w", id, err)
	}
	return nil
}

// seconds formats d for a blocking command's timeout.
func seconds(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
