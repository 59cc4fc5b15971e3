package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// fileBackend: worker i creates dir/worker-i.rec (O_EXCL, 0600) and the
// parent reads it when Exited(i) says the child is done.
type fileBackend struct {
	c   *Core
	dir *PrivateDir

	mu   sync.Mutex
	read []bool
}

func newFileBackend(_ context.Context, c *Core, opt Options) (Backend, error) {
	dir, err := NewPrivateDir(opt)
	if err != nil {
		return nil, err
	}
	return &fileBackend{c: c, dir: dir, read: make([]bool, c.workers)}, nil
}

func (b *fileBackend) path(i int) string {
	return filepath.Join(b.dir.Path, fmt.Sprintf("worker-%d.rec", i))
}

func (b *fileBackend) Child(i int) ([]string, []*os.File, error) {
	return []string{EnvAddr + "=" + b.path(i)}, nil, nil
}

func (b *fileBackend) Started(int) {}

func (b *fileBackend) Exited(i int) {
	b.mu.Lock()
	again := b.read[i]
	b.read[i] = true
	b.mu.Unlock()
	if again {
		return
	}
	f, err := os.Open(b.path(i))
	if errors.Is(err, fs.ErrNotExist) {
		b.c.Missing(i, "exited with status 0 without writing its record file")
		return
	}
	if err != nil {
		b.c.Fail(fmt.Errorf("worker %d: %w", i, err))
		return
	}
	defer f.Close()
	b.c.RecvStream(i, f, "record file")
}

// Retry removes what the dead process may have written, so that the fresh
// one's O_EXCL create succeeds.
func (b *fileBackend) Retry(i int) {
	b.mu.Lock()
	b.read[i] = false
	b.mu.Unlock()
	os.Remove(b.path(i))
}

func (b *fileBackend) Shutdown() error { return nil }

// Remove deletes the private dir and its manifest. A worker still running
// (the caller may close before it kills them) can create its file between
// RemoveAll's listing and its rmdir: try again a few times before
// reporting it.
func (b *fileBackend) Remove() error {
	var err error
	for range 5 {
		if err = b.dir.Remove(); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

func sendFile(_ context.Context, e ChildEnv, rec []byte) error {
	if e.Addr == "" {
		return fmt.Errorf("%s is not set", EnvAddr)
	}
	f, err := os.OpenFile(e.Addr, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(rec); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
