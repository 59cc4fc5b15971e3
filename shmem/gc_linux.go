package shmem

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// startTime returns a process's start time in clock ticks since boot, or 0
// if the process does not exist.
func startTime(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces and parens: count fields
	// after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0
	}
	t, _ := strconv.ParseUint(f[19], 10, 64) // field 22 overall
	return t
}

// alive reports whether the process that started at start with pid still
// runs (a zombie counts as gone: it will never touch the segment again).
func alive(pid int, start uint64) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return start == 0 || startTime(pid) == start
}

// GC removes this user's pishm segments in /dev/shm whose creator is dead,
// and only those: a segment that does not validate as ours, or whose creator
// still runs, is left alone. It returns the names it removed.
func GC() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(Dir, NamePrefix+"*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, p := range paths {
		name := filepath.Base(p)
		s, err := Open(Posix, name)
		if err != nil {
			continue // not ours, or not a segment: not ours to remove
		}
		h := s.Header()
		dead := !alive(int(h.CreatorPID), h.CreatorStart)
		s.Close()
		if !dead {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("shmem: gc %s: %w", name, err))
			continue
		}
		removed = append(removed, name)
	}
	return removed, errors.Join(errs...)
}
