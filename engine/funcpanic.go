package engine

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// funcPanic carries a Func's panic, with the piece it happened on and the
// stack where it happened, from callFunc up to whoever recovers it: the
// worker's call (which exits with exitPanic) or an in-process goroutine
// (which makes it the call's *WorkerError).
type funcPanic struct {
	lo, hi uint64
	value  any
	stack  string
}

func (p *funcPanic) Error() string {
	return fmt.Sprintf("panicked on [%d, %d): %v", p.lo, p.hi, p.value)
}

// asFuncPanic is what recover returned, as the Func's panic. Anything else
// is the engine's own bug, not the Func's to hide: it panics again.
func asFuncPanic(r any) *funcPanic {
	fp, ok := r.(*funcPanic)
	if !ok {
		panic(r)
	}
	return fp
}

// inProcess is the call's error for a panic on participant worker of
// the calling process, running the Func called name: the same
// *WorkerError as a worker process's panic.
func (p *funcPanic) inProcess(name string, worker int) *WorkerError {
	return &WorkerError{Worker: worker, Pid: os.Getpid(), How: howPanicked, When: "while summing", Func: name,
		Lo: p.lo, Hi: p.hi, Cause: oneLine(fmt.Sprint(p.value)), Stack: p.stack}
}

// callFunc calls j.f on [a, b), turning a panic into a *funcPanic.
func callFunc(j job, a, b uint64) float64 {
	defer func() {
		if r := recover(); r != nil {
			panic(&funcPanic{lo: a, hi: b, value: r, stack: string(debug.Stack())})
		}
	}()
	return j.f(j.params, a, b)
}

// callVector calls j.vf on [a, b) into v, as callFunc calls j.f.
func callVector(j job, a, b uint64, v *Vector) {
	defer func() {
		if r := recover(); r != nil {
			panic(&funcPanic{lo: a, hi: b, value: r, stack: string(debug.Stack())})
		}
	}()
	j.vf(j.params, a, b, v)
}

// The panic report a worker prints to stderr: one line the parent parses,
// then the stack.
//
//	pishm-func-panic LO HI "VALUE"
//	goroutine 1 [running]: ...
const panicTag = "pishm-func-panic "

func (p *funcPanic) report() string {
	return fmt.Sprintf("%s%d %d %s\n%s", panicTag, p.lo, p.hi, strconv.Quote(oneLine(fmt.Sprint(p.value))), p.stack)
}

type panicReport struct {
	lo, hi       uint64
	cause, stack string
}

func parsePanicReport(text string) (panicReport, bool) {
	first, stack, _ := strings.Cut(text, "\n")
	rest, ok := strings.CutPrefix(first, panicTag)
	if !ok {
		return panicReport{}, false
	}
	var r panicReport
	var quoted string
	if n, _ := fmt.Sscanf(rest, "%d %d %q", &r.lo, &r.hi, &quoted); n != 3 {
		return panicReport{}, false
	}
	r.cause, r.stack = quoted, strings.TrimSpace(stack)
	return r, true
}
