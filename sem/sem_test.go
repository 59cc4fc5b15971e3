//go:build linux

package sem

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// shared is the test's layout in a MAP_SHARED file mapping.
type shared struct {
	m       Mutex
	counter uint64 // incremented non-atomically under s
	inside  atomic.Int32
	overlap atomic.Int32
}

const envChild = "SEM_TEST_CHILD" // "path:iterations"

func TestMain(m *testing.M) {
	if v := os.Getenv(envChild); v != "" {
		os.Exit(child(v))
	}
	os.Exit(m.Run())
}

func mapShared(tb testing.TB, path string, create bool) *shared {
	tb.Helper()
	flags := os.O_RDWR
	if create {
		flags |= os.O_CREATE | os.O_EXCL
	}
	f, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	size := int(unsafe.Sizeof(shared{}))
	if create {
		if err := f.Truncate(int64(size)); err != nil {
			tb.Fatal(err)
		}
	}
	b, err := unix.Mmap(int(f.Fd()), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		tb.Fatal(err)
	}
	return (*shared)(unsafe.Pointer(&b[0]))
}

// child runs in a separate process: it takes the lock iterations times
// and does a non-atomic increment inside, checking nobody else is inside.
func child(v string) int {
	var path string
	var iters int
	fmt.Sscanf(v, "%s %d", &path, &iters)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(unsafe.Sizeof(shared{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	sh := (*shared)(unsafe.Pointer(&b[0]))
	for range iters {
		if err := sh.m.Lock(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if sh.inside.Add(1) != 1 {
			sh.overlap.Add(1)
		}
		c := atomic.LoadUint64(&sh.counter)
		atomic.StoreUint64(&sh.counter, c+1) // load then store: only the lock makes this safe
		sh.inside.Add(-1)
		if err := sh.m.Unlock(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// TestCrossProcessMutex runs real processes contending for the lock.
func TestCrossProcessMutex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sem")
	sh := mapShared(t, path, true)
	const procs, iters = 4, 20000
	var cmds []*exec.Cmd
	for range procs {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChild+"="+path+" "+strconv.Itoa(iters))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, c := range cmds {
		if err := c.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if got := atomic.LoadUint64(&sh.counter); got != procs*iters {
		t.Fatalf("counter = %d, want %d: lost updates across processes", got, procs*iters)
	}
	if o := sh.overlap.Load(); o != 0 {
		t.Fatalf("%d times two processes were inside at once", o)
	}
	if o := sh.m.Owner(); o != 0 {
		t.Fatalf("owner after all unlocks = %d, want 0", o)
	}
}

func TestGoroutines(t *testing.T) {
	var m Mutex
	var inside atomic.Int32
	var wg sync.WaitGroup
	var errs atomic.Int32
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				if err := m.Lock(); err != nil {
					errs.Add(1)
					return
				}
				if inside.Add(1) != 1 {
					errs.Add(1)
				}
				inside.Add(-1)
				if err := m.Unlock(); err != nil {
					errs.Add(1)
					return
				}
			}
		})
	}
	wg.Wait()
	if errs.Load() != 0 {
		t.Fatalf("%d errors or overlaps", errs.Load())
	}
}

func TestMutexRecover(t *testing.T) {
	var m Mutex
	if !m.TryLock() || m.Owner() != os.Getpid() {
		t.Fatal("TryLock on a free mutex failed or recorded the wrong owner")
	}
	if err := m.LockTimeout(20 * time.Millisecond); !errors.Is(err, ErrTimeout) {
		t.Fatalf("LockTimeout on a held mutex = %v", err)
	}
	// A waiter blocked with no timeout is woken by Recover.
	got := make(chan error, 1)
	var other Mutex
	other.owner.Store(12345) // "a dead process" holds it
	go func() { got <- other.Lock() }()
	for other.waiters.Load() == 0 { // until the waiter is on its way to FUTEX_WAIT
		runtime.Gosched()
	}
	if ok, _ := other.Recover(999); ok {
		t.Fatal("Recover freed a lock for a pid that does not hold it")
	}
	if ok, err := other.Recover(12345); !ok || err != nil {
		t.Fatalf("Recover = %v, %v", ok, err)
	}
	if err := <-got; err != nil || other.Owner() != os.Getpid() { // a waiter Recover did not wake hangs the test
		t.Fatalf("waiter: %v, owner %d", err, other.Owner())
	}
	if err := m.Unlock(); err != nil {
		t.Fatal(err)
	}
	if err := m.Unlock(); !errors.Is(err, ErrNotOwner) {
		t.Fatalf("double Unlock = %v", err)
	}
}

// TestWakeBits: a sleeper of WaitWhileHoldingPAs is woken by wakes that
// name its bit, never by one that names only another's, and by WakeAll.
// Two sleepers go back to sleep each time they wake while the word is
// unchanged; a hundred wakes of sleeper 1's bit must leave sleeper 0
// unwoken.
func TestWakeBits(t *testing.T) {
	// Each sleeper holds its thread's P: leave the test's goroutine one.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	var word atomic.Uint32
	var woken [2]atomic.Int64
	done := make(chan struct{})
	// WakeAll reaches sleepers of a bit: it ends them, on failure too (a
	// sleeper left holding a P could starve the test binary).
	defer func() {
		word.Store(1)
		if err := WakeAll(&word); err != nil {
			t.Error(err)
		}
		<-done
		<-done
	}()
	for i := range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for word.Load() == 0 {
				WaitWhileHoldingPAs(&word, 0, -1, 1<<i)
				woken[i].Add(1)
			}
		}()
	}
	for woken[1].Load() < 100 {
		n, err := WakeBits(&word, 1<<1)
		if err != nil {
			t.Error(err)
			return
		}
		if n > 1 {
			t.Errorf("a wake of bit 1 woke %d sleepers", n)
			return
		}
		runtime.Gosched()
	}
	if n := woken[0].Load(); n != 0 {
		t.Errorf("sleeper 0 woke %d times on wakes of sleeper 1's bit", n)
	}
}
