package engine

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/sem"
)

// sumShare sums participant i's share of the call spec (a worker process,
// or a pool's caller on slot 0) and publishes it by mode into slot i's
// journal, claiming dynamic chunks as owner, through pub (set up here;
// its journal then holds the share's total) and scratch (grown to k).
// lock, if set, takes the accumulator's lock in the mutex mode instead of
// Mutex.Lock.
func sumShare(v segment.View, i int, owner uint32, spec *segment.JobSpec, mode strategy, j job, lock func(*sem.Mutex) error, pub *publisher, scratch *Vector) error {
	s := v.Slot(i)
	s.State.Store(segment.SlotRunning)
	pub.init(mode, j.ops, v, i, v.Lane(i), lock)
	scratch.f = slices.Grow(scratch.f[:0], j.k())[:j.k()]
	if spec.Dynamic {
		tbl := v.Chunks(int(spec.Chunks))
		sumChunks(j, spec.Offset, spec.N, spec.Step, spec.Grain, tbl, &v.Ctl.Next, owner, &s.Progress, scratch, pub)
	} else {
		lo, hi := span(spec.N, spec.Grain, int(spec.Workers), i)
		sumRange(j, spec.Offset+lo, spec.Offset+hi, spec.Step, spec.Grain, &s.Progress, scratch, pub)
	}
	return pub.finish()
}

// finishShare marks slot i done with call g.
func finishShare(v segment.View, i int, g uint32, elapsed time.Duration) {
	s := v.Slot(i)
	s.Elapsed.Store(int64(elapsed))
	s.State.Store(segment.SlotDone)
	s.DoneGen.Store(g) // store-release: everything published before is visible
}

// piece adds the value of every piece of the grid in [a, b) into v (a and
// b are on the grid), counting each into progress, and stops early when
// the call is cancelled. A scalar Func's value goes to element 0; a
// vector Func adds into v itself.
func piece(j job, a, b, grain uint64, progress *atomic.Uint64, v *Vector) {
	for a < b {
		if j.cancelled != nil && j.cancelled() {
			return
		}
		e := min(b, a+grain)
		if j.vector() {
			callVector(j, a, e, v)
		} else {
			v.f[0].Add(callFunc(j, a, e))
		}
		progress.Add(e - a)
		a = e
	}
}

// sumRange reduces [lo, hi) in publishes of chunk terms (whole pieces).
// scratch holds each publish's folds.
func sumRange(j job, lo, hi, chunk, grain uint64, progress *atomic.Uint64, scratch *Vector, to sink) {
	for a := lo; a < hi && (j.cancelled == nil || !j.cancelled()); {
		b := hi
		if hi-a > chunk {
			b = a + chunk
		}
		scratch.f.Reset(j.ops)
		piece(j, a, b, grain, progress, scratch)
		fault("sum")
		to.publish(scratch.f, b-a, 0)
		a = b
	}
}

// sumChunks takes chunks of [base, base+n) from the table (see "Shares")
// until none is left, publishing each.
func sumChunks(j job, base, n, chunk, grain uint64, tbl segment.ChunkTable, next *atomic.Uint64, owner uint32,
	progress *atomic.Uint64, scratch *Vector, to sink) {
	for {
		c, ok := claimChunk(tbl, next, owner)
		if !ok || j.cancelled != nil && j.cancelled() {
			return
		}
		fault("claim")
		a := base + c*chunk
		b := min(base+n, a+chunk)
		scratch.f.Reset(j.ops)
		piece(j, a, b, grain, progress, scratch)
		fault("sum")
		to.publish(scratch.f, b-a, c)
		fault("journal")
		tbl[c].Store(segment.ChunkDone)
	}
}

// claimChunk takes a free chunk: the next index from the counter, or, once
// the counter has run past the end, any chunk still free.
func claimChunk(tbl segment.ChunkTable, next *atomic.Uint64, owner uint32) (uint64, bool) {
	k := uint64(len(tbl))
	for {
		c := next.Add(1) - 1
		if c >= k {
			break
		}
		fault("claim-next")
		if tbl[c].CompareAndSwap(0, owner) {
			return c, true
		}
	}
	for c := range tbl {
		if tbl[c].Load() == 0 && tbl[c].CompareAndSwap(0, owner) {
			return uint64(c), true
		}
	}
	return 0, false
}
