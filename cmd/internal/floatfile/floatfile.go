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
	"math"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
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

// Reader reads a file's elements by index: in place from a read-only
// shared mapping of the file (F64, F32), or with pread into the caller's
// buffer (ReadF64, ReadF32), which serves either way.
//
// Which is faster depends on the machine, by a factor of two or three
// either way, so Open takes the choice and MapPays makes it by measuring.
// Mapped, a file read twice (the two passes of stats) is faulted in once:
// the second pass finds the pages mapped. A file that shrinks under the
// mapping makes a read of the lost pages fault (SIGBUS): the goroutines
// that read a mapping call debug.SetPanicOnFault, so that it panics, and
// the worker dies saying so, rather than crashing the runtime.
type Reader struct {
	f *os.File
	l Layout
	m mmap.MMap // the whole file, or nil: read with pread
}

// Open opens path for reading the elements l describes, checking that the
// file still holds them, and, with mapped, maps it (where the elements
// are aligned and mapping succeeds: otherwise pread serves).
func Open(path string, l Layout, mapped bool) (*Reader, error) {
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
	end := uint64(l.Offset) + l.Count*uint64(l.Elem)
	if uint64(fi.Size()) < end {
		f.Close()
		return nil, errorf(path, "now holds %d bytes, fewer than the %d it had", fi.Size(), end)
	}
	r := &Reader{f: f, l: l}
	if mapped && l.Offset%int64(l.Elem) == 0 && end <= uint64(math.MaxInt) {
		if m, err := mmap.MapRegion(f, int(end), mmap.RDONLY, 0, 0); err == nil {
			r.m = m
		}
	}
	return r, nil
}

// The probe of MapPays: files smaller than mapMin are read with pread (the
// choice is worth little there); larger ones are probed on probeRegions
// regions of probeBytes spread over the file.
const (
	mapMin       = 32 << 20
	probeBytes   = 512 << 10
	probeRegions = 2
)

// MapPays reports whether reading the elements of path that l describes
// passes times is faster mapped than with pread, by timing both on 1 MiB
// of the file (under a millisecond): the same bytes read and added up
// each way, the pread first (so that both find them in the page cache),
// on two regions, the faster of the two for each way. Mapped, the file
// is faulted in once for every pass; read, it is copied once per pass.
// Where page faults are cheap (a 2-core Intel Xeon VM: 1 GB mapped in
// 73–82 ms, read in 128–170 ms) it maps; where they are dear (a 2-core
// AMD Zen 5 VM, 10–14 µs a fault: mapping cost 230–340 ms a GB, pread
// about 110) it should read. Any failure says false.
func MapPays(path string, l Layout, passes int) bool {
	if l.Offset%int64(l.Elem) != 0 {
		return false
	}
	return MapPaysBytes(path, l.Offset, int64(l.Count)*int64(l.Elem), passes)
}

// MapPaysBytes is MapPays for the size bytes of path from off on, read
// as bytes (text).
func MapPaysBytes(path string, off, size int64, passes int) bool {
	if size < mapMin || off < 0 {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, probeBytes/4) // each region read in four, as the workers read it in blocks
	for i := range buf {
		buf[i] = 1 // faulted in before the clock starts
	}
	page := int64(os.Getpagesize())
	tRead, tMap := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for k := range int64(probeRegions) {
		at := (off + size*(2*k+1)/(2*probeRegions)) &^ (page - 1)
		at = min(at, (off+size-probeBytes)&^(page-1))
		start := time.Now()
		var sink uint64
		for o := at; o < at+probeBytes; o += int64(len(buf)) {
			if _, err := f.ReadAt(buf, o); err != nil {
				return false
			}
			sink += addWords(buf)
		}
		tRead = min(tRead, time.Since(start))
		start = time.Now()
		m, err := mmap.MapRegion(f, probeBytes, mmap.RDONLY, 0, at)
		if err != nil {
			return false
		}
		sink ^= addWords(m)
		m.Unmap()
		tMap = min(tMap, time.Since(start))
		probeSink.Add(sink)
	}
	return tMap < time.Duration(passes)*tRead
}

// probeSink keeps the probe's sums, so that no read is optimised away.
var probeSink atomic.Uint64

// addWords adds up b as 64-bit words (len(b) a multiple of 8).
func addWords(b []byte) uint64 {
	var s uint64
	for i := 0; i+8 <= len(b); i += 8 {
		s += binary.LittleEndian.Uint64(b[i:])
	}
	return s
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

// Mapped reports whether F64 and F32 serve.
func (r *Reader) Mapped() bool { return r.m != nil }

// F64 returns the n float64 elements from index lo on, in place in the
// mapping: read only, valid until Close. It panics where the file is not
// mapped or the range is not within the elements.
func (r *Reader) F64(lo, n uint64) []float64 {
	b := r.bytes(Float64, lo, n)
	return unsafe.Slice((*float64)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

// F32 is F64 for float32 elements.
func (r *Reader) F32(lo, n uint64) []float32 {
	b := r.bytes(Float32, lo, n)
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}

func (r *Reader) bytes(e Elem, lo, n uint64) []byte {
	if r.m == nil || r.l.Elem != e || lo > r.l.Count || n > r.l.Count-lo || n == 0 {
		panic(fmt.Sprintf("floatfile: %v elements [%d, %d) of a mapped file of %d %v (mapped: %v)", e, lo, lo+n, r.l.Count, r.l.Elem, r.m != nil))
	}
	off := uint64(r.l.Offset) + lo*uint64(e)
	return r.m[off : off+n*uint64(e)]
}

// Close unmaps and closes the file.
func (r *Reader) Close() error {
	if r.m != nil {
		r.m.Unmap()
		r.m = nil
	}
	return r.f.Close()
}
