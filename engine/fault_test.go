package engine

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// liveChildren lists this process's child processes, zombies included.
func liveChildren(t *testing.T) []string {
	t.Helper()
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

// checkClean fails the test if a run left a segment or a child behind.
func checkClean(t *testing.T) {
	t.Helper()
	checkNoLeak(t)
	t.Cleanup(func() {
		if kids := liveChildren(t); len(kids) > 0 {
			t.Errorf("child processes left: %v", kids)
		}
	})
}

// TestKillWorker SIGKILLs a real worker at each point of its life, in each
// shared-memory mode, and expects an exact result from the retry.
func TestKillWorker(t *testing.T) {
	checkClean(t)
	for _, mode := range shmModes {
		for _, point := range []string{"attach", "arrived", "sum", "published", "done"} {
			if point == "published" && mode == Slots {
				continue // a slot write is the publication: no window inside it
			}
			t.Run(string(mode)+"/"+point, func(t *testing.T) {
				t.Setenv("PISHM_TEST_KILL", "1:"+point+":1")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				res, err := Run(ctx, Config{N: 2_000_003, Workers: 3, Mode: mode, Chunk: 100_000})
				if err != nil {
					t.Fatal(err)
				}
				checkExact(t, res)
				if len(res.Failures) != 1 {
					t.Fatalf("failures = %+v, want one", res.Failures)
				}
				f := res.Failures[0]
				if f.Worker != 1 || !strings.Contains(f.How, "killed") {
					t.Errorf("failure = %+v, want worker 1 killed", f)
				}
				wantAction := "retried"
				if point == "done" {
					wantAction = "kept its published result"
				}
				if f.Action != wantAction {
					t.Errorf("action %q, want %q", f.Action, wantAction)
				}
				wantRebuilt := mode != Slots && (point == "sum" || point == "published")
				if res.Rebuilt != wantRebuilt {
					t.Errorf("rebuilt = %v, want %v", res.Rebuilt, wantRebuilt)
				}
			})
		}
	}
}

// A mutex holder that dies inside the critical section must not leave the
// others blocked: the parent takes the lock back from the dead pid.
func TestKillLockHolderManyWaiters(t *testing.T) {
	checkClean(t)
	t.Setenv("PISHM_TEST_KILL", "0:published:1")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Run(ctx, Config{N: 1_000_000, Workers: 4, Mode: Mutex, Chunk: 1000})
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res)
	if len(res.Failures) != 1 || !res.Rebuilt {
		t.Fatalf("failures %+v rebuilt %v", res.Failures, res.Rebuilt)
	}
}

func TestRetriesRunOut(t *testing.T) {
	checkClean(t)
	t.Setenv("PISHM_TEST_KILL", "2:sum:1000")
	for _, retries := range []int{-1, 0, 3} {
		_, err := Run(context.Background(), Config{N: 1_000_000, Workers: 3, Mode: CAS, Chunk: 1000, Retries: retries})
		var we *WorkerError
		if !errors.As(err, &we) || we.Worker != 2 || !strings.Contains(we.How, "killed") || we.When != "while summing" {
			t.Fatalf("retries=%d: err = %v", retries, err)
		}
		if want := (Config{Retries: retries}).retries(); we.Attempt != want {
			t.Fatalf("retries=%d: gave up at attempt %d, want %d", retries, we.Attempt, want)
		}
	}
}

// TestSoak runs many short runs and checks that descriptors and /dev/shm
// stay flat.
func TestSoak(t *testing.T) {
	checkClean(t)
	fds := func() int {
		e, _ := os.ReadDir("/proc/self/fd")
		return len(e)
	}
	before := fds()
	deadline := time.Now().Add(2 * time.Second)
	runs := 0
	for time.Now().Before(deadline) || runs < 10 {
		mode := shmModes[runs%len(shmModes)]
		if _, err := Run(context.Background(), Config{N: 10_000, Workers: 2, Mode: mode}); err != nil {
			t.Fatal(err)
		}
		runs++
	}
	if after := fds(); after > before {
		t.Fatalf("open descriptors grew from %d to %d over %d runs", before, after, runs)
	}
	t.Logf("%d runs", runs)
}
