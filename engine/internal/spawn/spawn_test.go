//go:build linux

package spawn

import (
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary is its own worker: started with spawnTestExit set, it
// writes a line to stderr and exits with that status, or sleeps.
const spawnTestExit = "SPAWN_TEST_EXIT"

func TestMain(m *testing.M) {
	if v := os.Getenv(spawnTestExit); v != "" {
		if v == "sleep" {
			time.Sleep(time.Hour)
		}
		var code int
		fmt.Sscan(v, &code)
		fmt.Fprintf(os.Stderr, "worker %s says goodbye\n", os.Args[2])
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func newSpawner(t *testing.T) *Spawner {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sp := New(exe, os.Environ())
	t.Cleanup(sp.Stop)
	return sp
}

// nextExit waits for the reaper's next exit; the bound only ends a broken
// run.
func nextExit(t *testing.T, sp *Spawner) Exit {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		if e := sp.TakeExits(); len(e) > 0 {
			if len(e) != 1 {
				t.Fatalf("%d exits, want one", len(e))
			}
			return e[0]
		}
		sp.WaitExit(time.Second)
	}
	t.Fatal("no exit reaped")
	return Exit{}
}

// An exit is reaped with its status, its worker and attempt, and what the
// process wrote to stderr.
func TestExitReaped(t *testing.T) {
	sp := newSpawner(t)
	p, err := sp.Start(3, 1, []string{spawnTestExit + "=7"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := nextExit(t, sp)
	defer e.P.Stderr.Close()
	if e.P != p || e.P.Worker != 3 || e.P.Attempt != 1 || !e.Status.Exited() || e.Status.ExitStatus() != 7 {
		t.Fatalf("exit %+v (status %v), want worker 3 attempt 1 exiting 7", *e.P, e.Status)
	}
	b, _ := io.ReadAll(io.NewSectionReader(e.P.Stderr, 0, 1<<20))
	if !strings.Contains(string(b), "worker 3 says goodbye") {
		t.Errorf("stderr %q", b)
	}
	if sp.Alive(p.Pid) {
		t.Error("a reaped process is still alive")
	}
}

// Kill ends a live process, whose exit is reaped as a SIGKILL.
func TestKill(t *testing.T) {
	sp := newSpawner(t)
	p, err := sp.Start(0, 0, []string{spawnTestExit + "=sleep"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sp.Alive(p.Pid) {
		t.Fatal("a started process is not alive")
	}
	sp.Kill(p)
	e := nextExit(t, sp)
	e.P.Stderr.Close()
	if !e.Status.Signaled() || e.Status.Signal() != syscall.SIGKILL {
		t.Fatalf("status %v, want killed", e.Status)
	}
}

// Stop kills and reaps every live process: none is left, not even a
// zombie.
func TestStopLeavesNoChild(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sp := New(exe, os.Environ())
	var pids []int
	for i := range 3 {
		p, err := sp.Start(i, 0, []string{spawnTestExit + "=sleep"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, p.Pid)
	}
	sp.Stop()
	for _, pid := range pids {
		var ws syscall.WaitStatus
		if _, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err != syscall.ECHILD {
			t.Errorf("pid %d after Stop: wait4 says %v, want ECHILD (reaped)", pid, err)
		}
	}
}
