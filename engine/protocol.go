package engine

// The worker protocol, all in one place: what a parent and its worker
// processes share, and in which order they write it.
//
// # Start
//
// The parent creates one segment (package shmem: header, blocks, tail),
// writes the control block, and starts each worker by re-executing a
// binary (its own, or Config.WorkerBinary) with
//
//	PISHM_SEGMENT=BACKING:FD   the inherited segment descriptor, e.g. "posix:4"
//	PISHM_WORKER=I             the worker's index, 0-based
//	PISHM_ATTEMPT=A            0 for the first process of worker I in this call
//	GOMAXPROCS=1               a worker runs one loop on one thread
//
// plus what a message-passing transport adds. The worker removes these
// from its environment at once, so that processes it starts are not
// mistaken for workers. It attaches (shmem.OpenFile checks the header),
// validates every field of the control block and the job it reads
// (control.check, jobSpec.check), stores its pid in its slot, marks it
// arrived, adds one to control.arrived and wakes the parent.
//
// # Calls
//
// Work comes in calls, numbered by control.gen (1, 2, ...). For call g the
// parent, while every worker sleeps, writes control.job, resets the slots
// (slot.reset), the accumulator and the chunk table, then stores gen = g
// (store-release: all of the above is visible to a worker that loads g)
// and wakes every worker on the gen futex. A one-shot Run makes exactly one
// call, numbered genOneShot, once every worker has arrived (the start
// barrier, so that timing excludes start-up); a Pool makes one per Reduce.
// With the caller's share (WithCallerShare), slot 0 has no process: the
// parent itself sums slot 0's share after it stores gen, through the same
// code a worker runs, and marks it done.
//
// A worker that sees gen = g and has not finished g (slot.doneGen != g)
// sums its share and publishes it by the mode, then stores doneGen = g
// (store-release: everything it published is visible to a parent that
// loads doneGen), adds one to control.finished and wakes the parent. A
// worker of call genOneShot then exits 0; a pool worker sleeps on gen
// again. A pool worker that died between calls is replaced before the next
// call is written.
// gen = genQuit tells pool workers to exit. The parent counts a call done
// when every slot's doneGen is g; control.finished is only what it sleeps
// on.
//
// # Waiting
//
// A waiter spins on its word for a while before it sleeps on the futex
// (control.spinNs for workers waiting for the next call; the parent's own
// window for the end of a call), as an OpenMP team does: a spin sees the
// word change in nanoseconds, a futex sleep costs a wake-up through the
// scheduler, tens of microseconds. Spinning is for when every spinner has
// a CPU of its own (see waitPolicy); otherwise the window is 0. The
// workers count alone for the next call's spin, the caller too for the
// end of a call (so that a caller which sums no share sleeps where the
// workers fill the CPUs). A spinner offers its CPU to any thread waiting
// for one every few microseconds (sem.SpinWhile): a thread woken on a
// spinner's CPU (the caller, a neighbour's) then waits microseconds, not
// the scheduler's next preemption. A waiter
// that goes to sleep says so first (control.genSleepers, wakeParentAt),
// and a waker makes the FUTEX_WAKE system call only when someone sleeps:
// both sides use sequentially consistent atomics, and the futex compares
// the word with the sleep, so either the waker sees the sleeper or the
// sleeper sees the new word. The parent says at what count of finished
// it wants waking (the count it read plus the workers yet to finish), so
// only the last worker to finish wakes it: woken by each, it would wake
// to find the call unfinished and sleep again.
//
// # Who takes part
//
// A call names how many slots take part, job.workers: slots [0, workers)
// (the caller's own among them with WithCallerShare). The shares are cut
// among them; each of the rest sits the call out: before it posts the
// call the parent stores gen in the slot's doneGen, so the worker, if it
// looks, finds the call done and waits for the next, and the parent's
// waits, which count doneGen, wait for it no longer. Its journal was
// reset with the others and stays empty. A worker's first sleep for a
// call is by its bit (1 << i%32, FUTEX_WAIT_BITSET), and the parent wakes
// the bits of the workers taking part only: one that sits out is not
// woken (a worker sharing its bit is, and finds nothing to do). A worker
// that dies while it sits a call out is replaced like one that died idle.
// A worker takes up call g only when g is ahead of its doneGen (newer):
// a doneGen one call ahead of the gen it read a moment before marks the
// next call sat out, not the old one undone.
// The parent picks how many take part (participants.go); the result does
// not depend on it.
//
// # Shares
//
// The terms are cut into pieces of job.grain terms, counted from the
// call's first term: the piece grid, which depends on the call alone (see
// Config.Grain). The Func is called on whole pieces only, and each piece's
// value is added exactly into the worker's accumulator (package superacc),
// so a call's result is the correctly rounded sum of its pieces' values
// whoever summed them, in whatever order, in whatever groups.
//
// schedStatic: worker i sums [lo, hi) = span(n, grain, workers, i), whole
// pieces, publishing every job.step terms (whole pieces too). schedDynamic:
// the terms are cut into job.chunks chunks of job.step terms (whole
// pieces), and the chunk table in the tail holds one word per
// chunk: 0 (free), the pid of the worker summing it, or chunkDone. A worker
// takes the next index from control.next (fetch-add), then claims the
// chunk by CAS 0 -> pid; when next runs past the end it sweeps the table
// for free chunks, so a chunk whose taker died between the fetch-add and
// the CAS is still done. It publishes each chunk, then marks it chunkDone.
//
// # The journal
//
// Every mode journals, in the worker's own slot, the exact total of what
// it has published (an accumulator per element; for Min and Max the
// extreme): two entries and a sequence word. An entry's k folds (one per
// element of a vector Func, one for a scalar) live in the tail, at
// segView.entryFolds. A worker writes
// the new total into the entry that is not active (plain stores: nothing
// else reads it), then stores seq+1 (store-release), which makes it the
// active one. A process killed at any instruction leaves the old entry or
// the new one active, never a mix. In the dynamic schedule the entry also
// holds the last chunk it covers, so the parent can tell whether a dead
// worker's claimed chunk made it into the journal (mark it done) or not
// (free it for another worker). A static share is redone from an empty
// journal; a dynamic one continues from the journal the dead worker left.
//
// # The modes
//
// slots journals only; the parent adds the journals. cas adds each
// publish's accumulators into the tail's accElems (one per element) with
// one atomic add per limb
// (superacc.AtomicMerge: integer adds commute, so no order is needed and
// nothing is lost), and Min and Max with a CAS loop on accElem.best. mutex
// adds every element under accum.lock, a pid-word lock the parent can take back from a
// dead holder. racy (scalar Funcs only) adds each publish's rounded value
// into element 0's best with a plain load, add and store, losing what
// interleaves. The
// message-passing modes send the journal's folds (each element's exact
// accumulator and its rounded value, one message per element) to the
// parent once, after the last publish; the parent combines the messages'
// accumulators and checks each against its worker's journal.
//
// # Faults
//
// When a worker dies, the parent reaps it and frees the lock if its pid
// holds it. If its slot says it finished the call, its result stands.
// Otherwise its share is redone by a fresh process (Config.Retries), and,
// for cas, mutex and racy, the accumulator is set aside: nobody can tell
// how much of the dead worker's last add landed, so the sum is rebuilt
// from the journals. The tests kill a worker at every fault() point below,
// for every mode and both schedules, and require the exact result or a
// clear error.

