package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pishm/pishm/engine/partial"
	"github.com/redis/go-redis/v9"
)

// claim makes this the job's coordinator, new or resumed, or returns the
// end marker of a job that already ended done or failed (ended). A
// coordinator that still holds the job is waited for up to two leases (it
// may be one that was just killed, whose presence has not lapsed yet).
func (c *coordinator) claim(ctx context.Context, mustExist bool) (resumed bool, ended string, err error) {
	k, j := c.keys, c.job
	if mustExist {
		var s string
		err := c.do(ctx, "get "+k.job(), func(ctx context.Context) error {
			var err error
			s, err = c.client.Get(ctx, k.job()).Result()
			return err
		})
		if errors.Is(err, redis.Nil) {
			if e, _ := c.client.Get(ctx, k.end()).Result(); finalEnd(e) {
				return false, e, nil
			}
			return false, "", fmt.Errorf("%w: %s (it ended, or its keys expired after %v without a coordinator)", ErrNoSuchJob, j.ID, j.Retain)
		}
		if err != nil {
			return false, "", err
		}
		if c.job, err = decodeJob(s); err != nil {
			return false, "", errorf("job %s: %w", j.ID, err)
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
			return false, "", err
		}
		switch str(v, 0) {
		case "ended":
			return false, str(v, 1), nil
		case "new":
			if mustExist {
				return false, "", fmt.Errorf("%w: %s", ErrNoSuchJob, j.ID)
			}
			return false, "", nil
		case "resume":
			old, err := decodeJob(str(v, 1))
			if err != nil {
				return false, "", errorf("job %s: %w", j.ID, err)
			}
			if !old.sameWork(j) {
				return false, "", errorf("job %s exists with other settings (%s): choose another ID", j.ID, str(v, 1))
			}
			c.job = old
			return true, "", nil
		case "busy":
			if time.Now().After(deadline) {
				return false, "", fmt.Errorf("%w: %s (its presence lapses %v after it stops)", ErrJobExists, j.ID, j.Lease)
			}
		default:
			return false, "", c.endError(v)
		}
		select {
		case <-ctx.Done():
			return false, "", c.stopped(ctx)
		case <-time.After(min(j.Lease/4, 250*time.Millisecond)):
		}
	}
}

// initial queues a new job's chunks, or reads a resumed job's results and
// requeues what is missing; then it announces the job to workers.
func (c *coordinator) initial(ctx context.Context, resumed bool) error {
	j := c.job
	c.total, c.chunk, c.left = partial.New(j.ops()...), make([]chunkState, j.Chunks), j.Chunks
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
func (c *coordinator) script(ctx context.Context, what string, s *luaScript, args ...any) error {
	var v []any
	if err := c.do(ctx, what, func(ctx context.Context) error {
		var err error
		v, err = run(ctx, c.client, s, c.job.ID, args...)
		return err
	}); err != nil {
		return err
	}
	if str(v, 0) != "ok" {
		return c.endError(v)
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
