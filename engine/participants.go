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
// Func, what a term costs (the slowest worker's time per term of an even
// share, from the last call that succeeded), and cuts a call among as many workers as
// give each at least minShare of work by that estimate, from one to all:
// slots [0, p) take part and the rest sit the call out, unwoken (see
// "Who takes part" in protocol.go). A Func's first call, and every call
// of a one-shot run, use every worker. The bits do not depend on it: the
// pieces and their exact combine are the call's alone.
//
// The estimate is a Func's last call's, whatever its parameters: a call
// far costlier per term than the one before runs on fewer workers than it
// should, once, and teaches the pool its cost.

// A call long enough is also shared by dynamic chunks, not fixed
// ranges, unless its caller chose the schedule (WithDynamic, or a publish
// interval, which is the static schedule's) or the racy demo, whose lost
// adds depend on how often it publishes. Fixed ranges finish together
// only if every worker gets a CPU as often as the others; on a machine
// that runs more threads than it has CPUs, the scheduler's time slices
// (milliseconds) leave one worker behind, and its range is the call's
// time. With chunks the worker that has a CPU takes the work of the one
// that waits for one. Measured on 2 CPUs with one busy loop beside two
// workers, n=1e8 (3.5 ms a share when quiet): fixed ranges 13.4 ms,
// chunks 11.7 ms, two goroutines 12.6 ms; quiet, the same within noise.
// Short calls pay for the chunks' claims and publishes and gain nothing
// (n=1e5 and 1e6: chunks 13-36% slower, a share lasting less than one
// time slice), so only a call whose shares are expected to last
// dynamicShare or more goes by chunks.

// dynamicShare is the least expected work per worker for which a pool
// call whose schedule is the pool's to pick takes dynamic chunks (of
// defaultChunk: each then at least dynamicShare/chunksPerShare).
const dynamicShare = 2 * time.Millisecond

// minShare is the least work, by a Func's last cost per term, that a
// worker is given a share of a call for.
const minShare = 20 * time.Microsecond

// plan sets how many slots take part in spec, and, where spec leaves
// the schedule to the pool, whether it goes by dynamic chunks and their
// size.
func (c *crew) plan(spec *callSpec) {
	perTerm, ok := c.perTerm[spec.job.name]
	spec.participants = c.participants(spec.n, perTerm, ok)
	if !spec.pick || !ok || spec.participants < 2 {
		return
	}
	share := perTerm * float64(spec.n) / float64(spec.participants)
	if share < float64(dynamicShare) {
		return
	}
	chunk := wholePieces(defaultChunk(spec.n, spec.participants), spec.grain)
	if most := uint64(c.v.L.MaxChunks); (spec.n-1)/chunk+1 > most {
		chunk = wholePieces((spec.n-1)/most+1, spec.grain)
	}
	spec.dynamic, spec.step = true, chunk
}

// participants is how many slots take part in a call of n terms of a
// Func whose last cost per term was perTerm (known: ok): at least one
// (the caller's own with WithCallerShare), at most every worker.
func (c *crew) participants(n uint64, perTerm float64, ok bool) int {
	w := c.opt.workers
	if c.opt.oneShot || !ok || c.minShare <= 0 {
		return w
	}
	p := math.Ceil(perTerm * float64(n) / float64(c.minShare))
	if p >= float64(w) {
		return w
	}
	return max(int(p), 1)
}

// learn keeps what a term of spec's Func cost in a call that succeeded:
// the time of the slowest worker taking part, per term of an even share.
// With fixed ranges that is the slowest share's time per term; with
// chunks, where a worker short of CPU takes fewer terms in the same time,
// it is still what a share of the call cost, not a slowed worker's
// terms, which would make a term look many times dearer.
func (c *crew) learn(spec callSpec, workers []workerResult) {
	if c.opt.oneShot || spec.n == 0 {
		return
	}
	var slowest time.Duration
	for _, w := range workers {
		if w.Terms > 0 {
			slowest = max(slowest, w.Elapsed)
		}
	}
	perTerm := float64(slowest) * float64(spec.participants) / float64(spec.n)
	if perTerm > 0 {
		if c.perTerm == nil {
			c.perTerm = map[string]float64{}
		}
		c.perTerm[spec.job.name] = perTerm
	}
}
