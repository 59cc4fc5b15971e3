package engine

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/internal/superacc"
)

// result checks a finished call and reduces it.
func (c *crew) result(ctx context.Context, cs *callState) (callResult, error) {
	spec := cs.spec
	l := c.v.L
	res := callResult{elapsed: cs.elapsed, failures: cs.failures, workers: slices.Grow(spec.detail[:0], l.Workers)[:l.Workers]}
	ops := spec.job.ops
	k := len(ops)
	journals := slices.Grow(spec.total[:0], k)[:k]
	journals.Reset(ops)
	res.total = journals
	var terms uint64
	for i := range l.Workers {
		s := c.v.Slot(i)
		e, ef := s.Active(), c.v.ActiveFolds(i, k)
		journals.Merge(ef)
		terms += e.Terms
		res.publishes += e.Publishes
		wr := workerResult{Index: i, Terms: e.Terms, Elapsed: time.Duration(s.Elapsed.Load()), Partial: ef[0].Value()}
		if !spec.dynamic {
			lo, hi := span(spec.n, spec.grain, spec.participants, i)
			wr.Lo, wr.Hi = spec.offset+lo, spec.offset+hi
		}
		res.workers[i] = wr
	}
	if terms != spec.n {
		return res, fmt.Errorf("%w: the workers' journals cover %d terms, want %d", ErrProtocol, terms, spec.n)
	}
	if spec.dynamic {
		tbl := c.v.Chunks(int(c.v.Ctl.Job.Chunks))
		for k := range tbl {
			if v := tbl[k].Load(); v != segment.ChunkDone {
				return res, fmt.Errorf("%w: chunk %d of %d is not done (table word %#x)", ErrProtocol, k, len(tbl), v)
			}
		}
		if res.publishes != uint64(len(tbl)) {
			return res, fmt.Errorf("%w: the journals hold %d publishes for %d chunks", ErrProtocol, res.publishes, len(tbl))
		}
	}
	// A transport mode's result comes from the messages: each carries its
	// worker's exact result (Sum, and for Min and Max the extreme as
	// Partial), merged in worker order and rounded once. The journals are
	// the check: every message must carry exactly its worker's journal.
	var messages folds
	if c.col != nil {
		messages = make(folds, k)
		messages.Reset(ops)
		cctx, cancel := context.WithTimeout(ctx, collectGrace)
		msgs, err := c.col.Collect(cctx)
		cancel()
		if err != nil {
			return res, err
		}
		if len(msgs) != l.Workers*k {
			return res, fmt.Errorf("%w: %d messages for %d workers of %d elements", ErrProtocol, len(msgs), l.Workers, k)
		}
		for at, m := range msgs {
			i, e := at/k, at%k
			w := &res.workers[i]
			if m.Lo != w.Lo || m.Hi != w.Hi {
				return res, fmt.Errorf("%w: worker %d's message covers [%d,%d), its range is [%d,%d)", ErrProtocol, i, m.Lo, m.Hi, w.Lo, w.Hi)
			}
			jf := c.v.ActiveFolds(i, k)[e] // a copy, out of the segment
			jf.Acc.Normalize()
			if !m.Sum.Equal(&jf.Acc) || m.Sum.Count() != jf.Acc.Count() {
				return res, fmt.Errorf("%w: worker %d's message for element %d carries an exact sum (%d inputs, rounding to %v) that is not its journal's (%d inputs, rounding to %v)", ErrProtocol,
					i, e, m.Sum.Count(), m.Sum.Round(), jf.Acc.Count(), jf.Acc.Round())
			}
			if jv := jf.Value(); math.Float64bits(m.Partial) != math.Float64bits(jv) {
				return res, fmt.Errorf("%w: worker %d's message for element %d says %v, its journal %v", ErrProtocol, i, e, m.Partial, jv)
			}
			messages[e].Merge(&fold.Fold{Acc: m.Sum, Best: m.Partial, Op: ops[e]})
			w.Elapsed = time.Duration(m.ElapsedNs)
		}
	} else if spec.mode.isTransport() {
		return res, fmt.Errorf("%w: mode %s has no transport collector", ErrProtocol, spec.mode)
	}
	if owner := c.v.Acc.Lock.Owner(); owner != 0 {
		return res, fmt.Errorf("%w: the accumulator lock is still held by pid %d after every worker finished", ErrProtocol, owner)
	}
	// Every strategy's total is exact, so each equals the journals' to
	// the bit; a shared accumulator is read only when nothing tainted it.
	// The journals' total is the result; the others are its checks.
	switch {
	case spec.mode.isTransport():
		// The messages' exact results, each checked against its journal
		// above: their total is the journals'.
		for e := range messages {
			if got, want := messages[e].Value(), journals[e].Value(); math.Float64bits(got) != math.Float64bits(want) {
				return res, fmt.Errorf("%w: element %d of the messages adds up to %v, of the journals to %v", ErrProtocol, e, got, want)
			}
		}
		copy(journals, messages)
	case spec.mode == modeSlots:
	case cs.tainted:
		res.rebuilt = true
	case spec.mode == modeRacy:
		// The result is what the racy adds left, to show what they lost.
		racy := f64(c.v.AccElems(1)[0].Best.Load())
		res.lostSum = journals[0].Value() - racy
		journals[0] = fold.New(fold.Sum)
		journals[0].Add(racy)
	default:
		if n := publishesOf(spec, spec.participants); res.publishes != n {
			return res, fmt.Errorf("%w: the journals hold %d publishes, want %d", ErrProtocol, res.publishes, n)
		}
		shared := c.v.AccElems(k)
		for e := range shared {
			var got float64
			if ops[e] == fold.Sum {
				acc := superacc.Snapshot(&shared[e].Exact)
				got = acc.Round()
			} else {
				got = f64(shared[e].Best.Load())
			}
			if want := journals[e].Value(); math.Float64bits(got) != math.Float64bits(want) {
				return res, fmt.Errorf("%w: element %d of the shared accumulator holds %v, the journals %v", ErrProtocol, e, got, want)
			}
		}
	}
	return res, nil
}

// collectGrace bounds the wait for messages once every worker has exited.
const collectGrace = 5 * time.Second

// publishesOf is how many publishes a call takes in all.
func publishesOf(spec callSpec, workers int) uint64 {
	if spec.dynamic {
		return (spec.n-1)/spec.step + 1
	}
	var n uint64
	for i := range workers {
		lo, hi := span(spec.n, spec.grain, workers, i)
		n += (hi - lo + spec.step - 1) / spec.step
	}
	return n
}
