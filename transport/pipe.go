package transport

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
)

// pairBackend: one connected pair of files per worker, a pipe or a
// socketpair; the child inherits its end as fd 3 and writes one record,
// and the parent reads to EOF.
type pairBackend struct {
	c    *Core
	kind string                                     // "pipe" or "socketpair", for the receiver's messages
	open func() (parent, child *os.File, err error) // O_CLOEXEC: no other child inherits them

	mu     sync.Mutex
	parent []*os.File // the parent's ends
	child  []*os.File // the children's ends, closed in Started
	stale  []*os.File // parent ends of dead workers' pairs, closed at shutdown
}

func newPairBackend(c *Core, kind string, open func() (*os.File, *os.File, error)) *pairBackend {
	return &pairBackend{c: c, kind: kind, open: open, parent: make([]*os.File, c.workers), child: make([]*os.File, c.workers)}
}

// newPipeBackend: an anonymous pipe per worker.
func newPipeBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	return newPairBackend(c, "pipe", os.Pipe), nil
}

func (b *pairBackend) Child(i int) ([]string, []*os.File, error) {
	p, ch, err := b.open()
	if err != nil {
		return nil, nil, err
	}
	b.mu.Lock()
	b.parent[i], b.child[i] = p, ch
	b.mu.Unlock()
	b.c.GoRecv(func() { b.c.RecvStream(i, p, b.kind) })
	return []string{EnvFD + "=3"}, []*os.File{ch}, nil
}

func (b *pairBackend) Started(i int) {
	b.mu.Lock()
	ch := b.child[i]
	b.child[i] = nil
	b.mu.Unlock()
	if ch != nil {
		ch.Close()
	}
}

func (b *pairBackend) Exited(int) {}

func (b *pairBackend) Retry(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.parent[i] != nil {
		b.stale = append(b.stale, b.parent[i])
		b.parent[i] = nil
	}
}

func (b *pairBackend) Shutdown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	closeAll(b.child)
	closeAll(b.parent) // unblocks the receivers
	closeAll(b.stale)
	return nil
}

func (b *pairBackend) Remove() error { return nil }

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
