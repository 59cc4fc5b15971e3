//go:build gc && !purego && !noasm

package kernel

import (
	"math"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// forkArea is what a forked worker shares with its parent in these tests,
// in a MAP_SHARED anonymous mapping.
type forkArea struct {
	pid, state, arrived, gen, finished atomic.Uint32
	progress                           atomic.Uint64
	elapsed                            atomic.Int64
	out                                ForkOut
}

func sharedArea(t *testing.T) *forkArea {
	t.Helper()
	b, err := syscall.Mmap(-1, 0, int(unsafe.Sizeof(forkArea{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Munmap(b) })
	return (*forkArea)(unsafe.Pointer(&b[0]))
}

// forkOnce runs share in a forked worker on a locked thread and returns
// the parent's Result, with the words the child left.
func forkOnce(t *testing.T, a *forkArea, share ForkShare, gen uint32) float64 {
	t.Helper()
	*a = forkArea{}
	task := &ForkTask{Ppid: uint64(os.Getpid()), Pid: &a.pid, State: &a.state, Arrived: &a.arrived, Gen: &a.gen,
		Progress: &a.progress, Elapsed: &a.elapsed, Finished: &a.finished, Out: &a.out,
		StateArrived: 1, StateRunning: 2, Quit: math.MaxUint32, Share: share}
	runtime.LockOSThread() // the child dies with the thread that forked it
	defer runtime.UnlockOSThread()
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
	a.gen.Store(gen)
	futexWakeAll(&a.gen)
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
	if a.out.Done.Load() != gen || a.state.Load() != 2 || a.progress.Load() != share.terms || a.finished.Load() != 1 || a.elapsed.Load() < 0 {
		t.Errorf("after the call: done %d (want %d), state %d, progress %d (want %d), finished %d, elapsed %d",
			a.out.Done.Load(), gen, a.state.Load(), a.progress.Load(), share.terms, a.finished.Load(), a.elapsed.Load())
	}
	return share.Result(&a.out)
}

func futexWakeAll(w *atomic.Uint32) {
	syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(w)), 1, math.MaxInt32, 0, 0, 0)
}

// TestForkWorker runs each fork kernel in a real forked child over ranges
// with and without whole iterations and tails, and requires the parent's
// Result to equal sumLanes bit for bit.
func TestForkWorker(t *testing.T) {
	a := sharedArea(t)
	for _, k := range All() {
		lanes := map[string]uint64{"avx2": 4, "avx512": 8}[k.Name]
		if lanes == 0 {
			continue
		}
		t.Run("kernel="+k.Name, func(t *testing.T) {
			if !cpuid.CPU.Supports(k.Requires...) {
				t.Skipf("CPU lacks %v", k.Requires)
			}
			for _, r := range [][2]uint64{{0, 0}, {5, 5}, {0, 1}, {0, 31}, {0, 32}, {3, 100}, {7, 1e6 + 3}, {1e9, 1e9 + 12345}, {0, 1e7 + 7}} {
				s, err := NewForkShare(k.Name, r[0], r[1])
				if err != nil {
					t.Fatal(err)
				}
				got := forkOnce(t, a, s, 7)
				if want := sumLanes(r[0], r[1], lanes); math.Float64bits(got) != math.Float64bits(want) {
					t.Errorf("[%d, %d): fork %.17g, sumLanes %.17g", r[0], r[1], got, want)
				}
			}
		})
	}
	if _, err := NewForkShare("generic", 0, 10); err == nil {
		t.Error("NewForkShare(generic) did not fail")
	}
}

// TestForkWorkerQuit: a forked worker that sees Quit instead of a call
// exits 0 without touching its output.
func TestForkWorkerQuit(t *testing.T) {
	if !cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		t.Skip("no avx2")
	}
	a := sharedArea(t)
	s, _ := NewForkShare("avx2", 0, 1000)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	task := &ForkTask{Ppid: uint64(os.Getpid()), Pid: &a.pid, State: &a.state, Arrived: &a.arrived, Gen: &a.gen,
		Progress: &a.progress, Elapsed: &a.elapsed, Finished: &a.finished, Out: &a.out,
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
	if !ws.Exited() || ws.ExitStatus() != 0 || a.out.Done.Load() != 0 || a.state.Load() == 2 {
		t.Errorf("quit: status %v, done %d, state %d", ws, a.out.Done.Load(), a.state.Load())
	}
}
