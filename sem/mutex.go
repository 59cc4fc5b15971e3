package sem

import (
	"errors"
	"sync/atomic"
	"time"
)

// ErrNotOwner is returned by Unlock when the caller does not hold the lock.
var ErrNotOwner = errors.New("sem: unlock of a mutex held by another process")

// Mutex is a cross-process lock whose futex word is the holder's pid (0 when
// free), so the holder is known from the instant it takes the lock: a
// process that dies holding it can be identified and its lock taken back
// (Recover) by whoever reaps it. Within one process it is a plain mutex
// shared by its goroutines (they have one pid).
type Mutex struct {
	owner   atomic.Uint32 // holder's pid, 0 when free; the futex word
	waiters atomic.Uint32 // processes in (or about to enter) FUTEX_WAIT
}

// TryLock takes the lock if it is free.
func (m *Mutex) TryLock() bool {
	// acquire: pairs with the release in Unlock and Recover, so the
	// previous holder's critical section happens before ours.
	return m.owner.CompareAndSwap(0, uint32(pid))
}

// Lock takes the lock, sleeping in the kernel while another process holds it.
func (m *Mutex) Lock() error { return m.lock(-1) }

// LockTimeout is Lock that gives up with ErrTimeout after d.
func (m *Mutex) LockTimeout(d time.Duration) error {
	if d < 0 {
		d = 0
	}
	return m.lock(d)
}

// lock is Lock's slow path: spin briefly on TryLock, then sleep on the
// owner word while it still names the holder it was seen with, until
// TryLock succeeds or d (if >= 0) runs out. The kernel compares the word
// atomically with the sleep, so an unlock between the look and the sleep
// is never missed.
func (m *Mutex) lock(d time.Duration) error {
	for range spinTries {
		if m.TryLock() {
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
		m.waiters.Add(1)
		var err error
		if o := m.owner.Load(); o != 0 {
			wait := time.Duration(-1)
			if d > 0 {
				if wait = time.Until(deadline); wait <= 0 {
					m.waiters.Add(^uint32(0))
					return ErrTimeout
				}
			}
			err = futexWait(&m.owner, o, wait, false)
		}
		m.waiters.Add(^uint32(0))
		if err != nil {
			return err
		}
		if m.TryLock() {
			return nil
		}
	}
}

// Unlock releases a lock this process holds and wakes one waiter.
func (m *Mutex) Unlock() error {
	// release: pairs with the acquire in TryLock; our critical section's
	// stores are visible to the next holder.
	if !m.owner.CompareAndSwap(uint32(pid), 0) {
		return ErrNotOwner
	}
	if m.waiters.Load() > 0 {
		return futexWake(&m.owner, 1)
	}
	return nil
}

// Owner returns the pid holding the lock, 0 if free.
func (m *Mutex) Owner() int { return int(m.owner.Load()) }

// Recover frees the lock if deadPid holds it and wakes a waiter; it reports
// whether it did. The caller must know deadPid is dead (it reaped it).
func (m *Mutex) Recover(deadPid int) (bool, error) {
	// release on the dead holder's behalf: its critical section is cut
	// short, which the caller (the engine: "tainted") must account for.
	if deadPid <= 0 || !m.owner.CompareAndSwap(uint32(deadPid), 0) {
		return false, nil
	}
	if m.waiters.Load() > 0 {
		return true, futexWake(&m.owner, 1)
	}
	return true, nil
}
