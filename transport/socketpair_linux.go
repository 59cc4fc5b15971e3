package transport

import (
	"context"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// newSocketpairBackend: one AF_UNIX stream socketpair per worker; the
// child inherits one end as fd 3, writes its record and closes it.
func newSocketpairBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	return newPairBackend(c, "socketpair", openSocketpair), nil
}

func openSocketpair() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, os.NewSyscallError("socketpair", err)
	}
	// Nonblocking, so the parent end is pollable and Close unblocks Read.
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return nil, nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(fds[0]), "socketpair-parent"), os.NewFile(uintptr(fds[1]), "socketpair-child"), nil
}

func sendSocketpair(ctx context.Context, e ChildEnv, rec []byte) error {
	return sendInherited(ctx, e, fs.ModeSocket, rec)
}
