package source

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// procPath is the path through which another process of this user opens
// the file f of this process, at any offset.
func procPath(f *os.File) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), f.Fd()) }

func newMemFile(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("memfd_create", err)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// pollEvery is how often a wait for a stream looks at its context.
const pollEvery = 100 * time.Millisecond

// openFIFO opens a FIFO without blocking (an open for reading waits for
// a writer, and nothing could stop it), then waits for its writer.
func openFIFO(ctx context.Context, name string, opt Options) (*Source, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &Error{Name: name, Msg: err.Error()}
	}
	defer unix.Close(fd)
	return copyStream(ctx, name, "FIFO", fd, opt.WriterWait)
}

// copyStream copies the stream fd into a memfd. It waits on poll, so that
// ctx is looked at every pollEvery; with writerWait > 0 (a FIFO opened
// here), a FIFO that has had no writer for that long is refused. (Linux
// reports a FIFO opened for reading as ready only once a writer has come:
// poll waits for one, where read would say end of file at once.)
func copyStream(ctx context.Context, name, via string, fd int, writerWait time.Duration) (*Source, error) {
	m, err := newMemFile("pishm-" + via)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			m.Close()
		}
	}()
	buf := make([]byte, 1<<20)
	var size int64
	start, seen := time.Now(), false
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, int(pollEvery/time.Millisecond))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &Error{Name: name, Msg: "poll: " + err.Error()}
		}
		if n == 0 {
			if !seen && writerWait > 0 && time.Since(start) >= writerWait {
				return nil, errorf(name, "is a FIFO with no writer after %v: start the writer first, or pipe into pishm stats -", writerWait)
			}
			continue
		}
		seen = true
		k, err := unix.Read(fd, buf)
		switch {
		case err == unix.EAGAIN || err == unix.EINTR:
			continue
		case err != nil:
			return nil, &Error{Name: name, Msg: "read: " + err.Error()}
		case k == 0:
			ok = true
			return &Source{Name: name, Path: procPath(m), File: m, Size: size, Via: via}, nil
		}
		if _, err := m.Write(buf[:k]); err != nil {
			return nil, fmt.Errorf("%s: keeping the stream in memory: %w", name, err)
		}
		size += int64(k)
	}
}
