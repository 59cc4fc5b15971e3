//go:build !linux

package transport

import (
	"context"
	"fmt"
	"os"
	"runtime"
)

func unsupported() error {
	return fmt.Errorf("%s: %w", runtime.GOOS, ErrUnsupported)
}

func openInherited(fd int) (*os.File, error) { return os.NewFile(uintptr(fd), fdName(fd)), nil }

func newFIFOBackend(*core, Options) (backend, error)       { return nil, unsupported() }
func newSocketpairBackend(*core, Options) (backend, error) { return nil, unsupported() }
func newPosixMQBackend(*core, Options) (backend, error)    { return nil, unsupported() }
func newSysVMQBackend(*core, Options) (backend, error)     { return nil, unsupported() }

func sendFIFO(context.Context, childEnv, []byte) error       { return unsupported() }
func sendSocketpair(context.Context, childEnv, []byte) error { return unsupported() }
func sendPosixMQ(context.Context, childEnv, []byte) error    { return unsupported() }
func sendSysVMQ(context.Context, childEnv, []byte) error     { return unsupported() }
