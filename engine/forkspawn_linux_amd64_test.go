//go:build gc && !purego && !noasm

package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/shmem"
)

// forkKernelsHere are the fork kernels this CPU runs; the test skips when
// there are none.
func forkKernelsHere(t *testing.T) []string {
	t.Helper()
	var ks []string
	for _, name := range forkKernels {
		if _, err := kernel.ByName(name); err == nil {
			ks = append(ks, name)
		} else {
			t.Logf("kernel %s: %v (skipped)", name, err)
		}
	}
	if len(ks) == 0 {
		t.Skip("this CPU runs no fork kernel")
	}
	return ks
}

// checkForkParts requires every worker's partial to be the exact sum,
// rounded once, of the kernel's Sum of each piece of the grid in its range
// (what an exec'd worker journals), bit for bit, and S the exact sum of
// every piece, rounded once.
func checkForkParts(t *testing.T, res Result) {
	t.Helper()
	if res.Offset == 0 {
		checkExactTerms(t, res)
	} else {
		var terms uint64
		for _, w := range res.detail {
			terms += w.Terms
		}
		if terms != res.N {
			t.Errorf("workers did %d terms, want %d", terms, res.N)
		}
	}
	k, _ := kernel.ByName(strings.TrimPrefix(res.Func, seriesPrefix))
	all := fold.New(Sum)
	for _, w := range res.detail {
		f := fold.New(Sum)
		for a := w.Lo; a < w.Hi; a += res.Grain {
			v := k.Sum(a, min(w.Hi, a+res.Grain))
			f.Add(v)
			all.Add(v)
		}
		if want := f.Value(); math.Float64bits(w.Partial) != math.Float64bits(want) {
			t.Errorf("worker %d [%d, %d): partial %.17g, its pieces' sum %.17g", w.Index, w.Lo, w.Hi, w.Partial, want)
		}
	}
	if want := all.Value(); math.Float64bits(res.Value) != math.Float64bits(want) {
		t.Errorf("S = %.17g, the pieces' sum %.17g", res.Value, want)
	}
}

