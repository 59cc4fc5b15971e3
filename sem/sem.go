// Package sem is a counting semaphore that lives in a few words of memory
// shared between processes (a MAP_SHARED mapping), built on the Linux futex.
//
// A Sem is never created by new or a literal in ordinary memory for
// cross-process use: place it inside a shared mapping (the caller casts a
// pointer to 8-byte-aligned shared bytes) and call Init once, before any
// other process touches it. The zero value is a semaphore with count 0.
//
// The pid of the last process to acquire is recorded so that whoever reaps a
// dead holder can tell that it held the semaphore (see Holder and Recover).
package sem

import (
	"errors"
	"sync/atomic"
	"time"
	"unsafe"
)

// Size is the number of bytes a Sem occupies in shared memory.
const Size = int(unsafe.Sizeof(Sem{}))

// ErrTimeout is returned by AcquireTimeout when the semaphore stayed at zero.
var ErrTimeout = errors.New("sem: timed out")

// ErrNotHeld is returned by Release when the count would exceed its limit,
// which means a Release without a matching Acquire.
var ErrNotHeld = errors.New("sem: release of a semaphore that is not held")

// Sem is the shared layout. Every field is touched only with sync/atomic.
type Sem struct {
	count   atomic.Uint32 // permits available; the futex word
	waiters atomic.Uint32 // processes in (or about to enter) FUTEX_WAIT
	holder  atomic.Uint32 // pid of the last acquirer, 0 after its release
	limit   atomic.Uint32 // the count given to Init; Release never exceeds it
}

// Init sets the count to n permits. Call it once, before sharing.
func (s *Sem) Init(n uint32) {
	s.waiters.Store(0)
	s.holder.Store(0)
	s.limit.Store(n)
	s.count.Store(n) // store-release: publishes the fields above
}

// TryAcquire takes a permit if one is free, without blocking.
func (s *Sem) TryAcquire() bool {
	for {
		c := s.count.Load()
		if c == 0 {
			return false
		}
		if s.count.CompareAndSwap(c, c-1) {
			s.holder.Store(uint32(pid))
			return true
		}
	}
}

// spinTries is how many times Acquire retries before sleeping in the
// kernel. On 2 cores a long spin starves the holder (PITFALLS.md #9).
const spinTries = 64

// Acquire takes a permit, sleeping in the kernel while none is free.
func (s *Sem) Acquire() error { return s.acquire(-1) }

// AcquireTimeout is Acquire that gives up with ErrTimeout after d.
func (s *Sem) AcquireTimeout(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return s.acquire(d)
}

func (s *Sem) acquire(d time.Duration) error {
	// Sleep only while the count is still 0.
	return block(s.TryAcquire, &s.waiters, &s.count, func() (uint32, bool) { return 0, true }, d)
}

// block is the slow path that Sem and Mutex share: spin briefly on try,
// then sleep on word while taken says it still holds the value it returns,
// until try succeeds or d (if >= 0) runs out. The kernel compares the word
// atomically with the sleep, so a release between taken's look and the
// sleep is never missed.
func block(try func() bool, waiters, word *atomic.Uint32, taken func() (uint32, bool), d time.Duration) error {
	for range spinTries {
		if try() {
			return nil
		}
		if d == 0 {
			return ErrTimeout
		}
	}
	var deadline time.Time
	if d > 0 {
		deadline = time.Now().Add(d)
	}
	for {
		waiters.Add(1)
		var err error
		if v, ok := taken(); ok {
			wait := time.Duration(-1)
			if d > 0 {
				if wait = time.Until(deadline); wait <= 0 {
					waiters.Add(^uint32(0))
					return ErrTimeout
				}
			}
			err = futexWait(word, v, wait)
		}
		waiters.Add(^uint32(0))
		if err != nil {
			return err
		}
		if try() {
			return nil
		}
	}
}

// Release returns a permit and wakes one waiter.
func (s *Sem) Release() error {
	for {
		c := s.count.Load()
		if c >= s.limit.Load() {
			return ErrNotHeld
		}
		if s.count.CompareAndSwap(c, c+1) { // release: the critical section happens-before the next Acquire
			break
		}
	}
	s.holder.CompareAndSwap(uint32(pid), 0)
	if s.waiters.Load() > 0 {
		return futexWake(&s.count, 1)
	}
	return nil
}

// Holder returns the pid of the process that last acquired the semaphore and
// has not released it (0 if none is recorded). With more than one permit it
// names only the latest acquirer.
func (s *Sem) Holder() int { return int(s.holder.Load()) }

// Value returns the permits free now.
func (s *Sem) Value() uint32 { return s.count.Load() }

// Recover returns the permit of a holder that died holding it: if deadPid is
// the recorded holder, the permit is released on its behalf and Recover
// reports true. The caller must know deadPid is dead (it reaped it).
func (s *Sem) Recover(deadPid int) (bool, error) {
	if deadPid <= 0 || !s.holder.CompareAndSwap(uint32(deadPid), 0) {
		return false, nil
	}
	for {
		c := s.count.Load()
		if c >= s.limit.Load() {
			return false, nil
		}
		if s.count.CompareAndSwap(c, c+1) {
			break
		}
	}
	if s.waiters.Load() > 0 {
		return true, futexWake(&s.count, 1)
	}
	return true, nil
}
