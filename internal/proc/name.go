package proc

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Self is this process's tag, "PID-START", for a name that says who made
// a resource (prefix + tag + "-" + random), or "" when the start time
// cannot be read (then a name cannot be judged later: make none).
var Self = sync.OnceValue(func() string {
	pid := os.Getpid()
	start := Start(pid)
	if start == 0 {
		return ""
	}
	return strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10)
})

// ParseName reads the creator out of a name made of prefix, then
// PID-START-RANDOM (RANDOM without dashes). ok is false for a name of
// another shape, or START 0.
func ParseName(name, prefix string) (pid int, start uint64, ok bool) {
	rest, found := strings.CutPrefix(name, prefix)
	if !found {
		return 0, 0, false
	}
	f := strings.SplitN(rest, "-", 3)
	if len(f) != 3 || f[2] == "" || strings.Contains(f[2], "-") {
		return 0, 0, false
	}
	p, err1 := strconv.Atoi(f[0])
	s, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || p <= 0 || s == 0 {
		return 0, 0, false
	}
	return p, s, true
}

// BootTime is when the system booted, in Unix seconds (/proc/stat's
// btime): process start times count clock ticks from it.
func BootTime() (int64, bool) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			boot, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return boot, err == nil
		}
	}
	return 0, false
}

// ClockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture Go supports.
const ClockTicks = 100
