// Package runq reads how many threads the machine has runnable at this
// moment, for a waiter that should not spin while threads of other
// processes want the CPUs: a spinner then takes the CPU from the very
// thread it waits for, or from a neighbour.
package runq

import (
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Reader reads the kernel's count of runnable threads, from the fourth
// field of /proc/loadavg ("runnable/total"). The count is the kernel's
// instantaneous sum over every CPU's run queue, the reading thread
// included, not the one-minute average of the first field.
type Reader struct {
	f   *os.File
	buf [128]byte
}

// Open returns a Reader, or nil where the count cannot be read (no
// /proc, another system).
func Open() *Reader {
	f, err := os.Open("/proc/loadavg")
	if err != nil {
		return nil
	}
	r := &Reader{f: f}
	if _, ok := r.Runnable(); !ok {
		f.Close()
		return nil
	}
	return r
}

// Runnable is how many threads are runnable now, machine-wide, the caller
// included. One pread of a file the Reader keeps open: no allocation.
func (r *Reader) Runnable() (int, bool) {
	n, err := r.f.ReadAt(r.buf[:], 0)
	if n == 0 && err != nil {
		return 0, false
	}
	return parse(r.buf[:n])
}

// parse reads the count before the '/' of the fourth field of a
// /proc/loadavg line ("0.55 0.97 0.77 3/111 3361").
func parse(line []byte) (int, bool) {
	f := bytes.Fields(line)
	if len(f) < 4 {
		return 0, false
	}
	run, _, ok := bytes.Cut(f[3], []byte{'/'})
	if !ok || len(run) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range run {
		if c < '0' || c > '9' || n > 1<<30 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// Close releases the file.
func (r *Reader) Close() error { return r.f.Close() }

// Online is the number of CPUs online, from
// /sys/devices/system/cpu/online ("0-63", "0,2-5"), or 0 where it cannot
// be read. The runnable count is machine-wide: a process confined to some
// of the CPUs (its affinity mask, a container's cpuset) sees its share
// of it.
func Online() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return 0
	}
	return parseList(strings.TrimSpace(string(b)))
}

// parseList counts the CPUs of a kernel CPU list ("0-3,8,10-11"), or 0
// for a malformed one.
func parseList(s string) int {
	n := 0
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		n += b - a + 1
	}
	return n
}
