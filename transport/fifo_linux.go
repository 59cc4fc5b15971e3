package transport

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// pipeBuf is PIPE_BUF on Linux: writes up to this size to a pipe are atomic.
const pipeBuf = 4096

// A record must be one atomic write: the FIFO is shared by all workers.
var _ [pipeBuf - MessageSize]struct{}

// fifoBackend: one named pipe (mode 0600) in a private temp dir that all
// children write to. A record is below PIPE_BUF, so each write is atomic and
// records never interleave. The parent opens it O_RDWR: the open does not
// wait for a writer, and the FIFO never reports EOF while it is open.
type fifoBackend struct {
	c    *Core
	dir  *PrivateDir
	path string
	f    *os.File
}

func newFIFOBackend(_ context.Context, c *Core, opt Options) (Backend, error) {
	dir, err := NewPrivateDir(opt)
	if err != nil {
		return nil, err
	}
	b := &fifoBackend{c: c, dir: dir, path: filepath.Join(dir.Path, "fifo")}
	if err := unix.Mkfifo(b.path, 0o600); err != nil {
		dir.Remove()
		return nil, &os.PathError{Op: "mkfifo", Path: b.path, Err: err}
	}
	// A FIFO from OpenFile is pollable: Close unblocks the receiver.
	if b.f, err = os.OpenFile(b.path, os.O_RDWR, 0); err != nil {
		dir.Remove()
		return nil, err
	}
	c.GoRecv(b.recv)
	return b, nil
}

// recv reads whole records. Every good writer writes exactly one record
// atomically and the buffer is a whole number of records, so each read
// returns whole records; anything else means a writer wrote a partial or
// oversized record.
func (b *fifoBackend) recv() {
	buf := make([]byte, pipeBuf/MessageSize*MessageSize) // a multiple of the record, <= PIPE_BUF
	for {
		n, err := b.f.Read(buf)
		if err != nil {
			if !b.c.IsClosed() {
				b.c.Fail(fmt.Errorf("read fifo: %w", err))
			}
			return
		}
		if n%MessageSize != 0 {
			b.c.Fail(fmt.Errorf("read %d bytes from the fifo, not a whole number of %d-byte records (a writer sent a partial record): %w",
				n, MessageSize, ErrMalformed))
			return
		}
		for k := 0; k < n; k += MessageSize {
			b.c.Deliver(-1, buf[k:k+MessageSize])
		}
	}
}

func (b *fifoBackend) Child(int) ([]string, []*os.File, error) {
	return []string{EnvAddr + "=" + b.path}, nil, nil
}

func (b *fifoBackend) Started(int) {}
func (b *fifoBackend) Exited(int)  {}

// Retry: a shared channel needs nothing new for a fresh process.
func (b *fifoBackend) Retry(int) {}

func (b *fifoBackend) Shutdown() error { return b.f.Close() }

func (b *fifoBackend) Remove() error { return b.dir.Remove() }

func sendFIFO(ctx context.Context, e ChildEnv, rec []byte) error {
	if e.Addr == "" {
		return fmt.Errorf("%s is not set", EnvAddr)
	}
	if len(rec) > pipeBuf {
		return fmt.Errorf("record of %d bytes is over PIPE_BUF", len(rec))
	}
	// O_NONBLOCK: fail with ENXIO instead of waiting when no reader has it open.
	f, err := os.OpenFile(e.Addr, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return err
	} else if st.Mode().Type() != os.ModeNamedPipe {
		return fmt.Errorf("%s is a %v, want a FIFO", e.Addr, st.Mode().Type())
	}
	if d, ok := ctx.Deadline(); ok {
		f.SetWriteDeadline(d)
	}
	if _, err := f.Write(rec); err != nil {
		return err
	}
	return f.Close()
}
