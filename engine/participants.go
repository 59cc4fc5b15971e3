package engine

import (
	"math"
	"time"
)

// A pool call's cost has a part that does not shrink with its size: each
// worker that takes part is woken (a system call, and tens of
// microseconds on an idle virtual CPU), needs a CPU, and wakes the caller
// or is waited for. Below some size, one worker summing the whole call
// costs less than two summing half each. So a pool learns, for each
// Func, what a term costs (the slowest share's time per term, from the
// last call that succeeded), and cuts a call among as many workers as
// give each at least minShare of work by that estimate, from one to all:
// slots [0, p) take part and the rest sit the call out, unwoken (see
// "Who takes part" in protocol.go). A Func's first call, and every call
// of a one-shot run, use every worker. The bits do not depend on it: the
// pieces and their exact combine are the call's alone.
//
// The estimate is a Func's last call's, whatever its parameters: a call
// far costlier per term than the one before runs on fewer workers than it
// should, once, and teaches the pool its cost.

// minShare is the least work, by a Func's last cost per term, that a
// worker is given a share of a call for.
const minShare = 20 * time.Microsecond

// participants is how many slots take part in spec: at least one (the
// caller's own with WithCallerShare), at most every worker.
func (c *crew) participants(spec callSpec) int {
	w := c.opt.workers
	perTerm, ok := c.perTerm[spec.job.name]
	if c.opt.oneShot || !ok || c.minShare <= 0 {
		return w
	}
	p := math.Ceil(perTerm * float64(spec.n) / float64(c.minShare))
	if p >= float64(w) {
		return w
	}
	return max(int(p), 1)
}

// learn keeps what a term of spec's Func cost in a call that succeeded:
// the slowest share's time per term.
func (c *crew) learn(spec callSpec, workers []workerResult) {
	if c.opt.oneShot {
		return
	}
	var perTerm float64
	for _, w := range workers {
		if w.Terms > 0 {
			perTerm = max(perTerm, float64(w.Elapsed)/float64(w.Terms))
		}
	}
	if perTerm > 0 {
		if c.perTerm == nil {
			c.perTerm = map[string]float64{}
		}
		c.perTerm[spec.job.name] = perTerm
	}
}
