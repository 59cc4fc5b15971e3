package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// prSetChildSubreaper is PR_SET_CHILD_SUBREAPER from <linux/prctl.h>
// (the syscall package has no constant for it).
const prSetChildSubreaper = 36

// becomeSubreaper makes this process the parent of any process orphaned
// below it, so that a worker pishm leaves behind, alive or a zombie,
// turns up among our own children instead of init's.
func becomeSubreaper() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0)
	if errno != 0 {
		return os.NewSyscallError("prctl", errno)
	}
	return nil
}

// proc is what /proc says about one process.
type proc struct {
	pid   int
	ppid  int
	state byte   // R, S, D, T, t, Z, ...
	start uint64 // start time in clock ticks since boot: with pid, names the process
	argv  []string
}

// readProc reads /proc/pid/stat and cmdline; ok is false once pid is gone.
func readProc(pid int) (p proc, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return p, false
	}
	// pid (comm) state ppid ... : comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return p, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return p, false
	}
	p.pid = pid
	p.state = f[0][0]
	p.ppid, _ = strconv.Atoi(f[1])
	p.start, _ = strconv.ParseUint(f[19], 10, 64) // field 22 of stat(5)
	if c, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline"); err == nil {
		p.argv = strings.Split(strings.TrimRight(string(c), "\x00"), "\x00")
	}
	return p, true
}

// children lists the children of every thread of pid (a Go program forks
// from whichever thread runs the call).
func children(pid int) []int {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, s := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(s); err == nil {
				out = append(out, c)
			}
		}
	}
	return out
}

// running says whether any thread of pid is running or runnable (R):
// a worker that waits for the mutex sleeps in futex with every thread in S.
func running(pid int) bool {
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/stat")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'R' {
			return true
		}
	}
	return false
}

// describeProc is one line on pid for a hung run's log: state and the
// kernel function each thread waits in.
func describeProc(pid int) string {
	p, ok := readProc(pid)
	if !ok {
		return strconv.Itoa(pid) + " gone"
	}
	var b strings.Builder
	b.WriteString(strconv.Itoa(pid) + " " + strings.Join(p.argv, " ") + " state " + string(p.state) + " threads")
	tasks, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*")
	for _, t := range tasks {
		st, _ := os.ReadFile(t + "/stat")
		wchan, _ := os.ReadFile(t + "/wchan")
		s := "?"
		if i := bytes.LastIndexByte(st, ')'); i >= 0 && i+2 < len(st) {
			s = string(st[i+2])
		}
		b.WriteString(" " + filepath.Base(t) + ":" + s)
		if len(wchan) > 0 && string(wchan) != "0" {
			b.WriteString("/" + string(wchan))
		}
	}
	return b.String()
}

// shmDir is where POSIX shared memory segments live.
const shmDir = "/dev/shm"

// shmEntries is the set of pishm-* names in /dev/shm.
func shmEntries() map[string]bool {
	ents, _ := os.ReadDir(shmDir)
	set := map[string]bool{}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "pishm-") {
			set[e.Name()] = true
		}
	}
	return set
}

// reap waits for our child pid, killing it first when kill is set.
func reap(pid int, kill bool) {
	if kill {
		syscall.Kill(pid, syscall.SIGKILL)
		syscall.Kill(pid, syscall.SIGCONT)
	}
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			return
		}
	}
}

// sendSignal sends sig to p if it is still the same process.
func sendSignal(p proc, sig syscall.Signal) error {
	if q, ok := readProc(p.pid); !ok || q.start != p.start {
		return syscall.ESRCH
	}
	return syscall.Kill(p.pid, sig)
}
