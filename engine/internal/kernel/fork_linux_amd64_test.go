//go:build gc && !purego && !noasm

package kernel

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// forkArea is what a forked worker shares with its parent in these tests,
// in a MAP_SHARED anonymous mapping; its records are in another.
type forkArea struct {
	pid, state, arrived, gen, finished, sleepers atomic.Uint32
	progress                                     atomic.Uint64
	elapsed                                      atomic.Int64
	out                                          ForkOut
}

func sharedArea(t testing.TB) *forkArea {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, int(unsafe.Sizeof(forkArea{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return (*forkArea)(unsafe.Pointer(&b[0]))
}

// sharedRecords returns n records in a MAP_SHARED anonymous mapping.
func sharedRecords(t testing.TB, n int) []ForkPiece {
	t.Helper()
	if n == 0 {
		return nil
	}
	b, err := syscall.Mmap(-1, 0, n*int(unsafe.Sizeof(ForkPiece{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return unsafe.Slice((*ForkPiece)(unsafe.Pointer(&b[0])), n)
}

// forkStart forks a worker for share on the calling goroutine's thread,
// which must be locked (the child dies with the thread that forked it),
// and waits for it to arrive.
func forkStart(t testing.TB, a *forkArea, recs []ForkPiece, share ForkShare) int {
	t.Helper()
	*a = forkArea{}
	task := &ForkTask{Ppid: uint64(os.Getpid()), Pid: &a.pid, State: &a.state, Arrived: &a.arrived, Gen: &a.gen, GenSleepers: &a.sleepers,
		Progress: &a.progress, Elapsed: &a.elapsed, Finished: &a.finished, Out: &a.out, Pieces: recs,
		StateArrived: 1, StateRunning: 2, Quit: math.MaxUint32, Share: share}
	pid, err := Fork(task)
	if err != nil {
		t.Fatal(err)
	}
	for a.arrived.Load() == 0 {
		time.Sleep(10 * time.Microsecond)
	}
	if got := a.pid.Load(); got != uint32(pid) || a.state.Load() != 1 {
		t.Errorf("after arriving: pid word %d (want %d), state %d (want 1)", got, pid, a.state.Load())
	}
	return pid
}

// forkReap waits for the worker pid to exit and checks that it exited 0
// after finishing call gen of share.
func forkReap(t testing.TB, a *forkArea, share ForkShare, pid int, gen uint32) {
	t.Helper()
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		if err != syscall.EINTR {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	if !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("child: %v", ws)
	}
	if terms := share.hi - share.lo; a.out.Done.Load() != gen || a.state.Load() != 2 || a.progress.Load() != terms || a.finished.Load() != 1 || a.elapsed.Load() < 0 || a.sleepers.Load() != 0 {
		t.Errorf("after the call: done %d (want %d), state %d, progress %d (want %d), finished %d, elapsed %d, sleepers %d",
			a.out.Done.Load(), gen, a.state.Load(), a.progress.Load(), terms, a.finished.Load(), a.elapsed.Load(), a.sleepers.Load())
	}
}

// forkOnce runs share in a forked worker over recs and returns each
// piece's Value, in order.
func forkOnce(t testing.TB, a *forkArea, recs []ForkPiece, share ForkShare, gen uint32) []float64 {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid := forkStart(t, a, recs, share)
	startCall(a, gen)
	forkReap(t, a, share, pid, gen)
	v := make([]float64, share.Pieces())
	for k := range v {
		v[k] = share.Value(k, &recs[k])
	}
	return v
}

// startCall starts call gen as the engine's parent does: gen, then a
// wake-up only if somebody sleeps on it.
func startCall(a *forkArea, gen uint32) {
	a.gen.Store(gen)
	if a.sleepers.Load() != 0 {
		futexWakeAll(&a.gen)
	}
}

func futexWakeAll(w *atomic.Uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), 1, math.MaxInt32, 0, 0, 0)
}

// forkKernel is the kernel called name with its lanes, or a skip.
func forkKernel(t testing.TB, name string) (Kernel, uint64) {
	t.Helper()
	k, err := ByName(name)
	if err != nil {
		t.Skip(err)
	}
	return k, map[string]uint64{"avx2": 4, "avx512": 8}[name]
}

// TestForkWorker runs each fork kernel in a real forked child over shares
// of one and of many pieces (grains that are and are not multiples of the
// kernel's 4L terms, pieces with and without whole iterations and top
// terms, far out in the series), and requires every piece's Value to be
// the kernel's Sum of the piece bit for bit: what an exec'd worker adds
// for the piece. The records start as NaNs, so a Value that read a record
// the child did not write would show.
func TestForkWorker(t *testing.T) {
	a := sharedArea(t)
	for _, name := range ForkKernels {
		t.Run("kernel="+name, func(t *testing.T) {
			k, lanes := forkKernel(t, name)
			for _, r := range [][3]uint64{
				{0, 0, 1}, {5, 5, 7}, {0, 1, 1}, {0, 31, 1}, {0, 31, 64}, {0, 32, 32}, {3, 100, 16}, {3, 100, 7},
				{7, 1e6 + 3, 1e6}, {7, 1e6 + 3, 1 << 16}, {1e9, 1e9 + 12345, 1000}, {0, 1e5 + 1, 33},
				{0, 1e7 + 7, 1 << 16}, {1e12 + 1, 1e12 + 1 + 5e5 + 3, 4096}, {MaxIndex - 1e5 - 9, MaxIndex, 1 << 12},
			} {
				lo, hi, grain := r[0], r[1], r[2]
				s, err := NewForkShare(name, lo, hi, grain)
				if err != nil {
					t.Fatal(err)
				}
				if want := int((hi - lo + grain - 1) / grain); s.Pieces() != want {
					t.Fatalf("[%d, %d) grain %d: %d pieces, want %d", lo, hi, grain, s.Pieces(), want)
				}
				recs := sharedRecords(t, s.Pieces())
				for i := range recs {
					for j := range 8 {
						recs[i].Sum[j], recs[i].Comp[j] = math.NaN(), math.NaN()
					}
				}
				got := forkOnce(t, a, recs, s, 7)
				bad := 0
				for p, v := range got {
					plo, phi := s.Piece(p)
					if plo != lo+uint64(p)*grain || phi != min(hi, plo+grain) {
						t.Fatalf("piece %d of [%d, %d) grain %d: [%d, %d)", p, lo, hi, grain, plo, phi)
					}
					want := k.Sum(plo, phi)
					if math.Float64bits(v) != math.Float64bits(want) || math.Float64bits(sumLanes(plo, phi, lanes)) != math.Float64bits(want) {
						if bad++; bad <= 5 {
							t.Errorf("[%d, %d) grain %d: piece %d [%d, %d): fork %.17g, %s.Sum %.17g", lo, hi, grain, p, plo, phi, v, name, want)
						}
					}
				}
				if bad > 0 {
					t.Errorf("[%d, %d) grain %d: %d of %d pieces differ", lo, hi, grain, bad, len(got))
				}
			}
		})
	}
	if _, err := NewForkShare("generic", 0, 10, 1); err == nil {
		t.Error("NewForkShare(generic) did not fail")
	}
}

// TestForkShareLimits: a share over MaxForkPieces, a zero grain and a
// task whose records do not match its pieces are refused.
func TestForkShareLimits(t *testing.T) {
	name := ForkKernels[len(ForkKernels)-1]
	forkKernel(t, name)
	if s, err := NewForkShare(name, 10, 10+MaxForkPieces*3, 3); err != nil || s.Pieces() != MaxForkPieces {
		t.Errorf("MaxForkPieces pieces: %v, %d pieces", err, s.Pieces())
	}
	if _, err := NewForkShare(name, 10, 11+MaxForkPieces*3, 3); err == nil || !strings.Contains(err.Error(), "MaxForkPieces") {
		t.Errorf("MaxForkPieces+1 pieces: %v", err)
	}
	if _, err := NewForkShare(name, 0, 10, 0); err == nil {
		t.Error("grain 0 did not fail")
	}
	a := sharedArea(t)
	s, _ := NewForkShare(name, 0, 100, 10)
	task := &ForkTask{Pid: &a.pid, State: &a.state, Arrived: &a.arrived, Gen: &a.gen, GenSleepers: &a.sleepers, Progress: &a.progress,
		Elapsed: &a.elapsed, Finished: &a.finished, Out: &a.out, Pieces: make([]ForkPiece, 9), Share: s}
	if _, err := Fork(task); err == nil || !strings.Contains(err.Error(), "9 records for 10 pieces") {
		t.Errorf("Fork with 9 records for 10 pieces: %v", err)
	}
}

// TestForkWorkerProgress watches a forked worker's progress word while it
// sums a long share: it rises piece by piece (whole pieces, never back)
// and ends at the share's terms.
func TestForkWorkerProgress(t *testing.T) {
	name := ForkKernels[len(ForkKernels)-1]
	forkKernel(t, name)
	const grain = 1 << 16
	s, err := NewForkShare(name, 1e6, 1e6+2e9+5, grain) // a few tenths of a second
	if err != nil {
		t.Fatal(err)
	}
	a := sharedArea(t)
	recs := sharedRecords(t, s.Pieces())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid := forkStart(t, a, recs, s)
	startCall(a, 3)
	terms := s.hi - s.lo
	var last uint64
	seen := 0
	for deadline := time.Now().Add(time.Minute); last != terms; {
		p := a.progress.Load()
		if p < last || p > terms || p%grain != 0 && p != terms || time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("progress %d after %d (share %d terms, grain %d)", p, last, terms, grain)
		}
		if p != last && p != terms {
			seen++
		}
		last = p
		time.Sleep(50 * time.Microsecond)
	}
	forkReap(t, a, s, pid, 3)
	if seen == 0 {
		t.Errorf("saw no progress between 0 and %d", terms)
	}
	t.Logf("saw %d intermediate progress values of %d pieces", seen, s.Pieces())
}

// BenchmarkForkWorker times a forked worker's kernel work (its Elapsed
// word: from seeing the call to its last record) over 2^28 terms: in one
// piece (the whole share in one kernel call, as a forked worker summed
// before the piece grid), in pieces of the engine's default grain, and in
// small pieces. What the pieces add is the child's page faults on the
// records (one per 32 pieces: the child inherits no page table entries of
// a shared mapping), not the kernel calls.
func BenchmarkForkWorker(b *testing.B) {
	const lo, n = 1e6, 1 << 28
	for _, name := range ForkKernels {
		b.Run("kernel="+name, func(b *testing.B) {
			forkKernel(b, name)
			for _, grain := range []uint64{n, 1 << 16, 1 << 12} {
				b.Run(fmt.Sprintf("grain=%d", grain), func(b *testing.B) {
					s, err := NewForkShare(name, lo, lo+n, grain)
					if err != nil {
						b.Fatal(err)
					}
					a := sharedArea(b)
					recs := sharedRecords(b, s.Pieces())
					var ns int64
					for b.Loop() {
						forkOnce(b, a, recs, s, 1)
						ns += a.elapsed.Load()
					}
					b.ReportMetric(float64(ns)/float64(b.N)/n, "child-ns/term")
				})
			}
		})
	}
}

// TestForkWorkerSleeps: a forked worker asleep on gen has said so in the
// sleepers word, so a parent that wakes only sleepers it knows of wakes it.
func TestForkWorkerSleeps(t *testing.T) {
	name := ForkKernels[len(ForkKernels)-1]
	k, _ := forkKernel(t, name)
	a := sharedArea(t)
	s, _ := NewForkShare(name, 100, 100000, 1000)
	recs := sharedRecords(t, s.Pieces())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	pid := forkStart(t, a, recs, s)
	for deadline := time.Now().Add(10 * time.Second); a.sleepers.Load() != 1 || !asleep(pid); {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("sleepers %d after 10 s", a.sleepers.Load())
		}
		time.Sleep(100 * time.Microsecond)
	}
	startCall(a, 5)
	forkReap(t, a, s, pid, 5)
	for p := range s.Pieces() {
		lo, hi := s.Piece(p)
		if v, want := s.Value(p, &recs[p]), k.Sum(lo, hi); math.Float64bits(v) != math.Float64bits(want) {
			t.Errorf("piece %d [%d, %d): %.17g, want %.17g", p, lo, hi, v, want)
		}
	}
}

// asleep reports whether process pid is in an interruptible sleep.
func asleep(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(b), ") ")
	return ok && strings.HasPrefix(rest, "S")
}

// TestForkWorkerQuit: a forked worker that sees Quit instead of a call
// exits 0 without touching its output.
func TestForkWorkerQuit(t *testing.T) {
	if !cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		t.Skip("no avx2")
	}
	a := sharedArea(t)
	s, _ := NewForkShare("avx2", 0, 1000, 100)
	recs := sharedRecords(t, s.Pieces())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	task := &ForkTask{Ppid: uint64(os.Getpid()), Pid: &a.pid, State: &a.state, Arrived: &a.arrived, Gen: &a.gen, GenSleepers: &a.sleepers,
		Progress: &a.progress, Elapsed: &a.elapsed, Finished: &a.finished, Out: &a.out, Pieces: recs,
		StateArrived: 1, StateRunning: 2, Quit: math.MaxUint32, Share: s}
	pid, err := Fork(task)
	if err != nil {
		t.Fatal(err)
	}
	a.gen.Store(math.MaxUint32)
	futexWakeAll(&a.gen)
	var ws syscall.WaitStatus
	for {
		if _, err := syscall.Wait4(pid, &ws, 0, nil); err != syscall.EINTR {
			break
		}
	}
	if !ws.Exited() || ws.ExitStatus() != 0 || a.out.Done.Load() != 0 || a.state.Load() == 2 || a.progress.Load() != 0 || recs[0] != (ForkPiece{}) {
		t.Errorf("quit: status %v, done %d, state %d, progress %d, record %v", ws, a.out.Done.Load(), a.state.Load(), a.progress.Load(), recs[0])
	}
}
