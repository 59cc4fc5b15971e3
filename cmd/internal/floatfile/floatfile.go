// Package floatfile finds the array of floating-point numbers in a file and
// reads it: a raw file of little-endian float64 or float32, or a
// NumPy .npy file holding either. It checks everything a reduction over the
// file would otherwise trip on (a directory, an empty file, a size that is
// not a whole number of elements, a .npy header it cannot honour, data
// shorter than the header says) and says what is wrong in one line, so a
// command can refuse bad input before any worker starts.
package floatfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"unsafe"
)

// Elem is an element type: its value is its size in bytes.
type Elem int

// The element types a file may hold.
const (
	Float64 Elem = 8
	Float32 Elem = 4
)

func (e Elem) String() string {
	switch e {
	case Float64:
		return "f64"
	case Float32:
		return "f32"
	}
	return fmt.Sprintf("Elem(%d)", int(e))
}

// ParseElem reads an element type as a flag gives it: f64 or f32.
func ParseElem(s string) (Elem, error) {
	switch s {
	case "f64", "float64":
		return Float64, nil
	case "f32", "float32":
		return Float32, nil
	}
	return 0, fmt.Errorf("unknown element type %q (want f64 or f32)", s)
}

// Layout says where a file's elements are.
type Layout struct {
	Elem   Elem   `json:"type"`
	Offset int64  `json:"offset"` // of the first element, in bytes: 0 for a raw file, past the header for .npy
	Count  uint64 `json:"count"`  // of elements
	NPY    bool   `json:"npy"`    // the file is .npy (the header said Elem and Count)
}

// Error is a file that cannot be read as an array of floats: bad input,
// as opposed to a failure while reading a good one.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return e.Path + ": " + e.Msg }

func errorf(path, format string, args ...any) error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Inspect finds the array in path: a .npy file (recognised by its magic
// bytes, whatever its name) says its own element type and count; any other
// file is raw elements of type raw. Every error is an *Error.
func Inspect(path string, raw Elem) (Layout, error) {
	if raw != Float64 && raw != Float32 {
		return Layout{}, errorf(path, "unsupported element type %v", raw)
	}
	if !littleEndian() {
		return Layout{}, errorf(path, "this host is big-endian; the files are read as little-endian")
	}
	f, err := os.Open(path)
	if err != nil {
		return Layout{}, &Error{Path: path, Msg: oneLine(err)}
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return Layout{}, &Error{Path: path, Msg: oneLine(err)}
	case fi.IsDir():
		return Layout{}, errorf(path, "is a directory, not a file of numbers")
	case !fi.Mode().IsRegular():
		return Layout{}, errorf(path, "is not a regular file")
	case fi.Size() == 0:
		return Layout{}, errorf(path, "is empty: no numbers to reduce")
	}
	size := fi.Size()
	head := make([]byte, min(size, int64(len(magic))))
	if _, err := io.ReadFull(f, head); err != nil {
		return Layout{}, &Error{Path: path, Msg: oneLine(err)}
	}
	if bytes.Equal(head, []byte(magic)) {
		return inspectNPY(path, f, size)
	}
	if size%int64(raw) != 0 {
		return Layout{}, errorf(path, "%d bytes is not a whole number of %v elements (%d bytes each)", size, raw, int(raw))
	}
	return Layout{Elem: raw, Count: uint64(size / int64(raw))}, nil
}

// oneLine is what an os error says about the file, without repeating its
// path (Error adds it).
func oneLine(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return "shorter than its header says"
	}
	return err.Error()
}

// littleEndian reports whether this host stores numbers little-endian, as
// the files do: the elements are used in place, without swapping.
func littleEndian() bool {
	var b [2]byte
	binary.NativeEndian.PutUint16(b[:], 1)
	return b[0] == 1
}

// Reader reads a file's elements by index. It reads with pread into the
// caller's buffer rather than mapping the file: on the machines measured,
// faulting a mapping in cost several times what copying the same bytes
// out of the page cache did.
type Reader struct {
	f *os.File
	l Layout
}

// Open opens path for reading the elements l describes, checking that the
// file still holds them.
func Open(path string, l Layout) (*Reader, error) {
	if l.Count == 0 || l.Offset < 0 || l.Elem != Float64 && l.Elem != Float32 {
		return nil, errorf(path, "bad layout %+v", l)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, &Error{Path: path, Msg: oneLine(err)}
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, &Error{Path: path, Msg: oneLine(err)}
	}
	if end := uint64(l.Offset) + l.Count*uint64(l.Elem); uint64(fi.Size()) < end {
		f.Close()
		return nil, errorf(path, "now holds %d bytes, fewer than the %d it had", fi.Size(), end)
	}
	return &Reader{f: f, l: l}, nil
}

// Layout is what the reader reads.
func (r *Reader) Layout() Layout { return r.l }

// ReadF64 fills dst with the float64 elements from index lo on.
func (r *Reader) ReadF64(lo uint64, dst []float64) error {
	if r.l.Elem != Float64 {
		return fmt.Errorf("floatfile: ReadF64 on a file of %v", r.l.Elem)
	}
	if len(dst) == 0 {
		return nil
	}
	return r.read(lo, uint64(len(dst)), unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 8*len(dst)))
}

// ReadF32 fills dst with the float32 elements from index lo on.
func (r *Reader) ReadF32(lo uint64, dst []float32) error {
	if r.l.Elem != Float32 {
		return fmt.Errorf("floatfile: ReadF32 on a file of %v", r.l.Elem)
	}
	if len(dst) == 0 {
		return nil
	}
	return r.read(lo, uint64(len(dst)), unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)))
}

func (r *Reader) read(lo, n uint64, b []byte) error {
	if lo > r.l.Count || n > r.l.Count-lo {
		return fmt.Errorf("floatfile: elements [%d, %d) of %d", lo, lo+n, r.l.Count)
	}
	_, err := r.f.ReadAt(b, r.l.Offset+int64(lo)*int64(r.l.Elem))
	if err != nil {
		return fmt.Errorf("floatfile: %s: %w", r.f.Name(), err)
	}
	return nil
}

// Close closes the file.
func (r *Reader) Close() error { return r.f.Close() }
