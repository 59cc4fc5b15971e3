//go:build !linux

package spawn

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// errUnsupported: workers need the parent-death signal, memfd and the
// futex, which are Linux's.
var errUnsupported = fmt.Errorf("engine: worker processes: %w on %s (pishm runs on Linux; the goroutines mode runs anywhere)",
	errors.ErrUnsupported, runtime.GOOS)

func forkExec(string, []string, []string, []uintptr) (int, error) { return 0, errUnsupported }

func memfd(string) (*os.File, error) { return nil, errUnsupported }

func gettid() int { return 0 }
