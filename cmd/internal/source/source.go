// Package source opens what a command was given to read, a file, stdin
// or a FIFO, as a file that worker processes can read at any offset: a
// regular file by its path, anything else copied once, in this process,
// into an anonymous in-memory file (memfd) that the workers open through
// /proc/PID/fd, so that no worker ever reopens a stream. Compressed input
// (gzip, zstd) is decompressed into such a file the same way.
package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Source is an input ready for workers.
type Source struct {
	Name string   // what the user gave: a path, or "-" for stdin
	Path string   // what a worker opens: an absolute path, or /proc/PID/fd/N
	File *os.File // open in this process for as long as the Source is
	Size int64
	// Via says how the bytes got here, for the report: "" for a file read
	// in place, else e.g. "stdin", "FIFO", "gzip".
	Via string
}

// Close closes the file (a memfd's memory goes with it).
func (s *Source) Close() error { return s.File.Close() }

// Error is input that cannot be read: bad input, as opposed to a
// failure while reading good input.
type Error struct {
	Name string
	Msg  string
}

func (e *Error) Error() string { return e.Name + ": " + e.Msg }

func errorf(name, format string, args ...any) error {
	return &Error{Name: name, Msg: fmt.Sprintf(format, args...)}
}

// Options say how long to wait for a FIFO's writer.
type Options struct {
	// WriterWait is how long a FIFO may go without a writer before it is
	// refused; 0 means 5 s.
	WriterWait time.Duration
	// IsStdinTerminal reports whether stdin is a terminal, which is
	// refused rather than waited on; nil: never.
	IsStdinTerminal func() bool
}

// Open opens name ("-" for stdin). It honours ctx while it waits for a
// stream, and the copy stops when ctx ends.
func Open(ctx context.Context, name string, opt Options) (*Source, error) {
	if opt.WriterWait <= 0 {
		opt.WriterWait = 5 * time.Second
	}
	if name == "-" || name == "/dev/stdin" || name == "/proc/self/fd/0" || name == "/dev/fd/0" {
		return openStdin(ctx, name, opt)
	}
	fi, err := os.Stat(name)
	if err != nil {
		return nil, &Error{Name: name, Msg: pathMsg(err)}
	}
	switch m := fi.Mode(); {
	case m.IsDir():
		return nil, errorf(name, "is a directory, not a file of numbers")
	case m.IsRegular():
		f, err := os.Open(name)
		if err != nil {
			return nil, &Error{Name: name, Msg: pathMsg(err)}
		}
		abs, err := filepath.Abs(name)
		if err != nil {
			f.Close()
			return nil, err
		}
		if isProcFD(name) { // a path that means something else in a worker
			abs = procPath(f)
		}
		return &Source{Name: name, Path: abs, File: f, Size: fi.Size()}, nil
	case m&os.ModeNamedPipe != 0:
		return openFIFO(ctx, name, opt)
	case m&os.ModeCharDevice != 0, m&os.ModeDevice != 0:
		return nil, errorf(name, "is a device, not a file of numbers: not read")
	case m&os.ModeSocket != 0:
		return nil, errorf(name, "is a socket, not a file of numbers: not read")
	}
	return nil, errorf(name, "is not a regular file")
}

// isProcFD reports whether a path names a descriptor of the process that
// opens it (/dev/fd/N, /proc/self/fd/N, /dev/stdin...): each worker would
// open its own.
func isProcFD(name string) bool {
	for _, p := range []string{"/dev/fd/", "/proc/self/", "/proc/thread-self/", "/dev/std"} {
		if len(name) >= len(p) && name[:len(p)] == p {
			return true
		}
	}
	return false
}

func openStdin(ctx context.Context, name string, opt Options) (*Source, error) {
	fi, err := os.Stdin.Stat()
	if err != nil {
		return nil, &Error{Name: name, Msg: "stdin: " + pathMsg(err)}
	}
	switch m := fi.Mode(); {
	case m.IsRegular(): // a redirect from a file: read it in place
		f, err := os.Open(procPath(os.Stdin))
		if err != nil {
			return nil, &Error{Name: name, Msg: "stdin: " + pathMsg(err)}
		}
		return &Source{Name: name, Path: procPath(f), File: f, Size: fi.Size(), Via: "stdin"}, nil
	case m&os.ModeCharDevice != 0 && opt.IsStdinTerminal != nil && opt.IsStdinTerminal():
		return nil, errorf(name, "stdin is a terminal: pipe the numbers in (e.g. cat data.csv | pishm stats -) or give a FILE")
	case m&os.ModeCharDevice != 0 || m.IsDir():
		return nil, errorf(name, "stdin is a device, not a stream of numbers: not read")
	}
	return copyStream(ctx, name, "stdin", int(os.Stdin.Fd()), 0)
}

// A Decoder reads the decompressed bytes of r.
type Decoder func(r io.Reader) (io.ReadCloser, error)

// Decompress reads s through decode, the decompressor of the format it
// names ("gzip", "zstd"), into a new Source; s stays open. The decoders
// are the caller's to link: a worker binary that links this package for
// MemFile does not pay their package inits.
func Decompress(ctx context.Context, s *Source, format string, decode Decoder) (*Source, error) {
	z, err := decode(io.NewSectionReader(s.File, 0, s.Size))
	if err != nil {
		return nil, errorf(s.Name, "%s: %v", format, err)
	}
	defer z.Close()
	m, err := newMemFile("pishm-" + format)
	if err != nil {
		return nil, err
	}
	n, err := copyCtx(ctx, m, z)
	if err != nil {
		m.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var fe *os.PathError
		if errors.As(err, &fe) && fe.Path != "" && fe.Op == "write" {
			return nil, fmt.Errorf("%s: decompressing into memory: %w", s.Name, err)
		}
		return nil, errorf(s.Name, "%s data is damaged: %v", format, err)
	}
	via := format
	if s.Via != "" {
		via = s.Via + ", " + format
	}
	return &Source{Name: s.Name, Path: procPath(m), File: m, Size: n, Via: via}, nil
}

// copyCtx copies r to w until EOF or ctx ends.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, err := r.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return n, werr
			}
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func pathMsg(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// MemFile makes an anonymous in-memory file of size bytes (zeros) and
// returns it with the path a worker process opens it by. Its memory goes
// when every process has closed it.
func MemFile(name string, size int64) (*os.File, string, error) {
	f, err := newMemFile(name)
	if err != nil {
		return nil, "", err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, "", fmt.Errorf("%s: %w", name, err)
	}
	return f, procPath(f), nil
}
