package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
)

// bitsCall makes a pool call of repro-sin that must give want's bits.
func bitsCall(t *testing.T, p *Pool, n uint64, want float64) Result {
	t.Helper()
	r, err := p.Reduce(context.Background(), "repro-sin", n)
	if err != nil || math.Float64bits(r.Value) != math.Float64bits(want) {
		t.Fatalf("n=%d: %v, %v; want %v", n, r.Value, err, want)
	}
	return r
}

// TestPoolFewerTakePart: a call that the pool gives fewer workers than it
// has (here, one slot: the pool is told that a share is worth an hour)
// gives the same bits in every mode and schedule, with and without the
// caller's share; the first slot sums every term; the workers that sit it
// out are not woken (a wake-up would show as a switch of the worker's
// main thread, the one that sleeps for calls: it stays below one per two
// calls, where woken it switches at every call; the runtime's monitor
// thread wakes on its own, and is not counted); and a call given every
// worker again uses them.
func TestPoolFewerTakePart(t *testing.T) {
	checkClean(t)
	const n, calls = 20_003, 40
	want := reproWant("repro-sin", n)
	for _, caller := range []bool{false, true} {
		for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
			for _, sched := range []Schedule{Static, Dynamic} {
				t.Run(fmt.Sprintf("caller=%v/mode=%s/sched=%s", caller, mode, sched), func(t *testing.T) {
					p := newTestPool(t, WithWorkers(3), WithMode(mode), WithSchedule(sched), WithCallerShare(caller), WithWaitPolicy(WaitPassive))
					r := bitsCall(t, p, n, want) // a Func's first call: every worker
					if sched == Static {
						for i, w := range r.detail {
							if w.Terms == 0 {
								t.Fatalf("first call: slot %d summed nothing", i)
							}
						}
					}
					p.c.minShare = time.Hour
					sitter := p.pids()[2]
					before := switches(t, sitter)[strconv.Itoa(sitter)]
					for range calls {
						r = bitsCall(t, p, n, want)
						if r.detail[0].Terms != n {
							t.Fatalf("one slot taking part: slot 0 summed %d terms of %d", r.detail[0].Terms, n)
						}
					}
					if s := switches(t, sitter)[strconv.Itoa(sitter)] - before; s >= calls/2 {
						t.Errorf("worker 2, sitting %d calls out, went to sleep %d times", calls, s)
					}
					p.c.minShare = 0
					r = bitsCall(t, p, n, want)
					if sched == Static && r.detail[2].Terms == 0 {
						t.Errorf("every worker taking part again: slot 2 summed nothing")
					}
				})
			}
		}
	}
}

// TestPoolFewerKillMatrix is TestPoolKillMatrixTwoCalls for calls that one
// worker of three takes: a SIGKILL at every fault point of its call, with
// no retry left or the retry killed too; the call is exact or fails with
// a clear error, and the next ones, one worker's and every worker's, are
// exact on live workers.
func TestPoolFewerKillMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	checkClean(t)
	const n = 200_003
	want := reproWant("repro-sin", n)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		for _, sched := range []Schedule{Static, Dynamic} {
			for _, pt := range faultPoints {
				if pt.name == "attach" || pt.name == "arrived" || !passes(mode, sched == Dynamic, pt.name) {
					continue
				}
				for _, kill := range []struct {
					name    string
					retries int
					env     string // in call 2 only: the first teaches the pool the cost
				}{
					{"no-retries", -1, fmt.Sprintf("*:%s:1:1:2", pt.name)},
					{"retry-killed-too", 1, fmt.Sprintf("*:%s:1:2:2", pt.name)},
				} {
					t.Run(fmt.Sprintf("mode=%s/sched=%s/point=%s/%s", mode, sched, pt.name, kill.name), func(t *testing.T) {
						t.Setenv("PISHM_TEST_KILL", kill.env)
						p := newTestPool(t, WithWorkers(3), WithMode(mode), WithSchedule(sched), stepOf(sched, 9_973), WithRetries(kill.retries))
						bitsCall(t, p, n, want)
						p.c.minShare = time.Hour
						r, err := p.Reduce(context.Background(), "repro-sin", n)
						died := len(r.Failures)
						switch {
						case err == nil:
							if math.Float64bits(r.Value) != math.Float64bits(want) {
								t.Fatalf("call 2: %v, want %v: a wrong sum without an error", r.Value, want)
							}
						case !errors.Is(err, ErrWorkerDied) || !strings.Contains(err.Error(), "signal: killed") || strings.Contains(err.Error(), "\n"):
							t.Fatalf("call 2: err = %q, want a worker killed, on one line", err)
						default:
							died++
						}
						died += len(bitsCall(t, p, n, want).Failures)
						if died == 0 {
							t.Fatalf("no worker died: the kill point was not reached")
						}
						p.c.minShare = 0
						bitsCall(t, p, n, want)
						for i, pid := range p.pids() {
							if pid == 0 || syscall.Kill(pid, 0) != nil {
								t.Fatalf("worker %d: pid %d is not live (%v)", i, pid, p.pids())
							}
						}
					})
				}
			}
		}
	}
}

