package shmem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/pishm/pishm/internal/proc"
)

// GC removes this user's named pishm segments in /dev/shm whose creator is
// dead, and only those. It judges a file by its name alone
// (pishm-PID-START-RANDOM), so a file whose header was never written is
// judged like any other. It returns the names it removed.
//
// pishm itself leaves no names behind (segments are unnamed, or unlinked
// right after they are created); GC is for a creator killed in that
// instant, and for files older pishm versions left.
func GC() ([]string, error) {
	paths, err := filepath.Glob(filepath.Join(Dir, NamePrefix+"*"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, p := range paths {
		name := filepath.Base(p)
		if !stale(p, name) {
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

// stale reports whether the file at path, named name, is ours and its
// creator is gone.
func stale(path, name string) bool {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || int(st.Uid) != os.Geteuid() {
		return false // not a regular file of ours: not ours to remove
	}
	if pid, start, ok := proc.ParseName(name, NamePrefix); ok {
		return !proc.Alive(pid, start)
	}
	// An older name, pishm-PID-RANDOM: the creator is gone if no process
	// has that pid, or the one that has it started after the file was
	// made (the pid was reused).
	f := strings.SplitN(strings.TrimPrefix(name, NamePrefix), "-", 2)
	pid, err := strconv.Atoi(f[0])
	if len(f) != 2 || err != nil || pid <= 0 {
		return false
	}
	start := proc.Start(pid)
	if start == 0 || !proc.Alive(pid, start) {
		return true
	}
	made, ok := ticksSinceBoot(st.Ctim.Sec)
	return ok && start > made
}

// ticksSinceBoot converts a Unix time in seconds to clock ticks since
// boot, the unit of a process's start time.
func ticksSinceBoot(unixSec int64) (uint64, bool) {
	boot, ok := proc.BootTime()
	if !ok || unixSec < boot {
		return 0, false
	}
	return uint64(unixSec-boot) * proc.ClockTicks, true
}
