// Package proc identifies processes by pid and start time, read from
// /proc, so that a resource can name its creator and a later pishm can
// tell, without asking anyone, whether that creator still runs: a pid alone
// may have been reused by an unrelated process since.
package proc

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// stat returns the fields of /proc/PID/stat after the command name (field
// 3, the state, first), or nil if the process does not exist. The name
// (field 2) may hold spaces and parens, so fields are counted after the
// last ')'.
func stat(pid int) []string {
	if pid <= 0 {
		return nil
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return nil
	}
	return f
}

// Start returns a process's start time in clock ticks since boot (field
// 22 of /proc/PID/stat), or 0 if it does not exist.
func Start(pid int) uint64 {
	f := stat(pid)
	if f == nil {
		return 0
	}
	t, _ := strconv.ParseUint(f[19], 10, 64)
	return t
}

// State returns a process's state letter (R, S, D, T for stopped, t for
// traced, Z for zombie, ...), or 0 if it does not exist.
func State(pid int) byte {
	f := stat(pid)
	if f == nil || f[0] == "" {
		return 0
	}
	return f[0][0]
}

// Alive reports whether the process that started at start (ticks since
// boot) with pid still runs. A zombie counts as gone: it will never touch
// anything again. start 0 means "unknown": then any live process with that
// pid counts.
func Alive(pid int, start uint64) bool {
	f := stat(pid)
	if f == nil || f[0] == "Z" {
		return false
	}
	if start == 0 {
		return true
	}
	t, _ := strconv.ParseUint(f[19], 10, 64)
	return t == start
}

// Stopped reports whether pid is stopped by a signal (SIGSTOP, SIGTSTP) or
// by a tracer.
func Stopped(pid int) bool {
	s := State(pid)
	return s == 'T' || s == 't'
}

// ThreadChildren lists the processes that the thread tid of this process
// started and that are not reaped yet (/proc/self/task/TID/children).
func ThreadChildren(tid int) []int {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/children")
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil {
			pids = append(pids, p)
		}
	}
	return pids
}