// TestPoolSitterDies: a worker killed while it sits a call out is
// replaced during the call, as one that died idle; the call, which it had
// no part in, is exact, and so is the next, every worker taking part. The
// call's one worker waits in test-gated until the test has seen the
// replacement, so that the death falls inside the call however slow the
// machine.
func TestPoolSitterDies(t *testing.T) {
	checkClean(t)
	p := newTestPool(t, WithWorkers(3))
	const n = 400
	open := WithParams([]byte(t.TempDir())) // a path that exists: no wait
	gate := filepath.Join(t.TempDir(), "gate")
	t.Cleanup(func() { os.WriteFile(gate, nil, 0o600) }) // a worker left waiting goes on
	if r, err := p.Reduce(context.Background(), "test-gated", n, open); err != nil || r.Value != n {
		t.Fatalf("first call: %v, %v", r.Value, err)
	}
	p.c.minShare = time.Hour
	victim := p.pids()[2]
	type out struct {
		r   Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		r, err := p.Reduce(context.Background(), "test-gated", n, WithParams([]byte(gate))) // worker 0 alone
		done <- out{r, err}
	}()
	// waitFor polls cond (the pids are read at once, also during a call)
	// while the call, held at the gate, cannot end by itself.
	waitFor := func(what string, cond func() bool) {
		for !cond() {
			select {
			case o := <-done:
				t.Fatalf("the call ended (%v, %v) before %s", o.r.Value, o.err, what)
			case <-time.After(50 * time.Microsecond):
			}
		}
	}
	waitFor("worker 0 ran it", func() bool { return p.c.v.Slot(0).State.Load() == segment.SlotRunning })
	syscall.Kill(victim, syscall.SIGKILL)
	waitFor("worker 2 was replaced", func() bool { pid := p.pids()[2]; return pid != 0 && pid != victim })
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil || o.r.Value != n {
		t.Fatalf("the call worker 2 sat out: %v, %v; want %d", o.r.Value, o.err, n)
	}
	p.c.minShare = 0
	r, err := p.Reduce(context.Background(), "test-gated", n, open)
	if err != nil || r.Value != n {
		t.Fatalf("the next call: %v, %v; want %d", r.Value, err, n)
	}
	if got := append(o.r.Failures, r.Failures...); len(got) != 1 || got[0].Worker != 2 {
		t.Errorf("failures reported: %v; want worker 2's death, once", got)
	}
	if pid := p.pids()[2]; pid == victim || syscall.Kill(pid, 0) != nil {
		t.Errorf("worker 2 is pid %d (killed: %d), not a live replacement", pid, victim)
	}
}

func init() {
	// test-gated: each piece waits until the file its parameters name
	// exists (at most a minute, so that no worker outlives a failed
	// test by long).
	Register("test-gated", func(path []byte, lo, hi uint64) float64 {
		for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(time.Millisecond) {
			if _, err := os.Stat(string(path)); err == nil {
				break
			}
		}
		return float64(hi - lo)
	}, []Op{Sum})
}

// TestNewerGen pins when a worker takes up a call: a slot marked as
// sitting out the next call (its doneGen one ahead of the gen the worker
// read a moment before) must not run the old call again. That race ran a
// call twice beside the worker taking part, on the new call's job, and
// left a chunk claimed and unsummed (TestPoolFewerKillMatrix caught it,
// one run in about 20 under load).
func TestNewerGen(t *testing.T) {
	for _, c := range []struct {
		g, done uint32
		want    bool
	}{
		{1, 0, true},                    // a pool's first call
		{5, 4, true},                    // the next call
		{5, 5, false},                   // done, or sitting it out
		{4, 5, false},                   // a stale read: the slot sits out call 5
		{0, 0, false},                   // no call yet
		{genOneShot, 0, true},           // a one-shot run's call
		{genOneShot, genOneShot, false}, // done
		{2, 0xFFFFFFFD, true},           // counting on past the top
	} {
		if got := newer(c.g, c.done); got != c.want {
			t.Errorf("newer(%d, %d) = %v, want %v", c.g, c.done, got, c.want)
		}
	}
}

