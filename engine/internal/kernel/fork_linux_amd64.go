//go:build gc && !purego && !noasm

package kernel

import (
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
)

// A forked worker is a child process made by clone without CLONE_VM and
// without exec: a copy of the parent that runs one of the blocks kernels
// over a static range and exits. It never runs a single instruction of Go
// code, because the Go runtime in the copy is in whatever state the
// parent's other threads left it at the fork (locks held, a stop-the-world
// half done, a preemption request pending) and cannot be made to work
// there. See forkWorker in fork_linux_amd64.s for the conditions and why
// each one matters.
//
// The parent computes what the Go wrapper sumLanes adds around the
// kernel (the top (hi-lo)%(4L) terms and the fold of the lanes) after the
// child has exited, from the raw lanes the child leaves in a ForkOut:
// ForkShare.Result is sumLanes(lo, hi, L), bit for bit.

// ForkShare is one forked worker's share of the series: [lo, hi) summed
// with the blocks kernel of L lanes over its whole iterations [lo, top),
// the rest [top, hi) in Go by the parent.
type ForkShare struct {
	m      float64 // the kernel's m for the top iteration (0 when iters is 0)
	iters  uint64  // whole iterations of 4L terms in [lo, top)
	lanes  uint64  // L: 4 (avx2) or 8 (avx512)
	terms  uint64  // hi - lo, stored into the progress word at the end
	top    uint64
	hi     uint64
	kernel string
}

// ForkKernels are the kernels a forked worker can run: those whose whole
// work is one call of an assembly routine.
var ForkKernels = []string{"avx512", "avx2"}

// NewForkShare plans the share [lo, hi) for the kernel called name, which
// must be one of ForkKernels and supported by this CPU.
func NewForkShare(name string, lo, hi uint64) (ForkShare, error) {
	var lanes uint64
	switch name {
	case "avx2":
		lanes = 4
	case "avx512":
		lanes = 8
	default:
		return ForkShare{}, fmt.Errorf("kernel: %q cannot run in a forked worker (want one of %v)", name, ForkKernels)
	}
	k, err := ByName(name)
	if err != nil {
		return ForkShare{}, err
	}
	checkRange(hi)
	s := ForkShare{lanes: lanes, top: lo, hi: hi, kernel: k.Name}
	if hi <= lo {
		s.top = hi
		return s, nil
	}
	s.terms = hi - lo
	n := s.terms / (4 * lanes)
	s.iters = n
	s.top = lo + n*4*lanes
	if n > 0 {
		// As sumLanes: m = 2k+1+3L for the lowest k of the top iteration.
		s.m = float64(2*(s.top-4*lanes) + 1 + 3*lanes)
	}
	return s, nil
}

// Result is the share's sum, sumLanes(lo, hi, L) bit for bit, from the raw
// lanes a forked worker left in out (read only after the worker has
// exited, and only if out.Done says it finished).
func (s ForkShare) Result(out *ForkOut) float64 {
	tail := blockGeneric(s.top, s.hi)
	if s.iters == 0 {
		return tail
	}
	return fold(tail, out.Sum[:s.lanes], out.Comp[:s.lanes])
}

// ForkOut is where a forked worker leaves its kernel's raw result: the
// lanes' sums and compensations (the first L of each), then Done, the call
// it finished (store-release: the lanes are whole before Done is set).
type ForkOut struct {
	Sum, Comp [8]float64
	Done      atomic.Uint32
	_         [60]byte // to 192 bytes: no two workers' areas share a cache line
}

// ForkTask is everything a forked worker reads. It is a Go value in the
// parent; the child reads its own copy of it, made at the fork. The
// pointers all point into memory shared with the parent (MAP_SHARED), the
// only memory through which the child's work can reach it.
type ForkTask struct {
	Ppid     uint64         // the parent's pid: the child exits at once if its parent is another
	Pid      *atomic.Uint32 // the child stores its pid here first
	State    *atomic.Uint32 // then StateArrived; StateRunning once the call starts
	Arrived  *atomic.Uint32 // then adds one here and wakes its futex sleepers
	Gen      *atomic.Uint32 // then sleeps on this futex while it is 0, exits if Quit
	Progress *atomic.Uint64 // at the end, the share's term count
	Elapsed  *atomic.Int64  // at the end, ns from seeing Gen to the lanes stored
	Finished *atomic.Uint32 // last, adds one here and wakes its futex sleepers
	Out      *ForkOut

	StateArrived, StateRunning, Quit uint32

	Share ForkShare
}

// forkWorker makes the child that runs t (see fork_linux_amd64.s). In the
// parent it returns the child's pid, or -errno if clone failed; the child
// never returns.
//
//go:noescape
func forkWorker(t *ForkTask) (pid int64)

// Fork starts a forked worker for t and returns its pid. It must be called
// on a thread that outlives the child (the child asks for SIGKILL when the
// thread that forked it exits); t.Out must be zeroed.
func Fork(t *ForkTask) (int, error) {
	if t.Share.lanes == 0 || t.Pid == nil || t.State == nil || t.Arrived == nil || t.Gen == nil ||
		t.Progress == nil || t.Elapsed == nil || t.Finished == nil || t.Out == nil {
		return 0, fmt.Errorf("kernel: Fork: incomplete task")
	}
	pid := forkWorker(t)
	if pid < 0 {
		return 0, os.NewSyscallError("clone", syscall.Errno(-pid))
	}
	return int(pid), nil
}
