package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// OSLeftovers returns a check for the named resources of a backend (its
// private dir, queue and manifest), or nil; suite_test.go uses it.
func OSLeftovers(b Backend) func() []string {
	gone := func(what, path string) []string {
		if path == "" {
			return nil
		}
		if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
			return []string{what + " " + path}
		}
		return nil
	}
	switch b := b.(type) {
	case *fileBackend:
		d := *b.dir
		return func() []string { return append(gone("dir", d.Path), gone("manifest", d.manifest)...) }
	case *fifoBackend:
		d := *b.dir
		return func() []string { return append(gone("dir", d.Path), gone("manifest", d.manifest)...) }
	case *posixmqBackend:
		name, manifest := b.name, b.manifest
		return func() []string {
			left := gone("manifest", manifest)
			if MQExists(name) {
				left = append(left, "posix mq /"+name)
			}
			if _, err := os.Stat("/dev/mqueue/" + name); err == nil {
				left = append(left, "/dev/mqueue/"+name)
			}
			return left
		}
	case *sysvmqBackend:
		id, manifest := b.id, b.manifest
		return func() []string {
			left := gone("manifest", manifest)
			if MsqExists(id) {
				left = append(left, fmt.Sprintf("sysv msq %d", id))
			}
			return left
		}
	}
	return nil
}

// MQExists reports whether the POSIX queue /name exists (an error other
// than ENOENT counts as existing).
func MQExists(name string) bool {
	fd, err := mqOpen(name, unix.O_RDONLY|unix.O_CLOEXEC, 0, nil)
	if err == nil {
		unix.Close(fd)
		return true
	}
	return !errors.Is(err, unix.ENOENT)
}

// MsqExists reports whether the System V queue id exists.
func MsqExists(id int) bool {
	var ds [512]byte // larger than struct msqid64_ds
	return msgctl(id, unix.IPC_STAT, unsafe.Pointer(&ds)) == nil
}

// MsqRemoved is what GC reports when it removes the System V queue id.
func MsqRemoved(id string) string {
	n, _ := strconv.Atoi(id)
	for _, q := range must(readMsqs()) {
		if q.id == n {
			return fmt.Sprintf("sysv msq key 0x%08x id %d", uint32(q.key), q.id)
		}
	}
	return "sysv msq id " + id + " (not found)"
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