// TestForkExact runs forked workers for every fork kernel this CPU has,
// over worker counts and term counts that do not divide (many pieces per
// worker), and over an explicit grain (not a multiple of the kernels'
// iterations) and an offset, and requires S and every partial to equal the
// exec'd workers' bit for bit.
func TestForkExact(t *testing.T) {
	checkClean(t)
	type tc struct {
		n, offset, grain uint64
		w                int
	}
	var cases []tc
	for _, n := range []uint64{1e6 + 3, 1e7 + 7} {
		for _, w := range []int{1, 2, 3, 7} {
			cases = append(cases, tc{n: n, w: w})
		}
	}
	cases = append(cases,
		tc{n: 5e6 + 11, offset: 1e12 + 1, grain: 1000, w: 3},
		tc{n: 3e6 + 5, offset: 12345, grain: 1 << 12, w: 2},
		tc{n: 1e5 + 7, offset: 7, grain: 7, w: 3},
		tc{n: 5, grain: 1, w: 7}, // fewer pieces than workers
	)
	for _, kname := range forkKernelsHere(t) {
		for _, c := range cases {
			t.Run(fmt.Sprintf("kernel=%s/n=%d/offset=%d/grain=%d/workers=%d", kname, c.n, c.offset, c.grain, c.w), func(t *testing.T) {
				cfg := Config{N: c.n, Offset: c.offset, Grain: c.grain, Workers: c.w, Spawn: SpawnFork}
				res, err := Run(context.Background(), seriesPrefix+kname, cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkForkParts(t, res)
				if len(res.Failures) != 0 {
					t.Errorf("failures: %+v", res.Failures)
				}
				if c.grain != 0 && res.Grain != c.grain {
					t.Errorf("grain %d, want %d", res.Grain, c.grain)
				}
				cfg.Spawn = SpawnExec
				ex, err := Run(context.Background(), seriesPrefix+kname, cfg)
				if err != nil {
					t.Fatal(err)
				}
				if math.Float64bits(ex.Value) != math.Float64bits(res.Value) {
					t.Errorf("fork S = %.17g, exec S = %.17g", res.Value, ex.Value)
				}
				for i, w := range res.detail {
					e := ex.detail[i]
					if w.Lo != e.Lo || w.Hi != e.Hi || w.Terms != e.Terms || math.Float64bits(w.Partial) != math.Float64bits(e.Partial) {
						t.Errorf("worker %d: fork [%d, %d) %d terms %.17g, exec [%d, %d) %d terms %.17g", i, w.Lo, w.Hi, w.Terms, w.Partial, e.Lo, e.Hi, e.Terms, e.Partial)
					}
				}
			})
		}
	}
}

// TestForkValidate: what fork cannot do is refused, naming Spawn.
func TestForkValidate(t *testing.T) {
	k := seriesPrefix + forkKernelsHere(t)[0]
	if err := (Config{N: 10, Spawn: SpawnFork}).Validate("oddsq/generic"); err == nil || !strings.Contains(err.Error(), "Spawn") {
		t.Errorf("fork of oddsq/generic: err %v, want one naming Spawn", err)
	}
	for _, c := range []Config{
		{N: 10, Spawn: "vfork"},
		{N: 10, Spawn: SpawnFork, Mode: modeCAS},
		{N: 10, Spawn: SpawnFork, Mode: Pipe},
		{N: 10, Spawn: SpawnFork, Mode: modeGoroutines},
		{N: 10, Spawn: SpawnFork, Sched: Dynamic},
		{N: 1e6, Spawn: SpawnFork, Publish: 3}, // rounded up to a piece, still below N
		{N: 10, Spawn: SpawnFork, Pad: 64},
		{N: 10, Spawn: SpawnFork, WorkerBinary: "/bin/true"},
		{N: 1e12, Spawn: SpawnFork, Grain: SmallGrainCap},
		{N: 1e6, Spawn: SpawnFork, Grain: 3},
	} {
		if err := c.Validate(k); err == nil || !strings.Contains(err.Error(), "Spawn") {
			t.Errorf("%+v: err %v, want one naming Spawn", c, err)
		}
	}
	for _, c := range []Config{{N: 10, Spawn: SpawnExec}, {N: 10, Spawn: SpawnFork, Publish: 10}, {N: 10, Spawn: SpawnFork, Shm: shmem.File, Path: "x"},
		{N: forkMaxPieces * SmallGrainCap, Spawn: SpawnFork, Grain: SmallGrainCap}, {N: 1e12, Spawn: SpawnFork}, // the default grain keeps 1e12 within 1024 pieces
		{N: 1e12, Spawn: SpawnFork, Grain: 1 << 22}, {N: 1e12, Spawn: SpawnExec}} {
		if err := c.Validate(k); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	// Too many pieces: the error names the cap and the fix, on one line.
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{N: forkMaxPieces*SmallGrainCap + 1, Spawn: SpawnFork, Grain: SmallGrainCap}, "use exec, or Grain >= 65537"},
		{Config{N: 1e6, Spawn: SpawnFork, Grain: 3}, "makes 333334: use exec, or Grain >= 4"},
		{Config{N: MaxN, Spawn: SpawnFork, Grain: MaxGrain}, "use exec"},
	} {
		err := tc.c.Validate(k)
		if err == nil || !strings.Contains(err.Error(), "Spawn fork") || !strings.Contains(err.Error(), fmt.Sprint(forkMaxPieces)) ||
			!strings.HasSuffix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("N %d, grain %d: %v, want one line naming Spawn fork and %d, ending %q", tc.c.N, tc.c.Grain, err, forkMaxPieces, tc.want)
		} else {
			t.Logf("%v", err)
		}
	}
	if _, err := Reduce(context.Background(), "test-k", 100, WithConfig(Config{Spawn: SpawnFork})); err == nil || !strings.Contains(err.Error(), "Spawn") {
		t.Errorf("Reduce of a registered Func with fork: %v", err)
	}
	if _, err := NewPool(context.Background(), WithConfig(Config{Spawn: SpawnFork})); err == nil || !strings.Contains(err.Error(), "Spawn") {
		t.Errorf("NewPool with fork: %v", err)
	}
}

// waitState polls slot s until its state is at least st, or the process
// is gone. It takes the slot, not the crew: a goroutine that polls must
// not read the segment's Go-side fields, which the crew's close writes.
func waitState(s *segment.Slot, st uint32, pid int) bool {
	for s.State.Load() < st {
		if syscall.Kill(pid, 0) != nil {
			return false
		}
		time.Sleep(20 * time.Microsecond)
	}
	return true
}

// TestForkKills SIGKILLs forked workers (the first attempt of worker 1)
// right after the fork (before or, more often, just after they arrive: the
// child is quicker than the parent's kill), at the start barrier and in the
// middle of the kernel, or stops them there, and requires the exact result
// from the re-forked worker and nothing left behind.
func TestForkKills(t *testing.T) {
	checkClean(t)
	k := forkKernelsHere(t)[0]
	for _, tc := range []struct {
		point string
		n     uint64
		when  []string
		sig   syscall.Signal
	}{
		{"right-after-fork", 1e6 + 3, []string{segment.SlotStates[segment.SlotIdle], segment.SlotStates[segment.SlotArrived]}, syscall.SIGKILL},
		{"at-barrier", 1e6 + 3, []string{segment.SlotStates[segment.SlotArrived]}, syscall.SIGKILL},
		{"mid-sum", 2e9 + 7, []string{segment.SlotStates[segment.SlotRunning]}, syscall.SIGKILL},
		{"stopped-mid-sum", 2e9 + 7, []string{fmt.Sprintf("stopped (state T) for over %v", stoppedGrace)}, syscall.SIGSTOP},
	} {
		t.Run("point="+tc.point, func(t *testing.T) {
			if testing.Short() && tc.sig == syscall.SIGSTOP {
				t.Skip("waits for the stopped grace")
			}
			var wg sync.WaitGroup
			forkHook = func(c *crew, i, attempt, pid int) {
				if i != 1 || attempt != 0 {
					return
				}
				switch tc.point {
				case "right-after-fork": // on the forking thread; the child has often arrived already
					syscall.Kill(pid, tc.sig)
				case "at-barrier": // the parent is still forking: nobody has seen a call
					if waitState(c.v.Slot(i), segment.SlotArrived, pid) {
						syscall.Kill(pid, tc.sig)
					}
				default:
					s := c.v.Slot(i)
					wg.Go(func() {
						if waitState(s, segment.SlotRunning, pid) {
							time.Sleep(time.Millisecond)
							syscall.Kill(pid, tc.sig)
						}
					})
				}
			}
			defer func() { forkHook = nil }()
			res, err := Run(context.Background(), seriesPrefix+k, Config{N: tc.n, Workers: 2, Spawn: SpawnFork})
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			checkForkParts(t, res)
			if len(res.Failures) != 1 {
				t.Fatalf("failures %+v, want one", res.Failures)
			}
			f := res.Failures[0]
			if f.Worker != 1 || f.Action != "retried" || !strings.Contains(strings.Join(tc.when, "|"), f.When) {
				t.Errorf("failure %+v, want worker 1 retried %v", f, tc.when)
			}
			t.Logf("failure: %+v", f)
		})
	}
}

