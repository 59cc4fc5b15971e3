package transport

import (
	"context"
	"io/fs"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// socketpairBackend: one AF_UNIX stream socketpair per worker; the child
// inherits one end as fd 3, writes its record and closes it.
type socketpairBackend struct {
	c *Core

	mu       sync.Mutex
	parent   []*os.File
	childEnd []*os.File // closed in Started
	stale    []*os.File // parent ends of dead workers' pairs, closed at shutdown
}

func newSocketpairBackend(_ context.Context, c *Core, _ Options) (Backend, error) {
	return &socketpairBackend{c: c, parent: make([]*os.File, c.workers), childEnd: make([]*os.File, c.workers)}, nil
}

func (b *socketpairBackend) Child(i int) ([]string, []*os.File, error) {
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
	p := os.NewFile(uintptr(fds[0]), "socketpair-parent")
	ch := os.NewFile(uintptr(fds[1]), "socketpair-child")
	b.mu.Lock()
	b.parent[i], b.childEnd[i] = p, ch
	b.mu.Unlock()
	b.c.GoRecv(func() { b.c.RecvStream(i, p, "socketpair") })
	return []string{EnvFD + "=3"}, []*os.File{ch}, nil
}

func (b *socketpairBackend) Started(i int) {
	b.mu.Lock()
	ch := b.childEnd[i]
	b.childEnd[i] = nil
	b.mu.Unlock()
	if ch != nil {
		ch.Close()
	}
}

func (b *socketpairBackend) Exited(int) {}

func (b *socketpairBackend) Retry(i int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.parent[i] != nil {
		b.stale = append(b.stale, b.parent[i])
		b.parent[i] = nil
	}
}

func (b *socketpairBackend) Shutdown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	closeAll(b.childEnd)
	closeAll(b.parent)
	closeAll(b.stale)
	return nil
}

func (b *socketpairBackend) Remove() error { return nil }

func sendSocketpair(ctx context.Context, e ChildEnv, rec []byte) error {
	return sendInherited(ctx, e, fs.ModeSocket, rec)
}
