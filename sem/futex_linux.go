package sem

import (
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations. These are the shared (non-private) variants: with the
// private flag (128) the kernel keys the wait queue by the calling
// process's address space, so a wake-up would never reach a sleeper in
// another process. x/sys/unix has no FUTEX_* constants.
const (
	futexWaitOp       = 0  // FUTEX_WAIT
	futexWakeOp       = 1  // FUTEX_WAKE
	futexWaitBitsetOp = 9  // FUTEX_WAIT_BITSET: an absolute CLOCK_MONOTONIC timeout
	futexWakeBitsetOp = 10 // FUTEX_WAKE_BITSET
)

var pid = os.Getpid()

// futexWait sleeps while *addr == val, for at most d (forever if d < 0).
// It returns nil on a wake-up, a changed value, a timeout or EINTR: the
// caller re-checks the word in every case. With hold, the sleep is a raw
// system call that Go's scheduler does not see (see WaitWhileHoldingP).
func futexWait(addr *atomic.Uint32, val uint32, d time.Duration, hold bool) error {
	var ts *unix.Timespec
	if d >= 0 {
		t := unix.NsecToTimespec(int64(d))
		ts = &t
	}
	return futexSleep(addr, futexWaitOp, val, ts, 0, hold)
}

// futexWaitBits is futexWait for a sleeper that only a wake naming one
// of bits wakes (a plain FUTEX_WAKE wakes it too).
func futexWaitBits(addr *atomic.Uint32, val uint32, d time.Duration, hold bool, bits uint32) error {
	var deadline *unix.Timespec // a deadline on the monotonic clock, nil for none
	if d >= 0 {
		var now unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
			return os.NewSyscallError("clock_gettime", err)
		}
		t := unix.NsecToTimespec(now.Nano() + int64(d))
		deadline = &t
	}
	return futexSleep(addr, futexWaitBitsetOp, val, deadline, bits, hold)
}

// futexSleep is the wait system call of futexWait and futexWaitBits.
func futexSleep(addr *atomic.Uint32, op uintptr, val uint32, ts *unix.Timespec, bits uint32, hold bool) error {
	call := unix.Syscall6
	if hold {
		call = unix.RawSyscall6
	}
	_, _, errno := call(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op,
		uintptr(val), uintptr(unsafe.Pointer(ts)), 0, uintptr(bits))
	switch errno {
	case 0, unix.EAGAIN, unix.EINTR, unix.ETIMEDOUT:
		return nil
	}
	return os.NewSyscallError("futex", errno)
}

// futexWakeBits wakes every sleeper on addr whose bits meet bits, and
// says how many it woke.
func futexWakeBits(addr *atomic.Uint32, bits uint32) (int, error) {
	return futexRouse(addr, futexWakeBitsetOp, 1<<30, bits)
}

// futexWake wakes up to n sleepers on addr.
func futexWake(addr *atomic.Uint32, n int) error {
	_, err := futexRouse(addr, futexWakeOp, n, 0)
	return err
}

// futexRouse is the wake system call of futexWake and futexWakeBits, and
// says how many it woke. A wake never blocks, so it is a raw system
// call: one that Go's scheduler saw could, when the kernel is slow to
// return (a VM's vCPU descheduled), have its P taken and another thread
// woken to poll the network (see WaitWhileHoldingP).
func futexRouse(addr *atomic.Uint32, op uintptr, n int, bits uint32) (int, error) {
	for {
		woken, _, errno := unix.RawSyscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)), op,
			uintptr(n), 0, 0, uintptr(bits))
		switch errno {
		case 0:
			return int(woken), nil
		case unix.EINTR:
			continue
		}
		return 0, os.NewSyscallError("futex", errno)
	}
}

// yieldCPU offers this thread's CPU to any thread waiting for one
// (sched_yield), and returns at once when there is none. It is a raw
// system call: it does not block, so Go's scheduler need not know.
func yieldCPU() { unix.RawSyscallNoError(unix.SYS_SCHED_YIELD, 0, 0, 0) }
