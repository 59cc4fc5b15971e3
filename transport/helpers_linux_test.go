package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OSLeftovers returns a check for the kernel objects of the Linux-only
// kinds, or nil; suite_test.go uses it.
func OSLeftovers(b Backend) func() []string {
	switch b := b.(type) {
	case *fifoBackend:
		dir := b.dir
		return func() []string {
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				return []string{"dir " + dir}
			}
			return nil
		}
	case *posixmqBackend:
		name := b.name
		return func() []string {
			var left []string
			fd, err := mqOpen(name, unix.O_RDONLY|unix.O_CLOEXEC, 0, nil)
			switch {
			case err == nil:
				unix.Close(fd)
				left = append(left, "posix mq /"+name)
			case !errors.Is(err, unix.ENOENT):
				left = append(left, fmt.Sprintf("posix mq /%s: %v", name, err))
			}
			if _, err := os.Stat("/dev/mqueue/" + name); err == nil {
				left = append(left, "/dev/mqueue/"+name)
			}
			return left
		}
	case *sysvmqBackend:
		id := b.id
		return func() []string {
			var ds [512]byte // larger than struct msqid64_ds
			if err := msgctl(id, unix.IPC_STAT, unsafe.Pointer(&ds)); err == nil {
				return []string{fmt.Sprintf("sysv msq %d", id)}
			}
			return nil
		}
	}
	return nil
}