// TestPoolGensWrap: a pool that has made 2^32-3 calls goes on past the
// gens that mean a one-shot call and quit, with the same workers, each
// call exact, every worker or one taking part.
func TestPoolGensWrap(t *testing.T) {
	checkClean(t)
	p := newTestPool(t, WithWorkers(2))
	poolExact(t, p, 100_003)
	pids := p.pids()
	// As after 2^32-4 calls: gen, then every slot's doneGen (workers
	// compare the two as gens close to each other, as they always are).
	const last = genOneShot - 3
	p.c.v.Ctl.Gen.Store(last)
	for i := range p.c.opt.workers {
		p.c.v.Slot(i).DoneGen.Store(last)
	}
	p.c.gen = last
	for i := range 6 {
		if i == 3 {
			p.c.minShare = time.Hour // one worker taking part from here
		}
		poolExact(t, p, 100_003)
	}
	if p.c.gen > 10 {
		t.Errorf("gen %d: the count did not start again", p.c.gen)
	}
	for i, pid := range p.pids() {
		if pid != pids[i] {
			t.Errorf("worker %d is pid %d, was %d: it exited or died past the top gen", i, pid, pids[i])
		}
	}
}

func init() {
	// test-sleepy: every piece of the grid takes at least a millisecond,
	// whatever the machine, so its shares' length has a floor.
	Register("test-sleepy", func(_ []byte, lo, hi uint64) float64 {
		time.Sleep(time.Millisecond)
		return float64(hi - lo)
	}, []Op{Sum})
}

// TestPoolPicksSchedule: a pool call whose schedule is left to the pool
// goes by dynamic chunks when its Func's last call says its shares last
// dynamicShare or more (test-sleepy: 8 pieces of at least 1 ms each per
// worker), and by fixed ranges on a Func's first call, for a short call,
// for one worker, when the caller chose the schedule or a publish
// interval, or for the racy demo; the chunks fit the pool's table; Result says what ran, and
// the sum is exact every time.
func TestPoolPicksSchedule(t *testing.T) {
	checkClean(t)
	const n = 16 * 512 // 16 pieces of the default grain
	call := func(t *testing.T, p *Pool, sched Schedule, chunk uint64, opts ...CallOption) {
		t.Helper()
		r, err := p.Reduce(context.Background(), "test-sleepy", n, opts...)
		if err != nil || r.Value != n {
			t.Fatalf("%v, %v; want %d", r.Value, err, n)
		}
		if r.Sched != string(sched) || r.Chunk != chunk || (sched == Static) != (r.Publish > 0) {
			t.Fatalf("ran %s, chunk %d, publish %d; want %s, chunk %d", r.Sched, r.Chunk, r.Publish, sched, chunk)
		}
	}
	p := newTestPool(t)
	call(t, p, Static, 0) // no estimate yet
	call(t, p, Dynamic, 512)
	call(t, p, Static, 0, WithSchedule(Static))
	call(t, p, Static, 0, WithPublish(1024))
	call(t, p, Dynamic, 1024, WithDynamic(1024))
	racy := setCall(func(s *settings) { s.lab.Mode, s.lab.AllowRacy = string(modeRacy), true })
	if r, err := p.Reduce(context.Background(), "test-sleepy", n, racy); err != nil || r.Sched != string(Static) || r.Value+r.LostSum != n {
		t.Fatalf("racy: %v (lost %v) by %s, %v; want %d by static", r.Value, r.LostSum, r.Sched, err, n)
	}
	call(t, p, Dynamic, 512)
	p.c.minShare = time.Hour // one worker takes the call: nothing to balance
	call(t, p, Static, 0)
	p.c.minShare = minShare
	p.c.perTerm["test-sleepy"] = 1e-3 // a nanosecond per thousand terms
	call(t, p, Static, 0)
	call(t, p, Dynamic, 512)

	small := newTestPool(t, WithMaxChunks(4))
	call(t, small, Static, 0)
	call(t, small, Dynamic, n/4)
}
