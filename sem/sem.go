// Package sem is the cross-process lock that guards pishm's shared
// accumulator, and the futex waits that the engine's barriers and
// generation words are built on, in words of memory shared between
// processes (a MAP_SHARED mapping), on the Linux futex.
//
// The accumulator is guarded by a Mutex, a binary semaphore whose futex
// word is the holder's pid rather than a count. A counting semaphore's count
// does not say who holds it, so a holder killed inside the critical section
// would leave it taken for good; the pid word names the holder from the
// instant it takes the lock, and whoever reaps a dead holder takes the lock
// back (Recover). (SysV semaphores with SEM_UNDO would also be undone by the
// kernel, at a system call per operation.)
//
// A Mutex is never created by new or a literal for cross-process use: it
// lives inside a shared mapping (the caller casts a pointer to 8-byte
// aligned shared bytes); its zero value is unlocked.
package sem

import "errors"

// ErrTimeout is returned by LockTimeout when the lock stayed taken.
var ErrTimeout = errors.New("sem: timed out")

// spinTries is how many times Lock retries before sleeping in the kernel.
// On 2 cores a long spin starves the very holder it waits for: the
// holder may be descheduled in favour of the spinner.
const spinTries = 64
