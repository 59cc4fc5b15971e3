//go:build !linux

package sem

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

var pid = os.Getpid()

// errUnsupported: the futex is Linux's; pishm runs its workers on Linux only.
var errUnsupported = fmt.Errorf("sem: cross-process futex: %w on %s", errors.ErrUnsupported, runtime.GOOS)

func futexWait(*atomic.Uint32, uint32, time.Duration, bool) error { return errUnsupported }

func futexWake(*atomic.Uint32, int) error { return errUnsupported }

func futexWaitBits(*atomic.Uint32, uint32, time.Duration, bool, uint32) error {
	return errUnsupported
}

func futexWakeBits(*atomic.Uint32, uint32) (int, error) { return 0, errUnsupported }

// yieldCPU is a no-op where there is no futex to spin beside.
func yieldCPU() {}
