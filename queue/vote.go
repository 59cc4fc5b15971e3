package queue

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/partial"
	"github.com/redis/go-redis/v9"
)

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
	p       partial.Partial
	rec     record
	at      int64
	workers []string
}

// digestOf names an exact state by the hash of its canonical binary form.
func digestOf(p partial.Partial) [32]byte {
	b, _ := p.MarshalBinary()
	return sha256.Sum256(b)
}

// maxReasons bounds the rejection reasons kept for the report.
const maxReasons = 5

// take checks one record (at index at of the results list; issued is
// what the job's scripts recorded of the lease it names) and counts it as
// a vote for its chunk's state: the state that reaches the votes it needs
// (Job.Redundancy, and at least two once the chunk is disputed) is
// accepted and merged into the total, and the workers that sent another
// are outvoted. A record that answers no lease issued for its chunk to
// its worker, or lacks the job key's HMAC, counts for nothing.
func (c *coordinator) take(ctx context.Context, s, issued string, at int64) error {
	j := c.job
	r, p, err := parseRecord(j, s)
	switch {
	case err != nil:
	case issued != issuedTo(r):
		err = fmt.Errorf("chunk %d: no lease %q of this job was issued for it to worker %q: not sent through the queue", r.Chunk, r.Lease, r.Worker)
	case c.o.Key != nil && !authentic(c.o.Key, r):
		err = fmt.Errorf("chunk %d: not signed with the job key (worker %q)", r.Chunk, r.Worker)
	}
	if err == nil {
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
		return nil, errorf("job %s: the accepted record %d: %v", c.job.ID, at, err)
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
	c.total = partial.New(c.job.ops()...)
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
				return errorf("job %s: chunk %d's accepted record changed in redis (%v)", c.job.ID, lo+k, err)
			}
			c.total.Merge(p)
		}
	}
	return nil
}