import (
	"fmt"
	"strings"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/transport"
)

// The environment a worker is started with. A process is a pishm worker
// exactly when envSegment is set.
const (
	envSegment = "PISHM_SEGMENT"
	envWorker  = "PISHM_WORKER"
	envAttempt = "PISHM_ATTEMPT"
)

// modeCode is a Mode as the segment carries it. The numbers are part of
// the protocol: never reuse one. The transports' come from package
// transport's list of kinds (transport.Code).
var modeCode = func() map[strategy]uint32 {
	m := map[strategy]uint32{modeSlots: 1, modeCAS: 2, modeMutex: 3, modeRacy: 4}
	for _, t := range transportModes {
		m[t] = transport.Code(string(t))
	}
	return m
}()

// modeByCode is modeCode inverted, for a worker's lookup at every call (a
// map's range would start at a random place, drawing a random number).
var modeByCode = func() []strategy {
	var m []strategy
	for s, c := range modeCode {
		if int(c) >= len(m) {
			m = append(m, make([]strategy, int(c)+1-len(m))...)
		}
		m[c] = s
	}
	return m
}()

func modeOf(code uint32) (strategy, bool) {
	if code == 0 || code >= uint32(len(modeByCode)) || modeByCode[code] == "" {
		return "", false
	}
	return modeByCode[code], true
}

// ErrProtocol is wrapped by a worker's error when the segment it attached
// to is not one it can work with: another protocol, another build, or a
// field out of bounds.
var ErrProtocol = segment.ErrMismatch

// modeList is the modes a user can ask for, for error messages.
func modeList() string {
	var s []string
	for _, m := range modes() {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

// checkJob validates the job a worker is about to run, and its ops.
func checkJob(j *segment.JobSpec, l segment.Layout, ops func(k int) []fold.Op) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: job "+format, append([]any{ErrProtocol}, args...)...)
	}
	mode, ok := modeOf(j.Mode)
	switch {
	case !ok || mode == modeGoroutines:
		return bad("mode code %d", j.Mode)
	case j.Workers < 1 || j.Workers > uint32(l.Workers):
		return bad("%d workers taking part (the segment has %d)", j.Workers, l.Workers)
	case j.K < 1 || j.K > uint32(l.MaxK):
		return bad("%d elements (room for %d)", j.K, l.MaxK)
	case j.K > 1 && mode == modeRacy:
		return bad("mode %s with %d elements", mode, j.K)
	case j.N == 0 || j.N > maxN || j.Offset > maxN-j.N:
		return bad("terms [%d, %d+%d)", j.Offset, j.Offset, j.N)
	case j.Grain == 0 || j.Grain > maxGrain || j.Step == 0 || j.Step%j.Grain != 0:
		return bad("step %d, grain %d", j.Step, j.Grain)
	case j.Dynamic && (j.Chunks != (j.N-1)/j.Step+1 || j.Chunks > uint64(l.MaxChunks)):
		return bad("%d chunks of %d for %d terms (table holds %d)", j.Chunks, j.Step, j.N, l.MaxChunks)
	case !j.Dynamic && j.Chunks != 0:
		return bad("static with %d chunks", j.Chunks)
	case j.Params > uint32(l.MaxParams):
		return bad("%d parameter bytes (room for %d)", j.Params, l.MaxParams)
	case mode.isTransport() && j.Dynamic:
		return bad("mode %s with dynamic chunks", mode)
	}
	for e, op := range ops(int(j.K)) {
		if op < fold.Sum || op > fold.Max {
			return bad("element %d: op %d", e, op)
		}
	}
	if _, err := segment.CBytes(j.Name[:]); err != nil {
		return bad("name: %v", err)
	}
	return nil
}
