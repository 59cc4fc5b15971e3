package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pishm/pishm/engine/internal/opt"
)

// ErrWorkerDied is wrapped by a call's error when a worker process exits
// non-zero or by a signal; errors.As with *WorkerError gives the details.
var ErrWorkerDied = errors.New("engine: worker died")

// ErrFuncPanicked is wrapped by a call's error when its Func panicked:
// in a worker process, or in the calling process (the goroutines mode, a
// Pool's small call, the caller's share). errors.As with *WorkerError
// gives the details, the same wherever it happened.
var ErrFuncPanicked = errors.New("engine: the Func panicked")

// WorkerError says which worker failed, when and how: a process that
// died, or a Func that panicked in a worker process or in the calling
// process (Pid is then the caller's, and Worker the participant's
// index). Error() is one line; what the worker printed is in Stderr, a
// panic's stack in Stack.
type WorkerError struct {
	Worker  int    `json:"worker"`
	Attempt int    `json:"attempt"`          // retries of the range before this process: 0 for the first try
	Pid     int    `json:"pid"`              //
	How     string `json:"how"`              // "exit status 1", "signal: killed", "panicked", ...
	When    string `json:"when"`             // "before attaching", "while summing", ...
	Func    string `json:"func,omitempty"`   // the Func of the call, "" outside one
	Lo      uint64 `json:"lo,omitempty"`     // the terms it was working on, when known (Hi > Lo)
	Hi      uint64 `json:"hi,omitempty"`     //
	Cause   string `json:"cause,omitempty"`  // one line: the panic value or the worker's own error
	Hint    string `json:"hint,omitempty"`   // what to do about it, when the engine can tell
	Stderr  string `json:"stderr,omitempty"` // the tail of what it printed
	Stack   string `json:"stack,omitempty"`  // a panicking Func's stack
	// NoRetriesLeft is set when this death ended the call because its
	// retries had run out.
	NoRetriesLeft bool `json:"no_retries_left,omitempty"`
	// Action is what the call did about a death it survived (one of
	// Result.Failures): "retried", "replaced" or "kept its published
	// result". It is "" in an error that ended the call.
	Action string `json:"action,omitempty"`
}

func (e *WorkerError) Error() string {
	var b strings.Builder
	// The text counts retries as Attempt does: a first try says none.
	if e.Attempt > 0 {
		fmt.Fprintf(&b, "engine: worker %d (pid %d, retry %d) ", e.Worker, e.Pid, e.Attempt)
	} else {
		fmt.Fprintf(&b, "engine: worker %d (pid %d) ", e.Worker, e.Pid)
	}
	if e.How == howPanicked {
		b.WriteString("panicked")
	} else {
		b.WriteString("died")
		if e.When != "" {
			b.WriteString(" " + e.When)
		}
	}
	if e.Func != "" {
		fmt.Fprintf(&b, " in %q", e.Func)
	}
	if e.Hi > e.Lo {
		fmt.Fprintf(&b, " on [%d, %d)", e.Lo, e.Hi)
	}
	if e.How != howPanicked {
		b.WriteString(": " + e.How)
	}
	if e.Cause != "" {
		b.WriteString(": " + e.Cause)
	}
	if e.Hint != "" {
		b.WriteString(" (" + e.Hint + ")")
	}
	if e.NoRetriesLeft {
		b.WriteString("; no retries left")
	}
	return b.String()
}

// howPanicked is WorkerError.How for a Func that panicked in a worker.
const howPanicked = "panicked"

// oneLine is s cut to its first line, and to at most 300 bytes.
func oneLine(s string) string {
	s, _, cut := strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s, cut = s[:300], true
	}
	if cut {
		s += " …"
	}
	return s
}

// Unwrap is ErrFuncPanicked for a panic, else ErrWorkerDied.
func (e *WorkerError) Unwrap() error {
	if e.How == howPanicked {
		return ErrFuncPanicked
	}
	return ErrWorkerDied
}

// ErrInexact is wrapped by the error of a call whose sum is further than
// 1e-15 (relative) from its Func's closed form (WithClosedForm), whatever
// the cause. The Result is returned with it, its fields the numbers:
// Value, ClosedForm and RelError.
var ErrInexact = errors.New("engine: the sum is wrong")

// workerResult is one worker's share of a call, which lab.Run reports
// (opt.Lab.Detail).
type workerResult = opt.WorkerResult
