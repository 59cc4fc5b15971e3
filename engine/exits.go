package engine

import (
	"os"
	"strconv"
	"strings"

	"github.com/pishm/pishm/engine/internal/spawn"
)

// How the engine reads a reaped worker: its exit status and what it
// wrote to stderr.

// describeExit says how a reaped process ended: nil for exit status 0, else a
// *WorkerError with the tail of what it wrote to stderr, and for a Func
// that panicked, the panic's range, value and stack (see panicReport).
func describeExit(e spawn.Exit) *WorkerError {
	ws := e.Status
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	we := &WorkerError{Worker: e.P.Worker, Attempt: e.P.Attempt, Pid: e.P.Pid}
	switch {
	case ws.Signaled():
		we.How = "signal: " + ws.Signal().String()
	default:
		we.How = "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	we.Stderr, we.Cause = readStderr(e.P.Stderr)
	if ws.Exited() && ws.ExitStatus() == exitPanic {
		if r, ok := parsePanicReport(head(e.P.Stderr, 64<<10)); ok {
			we.How, we.Lo, we.Hi, we.Cause, we.Stack = howPanicked, r.lo, r.hi, r.cause, r.stack
		}
	}
	return we
}

// readStderr returns the tail of what a worker printed, and one line of
// it that says why it ended: a Go runtime's "panic:" or "fatal error:"
// line, else ChildMain's error line (its prefix cut), else the last line.
func readStderr(f *os.File) (text, cause string) {
	text = tail(f, 2048)
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return text, oneLine(l)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if _, rest, ok := strings.Cut(l, childPrefix); ok {
			if _, msg, ok := strings.Cut(rest, ": "); ok {
				l = msg
			}
		}
		return text, oneLine(l)
	}
	return text, ""
}

// tail reads the last max bytes of f.
func tail(f *os.File, limit int64) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	return strings.TrimSpace(string(b[:n]))
}

// head reads the first limit bytes of f.
func head(f *os.File, limit int) string {
	b := make([]byte, limit)
	n, _ := f.ReadAt(b, 0)
	return string(b[:n])
}
