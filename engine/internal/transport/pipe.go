package transport

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
)

// pipeBackend: one anonymous pipe per worker; the child inherits the write
// end as fd 3 and writes one record, and the parent reads to EOF.
type pipeBackend struct {
	c *core

	mu    sync.Mutex
	read  []*os.File // parent ends
	write []*os.File // child ends, closed in started
	stale []*os.File // parent ends of dead workers' pipes, closed at shutdown
}

func newPipeBackend(c *core, _ Options) (backend, error) {
	return &pipeBackend{c: c, read: make([]*os.File, c.workers), write: make([]*os.File, c.workers)}, nil
}

func (b *pipeBackend) child(i int) ([]string, []*os.File, error) {
	r, w, err := os.Pipe() // O_CLOEXEC: no other child inherits them
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	b.read[i], b.write[i] = r, w
	b.mu.Unlock()
	b.c.goRecv(func() { b.c.recvStream(i, r, "pipe") })
	return []string{envFD + "=3"}, []*os.File{w}, nil
}

func (b *pipeBackend) started(i int) {
	b.mu.Lock()
	w := b.write[i]
	b.write[i] = nil
	b.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

func (b *pipeBackend) exited(int) {}

func (b *pipeBackend) retry(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.read[i] != nil {
		b.stale = append(b.stale, b.read[i])
		b.read[i] = nil
	}
}

func (b *pipeBackend) shutdown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	closeAll(b.write)
	closeAll(b.read) // unblocks the receivers
	closeAll(b.stale)
	return nil
}

func (b *pipeBackend) remove() error { return nil }

func closeAll(fs []*os.File) {
	for i, f := range fs {
		if f != nil {
			f.Close()
			fs[i] = nil
		}
	}
}

func sendPipe(ctx context.Context, e childEnv, rec []byte) error {
	return sendInherited(ctx, e, fs.ModeNamedPipe, rec)
}

// sendInherited writes rec to the inherited descriptor e.fd, which must be
// of the given type, and closes it so the parent sees EOF.
func sendInherited(ctx context.Context, e childEnv, mode fs.FileMode, rec []byte) error {
	if e.fd < 0 {
		return fmt.Errorf("%s is not set", envFD)
	}
	f, err := openInherited(e.fd)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode().Type() != mode {
		return fmt.Errorf("fd %d (%s=%d) is a %v, want %v", e.fd, envFD, e.fd, st.Mode().Type(), mode)
	}
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d) // fails harmlessly when not pollable
	}
	if _, err := f.Write(rec); err != nil {
		return err
	}
	return f.Close()
}

func fdName(fd int) string { return "transport-fd-" + strconv.Itoa(fd) }
