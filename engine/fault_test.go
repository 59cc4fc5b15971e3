package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// liveChildren lists this process's child processes, zombies included,
// except the test's redis-server.
func liveChildren() []string {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	var kids []string
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, k := range strings.Fields(string(b)) {
			if k != testRedisPid {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

func openFDs() int {
	e, _ := os.ReadDir("/proc/self/fd")
	return len(e)
}

// checkClean fails the test if it leaves a child process or an open
// descriptor behind: what the engine makes is unnamed (the segment, the
// stderr memfds), so those are the leaks there can be. It looks only at
// this process, never at what other programs keep in /dev/shm.
func checkClean(t *testing.T) {
	t.Helper()
	fds := openFDs()
	t.Cleanup(func() {
		if kids := liveChildren(); len(kids) > 0 {
			t.Errorf("child processes left: %v", kids)
		}
		if after := openFDs(); after > fds {
			t.Errorf("open descriptors grew from %d to %d", fds, after)
		}
	})
}

// faultPoints are every fault() point of a worker's life, in order, with
// whether each is passed once per call or once per piece or chunk.
var faultPoints = []struct {
	name    string
	perStep bool
}{
	{"attach", false}, {"arrived", false}, {"claim-next", true}, {"claim", true}, {"sum", true},
	{"accum", true}, {"journal-half", true}, {"journal", true}, {"done", false},
}

// passes reports whether a worker of mode and sched passes point.
func passes(mode strategy, dynamic bool, point string) bool {
	switch point {
	case "claim-next", "claim", "journal":
		return dynamic
	case "accum":
		return mode == modeCAS || mode == modeMutex || mode == Racy
	}
	return true
}

// killEnv makes every worker's first attempt SIGKILL itself the k-th time
// it passes point.
func killEnv(t *testing.T, point string, k int) {
	t.Setenv("PISHM_TEST_KILL", fmt.Sprintf("*:%s:%d:1", point, k))
}

// TestKillMatrix SIGKILLs real workers at every store of the claim,
// publish and journal sequence (the first and the third time each passes
// a point inside the loop), in every shared-memory mode and both
// schedules, and requires the exact result every time: never a wrong sum.
// Every worker's first attempt dies there, so the point is reached
// whatever the scheduler does; each gets one retry.
func TestKillMatrix(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		for _, sched := range []Schedule{Static, Dynamic} {
			for _, p := range faultPoints {
				for _, k := range []int{1, 3} {
					if k > 1 && !p.perStep {
						continue
					}
					t.Run(fmt.Sprintf("mode=%s/sched=%s/point=%s/k=%d", mode, sched, p.name, k), func(t *testing.T) {
						killEnv(t, p.name, k)
						// 21 chunks over 3 workers: someone passes each point 3 times.
						cfg := Config{N: 200_003, Workers: 3, Mode: mode, Sched: sched}
						if sched == Dynamic {
							cfg.Chunk = 9_973
						} else {
							cfg.Publish = 9_973
						}
						res, err := Run(context.Background(), "oddsq", cfg)
						if err != nil {
							t.Fatal(err) // a retry is left: anything but exact is a defect
						}
						checkExactTerms(t, res)
						if passes(mode, sched == Dynamic, p.name) && len(res.Failures) == 0 {
							t.Errorf("no worker died: the kill point was not reached")
						}
						for _, f := range res.Failures {
							if !strings.Contains(f.How, "killed") {
								t.Errorf("failure %+v, want killed", f)
							}
						}
					})
				}
			}
		}
	}
}

// TestKillMatrixChunkOne is the attack that found the dynamic schedule's
// holes: one term per chunk, kills deep into the run.
func TestKillMatrixChunkOne(t *testing.T) {
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		for _, point := range []string{"claim-next", "claim", "accum", "journal-half", "journal"} {
			if !passes(mode, true, point) {
				continue
			}
			t.Run(fmt.Sprintf("mode=%s/point=%s", mode, point), func(t *testing.T) {
				killEnv(t, point, 5000)
				res, err := Run(context.Background(), "oddsq", Config{N: 30_000, Workers: 2, Mode: mode, Sched: Dynamic, Chunk: 1, Grain: 1})
				if err != nil {
					t.Fatal(err)
				}
				checkExactTerms(t, res)
				if len(res.Failures) == 0 {
					t.Errorf("no worker died: the kill point was not reached")
				}
			})
		}
	}
}

// A mutex holder that dies inside the critical section must not leave the
// others blocked: the parent takes the lock back from the dead pid.
func TestKillLockHolderManyWaiters(t *testing.T) {
	checkClean(t)
	for _, sched := range []Schedule{Static, Dynamic} {
		killEnv(t, "accum", 1)
		cfg := Config{N: 1_000_000, Workers: 4, Mode: modeMutex, Sched: sched, Chunk: 1000}
		if sched == Static {
			cfg.Chunk, cfg.Publish = 0, 1000
		}
		res, err := Run(context.Background(), "oddsq", cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkExactTerms(t, res)
		if len(res.Failures) == 0 || !res.Rebuilt {
			t.Fatalf("%s: failures %+v rebuilt %v", sched, res.Failures, res.Rebuilt)
		}
	}
}

func TestRetriesRunOut(t *testing.T) {
	checkClean(t)
	t.Setenv("PISHM_TEST_KILL", "2:sum:1:1000")
	for _, retries := range []int{-1, 0, 3} {
		_, err := Run(context.Background(), "oddsq", Config{N: 1_000_000, Workers: 3, Mode: modeCAS, Publish: 1000, Retries: retries})
		var we *WorkerError
		if !errors.As(err, &we) || we.Worker != 2 || !strings.Contains(we.How, "killed") || we.When != "while summing" {
			t.Fatalf("retries=%d: err = %v", retries, err)
		}
		if want := (Config{Retries: retries}).retries(); we.Attempt != want {
			t.Fatalf("retries=%d: gave up at attempt %d, want %d", retries, we.Attempt, want)
		}
	}
}

// TestStoppedWorker: a worker stopped by SIGSTOP is noticed, killed and
// its share redone; the run does not hang.
func TestStoppedWorker(t *testing.T) {
	checkClean(t)
	t.Setenv("PISHM_TEST_STOP", "1:sum:1:1")
	res, err := Run(context.Background(), "oddsq", Config{N: 2_000_003, Workers: 2, Publish: 100_000})
	if err != nil {
		t.Fatal(err)
	}
	checkExactTerms(t, res)
	if len(res.Failures) != 1 || !strings.Contains(res.Failures[0].When, "stopped") {
		t.Fatalf("failures %+v, want worker 1 stopped", res.Failures)
	}
}

// TestSoak runs many short runs and checks that descriptors and children
// stay flat.
func TestSoak(t *testing.T) {
	checkClean(t)
	for runs := range 60 {
		mode := []strategy{modeSlots, modeCAS, modeMutex}[runs%3]
		if _, err := Run(context.Background(), "oddsq", Config{N: 10_000, Workers: 2, Mode: mode}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWorkerBinaryFallback: a Config.WorkerBinary that cannot serve this
// parent (here one that exits as a worker of another build does) is
// replaced by this binary, and the run is exact.
func TestWorkerBinaryFallback(t *testing.T) {
	checkClean(t)
	stale := filepath.Join(t.TempDir(), "stale-worker")
	if err := os.WriteFile(stale, []byte("#!/bin/sh\necho 'pishm worker: engine: worker protocol mismatch' >&2\nexit 3\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), "oddsq", Config{N: 1_000_003, Workers: 2, WorkerBinary: stale})
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res)
	if len(res.Failures) != 0 {
		t.Errorf("the fallback counted as failures: %+v", res.Failures)
	}
}
