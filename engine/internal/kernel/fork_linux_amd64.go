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
// The range is cut into pieces of a grain of terms counted from its first
// (the engine's piece grid), and the child runs the kernel once per piece,
// leaving each piece's raw lanes in a ForkPiece record. The parent computes
// what the Go wrapper sumLanes adds around the kernel (the top
// (hi-lo)%(4L) terms and the fold of the lanes) after the child has
// exited: ForkShare.Value(k, rec) is sumLanes of piece k, that is the
// kernel's Sum of the piece, bit for bit.

// MaxForkPieces bounds the pieces of one forked call, every worker's share
// together: each piece is one ForkPiece record (128 bytes) in memory shared
// with the children, so the records of a call take at most 32 MiB (only
// those written are ever touched). The engine's default grid has at most
// 1024 pieces up to 2^40 terms; a small grain set by hand allows fewer
// terms (2^34 at 2^16 terms a piece).
const MaxForkPieces = 1 << 18

// ForkPiece is the record a forked worker leaves for one piece of its
// share: the blocks kernel's raw lanes, the sums and the compensations (the
// first L of each). A piece with no whole iteration of 4L terms has no
// lanes: the worker leaves its record as it was, and Value never reads it.
type ForkPiece struct {
	Sum, Comp [8]float64
}

// ForkShare is one forked worker's share of the series: [lo, hi) cut into
// pieces of grain terms from lo, each summed as the kernel's Go wrapper
// sums it, with the blocks kernel of L lanes over its whole iterations in
// the child and the top terms in Go by the parent.
type ForkShare struct {
	lo, hi uint64
	grain  uint64 // terms per piece (the last may be shorter)
	pieces uint64
	lanes  uint64 // L: 4 (avx2) or 8 (avx512)
	shift  uint64 // log2(4L): iterations = terms >> shift
	mBias  uint64 // 5L-1: the kernel's m is 2*top - mBias (see lanesPlan)
	kernel string
}

// ForkKernels are the kernels a forked worker can run: those whose work on
// a piece is one call of an assembly routine.
var ForkKernels = []string{"avx512", "avx2"}

// NewForkShare plans the share [lo, hi), in pieces of grain terms counted
// from lo, for the kernel called name, which must be one of ForkKernels and
// supported by this CPU. The share may have at most MaxForkPieces pieces.
func NewForkShare(name string, lo, hi, grain uint64) (ForkShare, error) {
	var lanes, shift uint64
	switch name {
	case "avx2":
		lanes, shift = 4, 4
	case "avx512":
		lanes, shift = 8, 5
	default:
		return ForkShare{}, fmt.Errorf("kernel: %q cannot run in a forked worker (want one of %v)", name, ForkKernels)
	}
	k, err := ByName(name)
	if err != nil {
		return ForkShare{}, err
	}
	if grain == 0 {
		return ForkShare{}, fmt.Errorf("kernel: a forked worker's pieces need a grain of at least one term")
	}
	checkRange(hi)
	grain = min(grain, MaxIndex) // the same pieces, and lo + grain cannot wrap
	s := ForkShare{lo: lo, hi: max(lo, hi), grain: grain, lanes: lanes, shift: shift, mBias: 5*lanes - 1, kernel: k.Name}
	s.pieces = (s.hi - s.lo + grain - 1) / grain
	if s.pieces > MaxForkPieces {
		return ForkShare{}, fmt.Errorf("kernel: [%d, %d) in pieces of %d terms makes %d pieces, over MaxForkPieces = %d", lo, hi, grain, s.pieces, MaxForkPieces)
	}
	return s, nil
}

// Pieces is how many pieces the share has: the ForkPiece records its
// worker writes.
func (s ForkShare) Pieces() int { return int(s.pieces) }

// Piece returns piece k's range.
func (s ForkShare) Piece(k int) (lo, hi uint64) {
	lo = s.lo + uint64(k)*s.grain
	return lo, min(s.hi, lo+s.grain)
}

// Value returns the value of piece k, sumLanes of its range (the kernel's
// Sum) bit for bit, from rec, the record a forked worker left for it. Read
// the records only after the worker has exited, and only if its ForkOut.Done
// says it finished the call.
func (s ForkShare) Value(k int, rec *ForkPiece) float64 {
	lo, hi := s.Piece(k)
	n, top, _ := lanesPlan(lo, hi, s.lanes)
	return lanesValue(n, top, hi, rec.Sum[:s.lanes], rec.Comp[:s.lanes])
}

// ForkOut is a forked worker's header: Done, the call it finished
// (store-release: every record is whole before Done is set).
type ForkOut struct {
	Done atomic.Uint32
	_    [124]byte // to 128 bytes: no two workers' headers share a cache line, or a prefetched pair
}

// ForkTask is everything a forked worker reads. It is a Go value in the
// parent; the child reads its own copy of it, made at the fork. The
// pointers all point into memory shared with the parent (MAP_SHARED), the
// only memory through which the child's work can reach it.
type ForkTask struct {
	Ppid    uint64         // the parent's pid: the child exits at once if its parent is another
	Pid     *atomic.Uint32 // the child stores its pid here first
	State   *atomic.Uint32 // then StateArrived; StateRunning once the call starts
	Arrived *atomic.Uint32 // then adds one here and wakes its futex sleepers
	Gen     *atomic.Uint32 // then sleeps on this futex while it is 0, exits if Quit
	// GenSleepers is one more during each of the child's sleeps on Gen
	// (the engine's parent wakes Gen only when it is not 0).
	GenSleepers *atomic.Uint32
	Progress    *atomic.Uint64 // after each piece, the share's terms done so far
	Elapsed     *atomic.Int64  // at the end, ns from seeing Gen to the last record stored
	Finished    *atomic.Uint32 // last, adds one here and wakes its futex sleepers
	Out         *ForkOut
	Pieces      []ForkPiece // Share.Pieces() records, one per piece in order

	StateArrived, StateRunning, Quit uint32

	Share ForkShare

	// Name is the child's name, NUL-terminated ("pishm worker 3"): the
	// child sets it with prctl(PR_SET_NAME), so that ps -o comm and top
	// tell a forked worker from its parent, whose command line (ps -f) it
	// keeps.
	Name [16]byte
}

// forkWorker makes the child that runs t (see fork_linux_amd64.s). In the
// parent it returns the child's pid, or -errno if clone failed; the child
// never returns.
//
//go:noescape
func forkWorker(t *ForkTask) (pid int64)

// Fork starts a forked worker for t and returns its pid. It must be called
// on a thread that outlives the child (the child asks for SIGKILL when the
// thread that forked it exits); t.Out.Done must be 0. The records need not
// be cleared: the worker writes every one that Value reads.
func Fork(t *ForkTask) (int, error) {
	if t.Share.lanes == 0 || t.Pid == nil || t.State == nil || t.Arrived == nil || t.Gen == nil || t.GenSleepers == nil ||
		t.Progress == nil || t.Elapsed == nil || t.Finished == nil || t.Out == nil {
		return 0, fmt.Errorf("kernel: Fork: incomplete task")
	}
	if len(t.Pieces) != t.Share.Pieces() {
		return 0, fmt.Errorf("kernel: Fork: %d records for %d pieces", len(t.Pieces), t.Share.Pieces())
	}
	pid := forkWorker(t)
	if pid < 0 {
		return 0, os.NewSyscallError("clone", syscall.Errno(-pid))
	}
	return int(pid), nil
}
