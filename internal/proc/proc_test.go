//go:build linux

package proc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestSelf(t *testing.T) {
	pid := os.Getpid()
	start := Start(pid)
	if start == 0 {
		t.Fatal("no start time for ourselves")
	}
	if !Alive(pid, start) || !Alive(pid, 0) {
		t.Fatal("we are not alive")
	}
	if Alive(pid, start+1) {
		t.Fatal("a later start time names another process")
	}
	if s := State(pid); s != 'R' && s != 'S' {
		t.Fatalf("state %q", s)
	}
}

func TestStoppedAndDead(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skip(err)
	}
	pid := cmd.Process.Pid
	start := Start(pid)
	syscall.Kill(pid, syscall.SIGSTOP)
	for !Stopped(pid) { // the signal is asynchronous; no time limit: the test's own bounds it
		time.Sleep(time.Millisecond)
	}
	cmd.Process.Kill()
	for Alive(pid, start) { // a zombie until reaped, and zombies count as gone
		time.Sleep(time.Millisecond)
	}
	cmd.Wait()
	if Alive(pid, start) || Start(pid) != 0 && Alive(pid, start) {
		t.Fatal("a reaped process is alive")
	}
	if Alive(0, 0) || Alive(-1, 0) {
		t.Fatal("pid <= 0 is alive")
	}
}
