//go:build linux

package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startPishm starts this test binary as pishm with args, and waits until
// it has n worker processes. Its stderr is complete once cmd.Wait returns.
func startPishm(t *testing.T, n int, args ...string) (*exec.Cmd, []int, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
	stderr := new(strings.Builder)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The limits here and in waitGone only bound how long a broken run
	// takes to fail; a working one passes in milliseconds. They are a
	// minute so that two busy cores under -race never reach them.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if kids := childrenOf(cmd.Process.Pid); len(kids) == n && allBusy(kids) {
			return cmd, kids, stderr
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	t.Fatalf("pishm never had %d workers; stderr: %s", n, stderr.String())
	return nil, nil, nil
}

// allBusy reports whether every pid has used CPU time (a clock tick of
// user or system time in /proc/PID/stat): a worker that has, has attached
// and is summing, whatever the machine's speed.
func allBusy(pids []int) bool {
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			return false
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			return false
		}
		f := strings.Fields(string(b[i+1:])) // state is f[0]; utime and stime are fields 14 and 15 of stat
		if len(f) < 13 || f[11] == "0" && f[12] == "0" {
			return false
		}
	}
	return true
}

func childrenOf(pid int) []int {
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var kids []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			k, _ := strconv.Atoi(w)
			kids = append(kids, k)
		}
	}
	return kids
}

// gone reports whether pid no longer runs (absent, or a zombie).
func gone(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	i := strings.LastIndexByte(string(b), ')')
	return i >= 0 && i+2 < len(b) && b[i+2] == 'Z'
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for _, p := range pids {
		for !gone(p) {
			if time.Now().After(deadline) {
				t.Fatalf("worker %d still running", p)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// A long run stopped by SIGINT, SIGTERM or SIGHUP stops and reaps its
// workers, removes the segment, says which signal stopped it and exits
// 128 + the signal.
func TestSignalParent(t *testing.T) {
	var pids []int // the pishm processes: what they made is what to check
	before := segmentsOf(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		name string
		code int
	}{{syscall.SIGINT, "SIGINT", 130}, {syscall.SIGTERM, "SIGTERM", 143}, {syscall.SIGHUP, "SIGHUP", 129}} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, kids, stderr := startPishm(t, 2, "-n", "1e15", "-workers", "2", "-kernel", "generic")
			pids = append(pids, cmd.Process.Pid)
			cmd.Process.Signal(tc.sig)
			err := cmd.Wait()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code {
				t.Fatalf("exit: %v, want status %d; stderr: %s", err, tc.code, stderr)
			}
			if want := "pishm: stopped by " + tc.name + "\n"; stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr, want)
			}
			for _, k := range kids {
				if !gone(k) {
					t.Errorf("worker %d outlived its parent", k)
				}
			}
		})
	}
	if segmentsOf(t, pids...) != before {
		t.Error("a signalled run left a segment in /dev/shm")
	}
}

// A parent killed with SIGKILL cannot clean up: its workers must notice
// (parent-death signal) and exit on their own, and no name is left.
func TestKillParent(t *testing.T) {
	// Orphans come to us rather than to init, so we can see them die and
	// reap them.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skip("cannot become a subreaper:", err)
	}
	var pids []int
	before := segmentsOf(t)
	for _, mode := range []string{"slots", "cas", "mutex"} {
		cmd, kids, _ := startPishm(t, 2, "-n", "1e15", "-workers", "2", "-kernel", "generic", "-mode", mode, "-publish", "1e6")
		pids = append(pids, cmd.Process.Pid)
		cmd.Process.Kill()
		cmd.Wait()
		waitGone(t, kids)
		for _, k := range kids {
			var ws unix.WaitStatus
			unix.Wait4(k, &ws, 0, nil)
		}
	}
	if segmentsOf(t, pids...) != before {
		t.Error("a killed parent left a segment in /dev/shm")
	}
}
