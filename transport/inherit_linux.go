package transport

import (
	"os"

	"golang.org/x/sys/unix"
)

// openInherited wraps an inherited descriptor in a pollable *os.File, so
// that write deadlines work.
func openInherited(fd int) (*os.File, error) {
	if err := unix.SetNonblock(fd, true); err != nil {
		return nil, os.NewSyscallError("fcntl", err)
	}
	return os.NewFile(uintptr(fd), fdName(fd)), nil
}
