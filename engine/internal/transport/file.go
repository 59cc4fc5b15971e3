package transport

import (
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
	c   *core
	dir string

	mu   sync.Mutex
	read []bool
}

func newFileBackend(c *core, opt Options) (backend, error) {
	dir, err := privateDir(opt)
	if err != nil {
		return nil, err
	}
	return &fileBackend{c: c, dir: dir, read: make([]bool, c.workers)}, nil
}

func (b *fileBackend) path(i int) string {
	return filepath.Join(b.dir, fmt.Sprintf("worker-%d.rec", i))
}

func (b *fileBackend) child(i int) ([]string, []*os.File, error) {
	return []string{envAddr + "=" + b.path(i)}, nil, nil
}

func (b *fileBackend) started(int) {}

func (b *fileBackend) exited(i int) {
	b.mu.Lock()
	again := b.read[i]
	b.read[i] = true
	b.mu.Unlock()
	if again {
		return
	}
	f, err := os.Open(b.path(i))
	if errors.Is(err, fs.ErrNotExist) {
		b.c.missing(i, "exited with status 0 without writing its record file")
		return
	}
	if err != nil {
		b.c.fail(fmt.Errorf("worker %d: %w", i, err))
		return
	}
	defer f.Close()
	b.c.recvStream(i, f, "record file")
}

// retry removes what the dead process may have written, so that the fresh
// one's O_EXCL create succeeds.
func (b *fileBackend) retry(i int) {
	b.mu.Lock()
	b.read[i] = false
	b.mu.Unlock()
	os.Remove(b.path(i))
}

func (b *fileBackend) shutdown() error { return nil }

// remove deletes the private dir. A worker still running (the caller may
// close before it kills them) can create its file between RemoveAll's
// listing and its rmdir: try again a few times before reporting it.
func (b *fileBackend) remove() error {
	var err error
	for range 5 {
		if err = os.RemoveAll(b.dir); err == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return err
}

func sendFile(e childEnv, rec []byte) error {
	if e.addr == "" {
		return fmt.Errorf("%s is not set", envAddr)
	}
	f, err := os.OpenFile(e.addr, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(rec); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
