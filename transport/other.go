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

func newFIFOBackend(context.Context, *Core, Options) (Backend, error) { return nil, unsupported() }
func newSocketpairBackend(context.Context, *Core, Options) (Backend, error) {
	return nil, unsupported()
}
func newPosixMQBackend(context.Context, *Core, Options) (Backend, error) { return nil, unsupported() }
func newSysVMQBackend(context.Context, *Core, Options) (Backend, error)  { return nil, unsupported() }

func sendFIFO(context.Context, ChildEnv, []byte) error       { return unsupported() }
func sendSocketpair(context.Context, ChildEnv, []byte) error { return unsupported() }
func sendPosixMQ(context.Context, ChildEnv, []byte) error    { return unsupported() }
func sendSysVMQ(context.Context, ChildEnv, []byte) error     { return unsupported() }
