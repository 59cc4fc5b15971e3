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
	c *Core

	mu    sync.Mutex
	read  []*os.File // parent ends
	write []*os.File // child ends, closed in Started
	stale []*os.File // parent ends of dead workers' pipes, closed at shutdown
}

func newPipeBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	return &pipeBackend{c: c, read: make([]*os.File, c.workers), write: make([]*os.File, c.workers)}, nil
}

func (b *pipeBackend) Child(i int) ([]string, []*os.File, error) {
	r, w, err := os.Pipe() // O_CLOEXEC: no other child inherits them
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	b.read[i], b.write[i] = r, w
	b.mu.Unlock()
	b.c.GoRecv(func() { b.c.RecvStream(i, r, "pipe") })
	return []string{EnvFD + "=3"}, []*os.File{w}, nil
}

func (b *pipeBackend) Started(i int) {
	b.mu.Lock()
	w := b.write[i]
	b.write[i] = nil
	b.mu.Unlock()
	if w != nil {
		w.Close()
	}
}

func (b *pipeBackend) Exited(int) {}

func (b *pipeBackend) Retry(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.read[i] != nil {
		b.stale = append(b.stale, b.read[i])
		b.read[i] = nil
	}
}

func (b *pipeBackend) Shutdown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	closeAll(b.write)
	closeAll(b.read) // unblocks the receivers
	closeAll(b.stale)
	return nil
}

func (b *pipeBackend) Remove() error { return nil }

func closeAll(fs []*os.File) {
	for i, f := range fs {
		if f != nil {
			f.Close()
			fs[i] = nil
		}
	}
}

func sendPipe(ctx context.Context, e ChildEnv, rec []byte) error {
	return sendInherited(ctx, e, fs.ModeNamedPipe, rec)
}

// sendInherited writes rec to the inherited descriptor e.FD, which must be
// of the given type, and closes it so the parent sees EOF.
func sendInherited(ctx context.Context, e ChildEnv, mode fs.FileMode, rec []byte) error {
	if e.FD < 0 {
		return fmt.Errorf("%s is not set", EnvFD)
	}
	f, err := openInherited(e.FD)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Mode().Type() != mode {
		return fmt.Errorf("fd %d (%s=%d) is a %v, want %v", e.FD, EnvFD, e.FD, st.Mode().Type(), mode)
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