// TestForkRetriesRunOut: a worker killed on every attempt ends the run
// with ErrWorkerDied, and nothing is left behind.
func TestForkRetriesRunOut(t *testing.T) {
	checkClean(t)
	k := forkKernelsHere(t)[0]
	forkHook = func(c *crew, i, attempt, pid int) {
		if i == 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	defer func() { forkHook = nil }()
	// Each share takes a tenth of a second or more, so the kill, sent the
	// moment the fork returns, lands long before a retry (which starts
	// summing at once) could finish.
	_, err := Run(context.Background(), seriesPrefix+k, Config{N: 4e9, Workers: 2, Spawn: SpawnFork, Retries: 2})
	var we *WorkerError
	if !errors.Is(err, ErrWorkerDied) || !errors.As(err, &we) || we.Worker != 0 || we.Attempt != 2 {
		t.Fatalf("err %v, want worker 0 dead on its third attempt", err)
	}
}

// TestForkStress runs many forked runs while other goroutines allocate
// hard and force collections: the parent's runtime is in the middle of a
// collection or a stop-the-world at many of the forks, which is what hangs
// a child that runs Go code. Every run must be exact and leave nothing.
func TestForkStress(t *testing.T) {
	checkClean(t)
	k := forkKernelsHere(t)[0]
	runs := 300
	if testing.Short() {
		runs = 30
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var sink atomic.Pointer[[]byte]
	wg.Go(func() {
		var keep [128][]byte
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			b := make([]byte, 64<<10)
			b[0] = byte(i)
			keep[i%len(keep)] = b
			sink.Store(&b)
		}
	})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			runtime.GC()
			time.Sleep(200 * time.Microsecond)
		}
	})
	defer func() { close(stop); wg.Wait() }()
	var want float64
	for r := range runs {
		res, err := Run(context.Background(), seriesPrefix+k, Config{N: 1e6 + 3, Workers: 2, Spawn: SpawnFork})
		if err != nil {
			t.Fatalf("run %d: %v", r, err)
		}
		if r == 0 {
			checkForkParts(t, res)
			want = res.Value
		} else if math.Float64bits(res.Value) != math.Float64bits(want) || len(res.Failures) != 0 {
			t.Fatalf("run %d: S = %.17g (want %.17g), failures %+v", r, res.Value, want, res.Failures)
		}
	}
}

// A forked worker names itself "pishm worker N" (prctl PR_SET_NAME), as
// ps -o comm and top show it; its command line stays its parent's.
func TestForkedWorkerName(t *testing.T) {
	k := seriesPrefix + forkKernelsHere(t)[0]
	var mu sync.Mutex
	pids := map[int]int{}
	forkHook = func(c *crew, i, attempt, pid int) {
		mu.Lock()
		pids[pid] = i
		mu.Unlock()
	}
	defer func() { forkHook = nil }()
	names := map[int]string{}
	progress := func(Progress) {
		mu.Lock()
		defer mu.Unlock()
		for pid, i := range pids {
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil && names[i] == "" {
				names[i] = strings.TrimSpace(string(b))
			}
		}
	}
	// Long enough (a few hundred ms) for a progress call while the
	// workers live; the names are read whenever that is.
	res, err := Run(context.Background(), k, Config{N: 4e9, Workers: 2, Spawn: SpawnFork, Grain: 1 << 24, Progress: progress})
	if err != nil {
		t.Fatal(err)
	}
	if res.Spawn != SpawnFork {
		t.Fatalf("spawn %q", res.Spawn)
	}
	for i := range 2 {
		if want := fmt.Sprintf("pishm worker %d", i); names[i] != "" && names[i] != want {
			t.Errorf("worker %d is called %q, want %q", i, names[i], want)
		}
	}
	if len(names) == 0 {
		t.Skip("no progress call found a worker alive to read its name")
	}
}
