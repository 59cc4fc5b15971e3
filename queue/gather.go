package queue

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

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
		return tickInfo{}, c.endError(v)
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
	issued := strs(v, 7)
	for k, r := range recs {
		iss := ""
		if k < len(issued) {
			iss = issued[k]
		}
		if err := c.take(ctx, r, iss, at+int64(k)); err != nil {
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
	if w, ok := strings.CutPrefix(d.Entry, "worker "); ok && c.o.Refused != nil {
		c.o.Refused(w, d.Reason)
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
