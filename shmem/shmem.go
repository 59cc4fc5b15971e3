// Package shmem creates and attaches the shared segment that pishm's
// processes meet in: a header that records the segment's geometry and its
// owner, then Blocks blocks of Stride bytes each (so that no two writers
// share a cache line), then a tail of bytes the user lays out as it likes.
//
// It owns bytes, geometry and ownership, not what the blocks hold: the
// engine overlays its own structs on Block(i) and Tail(). Two backings
// exist: POSIX shared memory (tmpfs under /dev/shm) and a plain file the
// user names, mapped with mmap-go. Both are MAP_SHARED.
//
// A POSIX segment is created without a name (O_TMPFILE on /dev/shm), so
// nothing is ever left under /dev/shm however its creator dies; children
// attach through the inherited descriptor (OpenFile). Where the kernel lacks
// O_TMPFILE on tmpfs, the segment gets a name that says who made it
// (pishm-PID-START-RANDOM) and loses it at once; GC judges such names by
// the creator's pid and start time without reading the file.
package shmem

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// Magic opens every segment.
var Magic = [8]byte{'P', 'I', 'S', 'H', 'M', 0, 0, 0}

// Version is the header layout version written by Create and required by
// OpenFile.
const Version = 2

// HeaderBytes is the space the header takes before block 0 (the header is
// smaller; the rest keeps block 0 off the header's cache lines).
const HeaderBytes = 128

// Geometry limits.
const (
	MinStride     = 64
	DefaultStride = 128 // a cache line pair: covers the adjacent-line prefetcher
	MaxStride     = 4096
	MaxBlocks     = 1 << 16
	MaxTail       = 1 << 30
)

// Sentinel errors for the header checks; test them with errors.Is.
var (
	ErrBadMagic   = errors.New("shmem: bad magic (not a pishm segment)")
	ErrBadVersion = errors.New("shmem: unsupported layout version")
	ErrBadLayout  = errors.New("shmem: inconsistent layout")
	ErrNotOwner   = errors.New("shmem: segment owned by another user")
	ErrNoSpace    = errors.New("shmem: not enough space")
)

// Header is the layout at offset 0: written once by the creator before any
// other process attaches, read-only afterwards.
type Header struct {
	Magic      [8]byte // 0
	Version    uint32  // 8
	HeaderSize uint32  // 12: bytes before block 0
	Size       uint64  // 16: total bytes
	Stride     uint64  // 24: bytes per block
	Blocks     uint32  // 32
	CreatorPID uint32  // 36
	Tail       uint64  // 40: bytes after the last block
	CreatorUID uint32  // 48
	_          uint32  // 52
	// CreatorStart is the creator's start time in clock ticks since boot
	// (/proc/PID/stat field 22): with CreatorPID it names the creator even
	// after its pid is reused.
	CreatorStart uint64 // 56
}

// Compile-time checks: the header fits its space.
var _ [HeaderBytes - unsafe.Sizeof(Header{})]byte

// Size returns the segment size for blocks of stride bytes and tail bytes.
func Size(blocks, stride, tail int) int {
	return headerSize(stride) + blocks*stride + tail
}

func headerSize(stride int) int { return max(stride, HeaderBytes) }

// DefaultBlockStride is the block stride for this CPU: its cache line, at
// least DefaultStride (128 bytes, so that the adjacent-line prefetcher
// never pulls a neighbour's block along).
func DefaultBlockStride() int { return max(DefaultStride, cpuid.CPU.CacheLine) }

func checkGeometry(blocks, stride, tail int) error {
	if blocks < 1 || blocks > MaxBlocks {
		return fmt.Errorf("%w: %d blocks (want 1..%d)", ErrBadLayout, blocks, MaxBlocks)
	}
	if stride < MinStride || stride > MaxStride || stride&(stride-1) != 0 {
		return fmt.Errorf("%w: stride %d (want a power of two in [%d, %d])", ErrBadLayout, stride, MinStride, MaxStride)
	}
	if tail < 0 || tail > MaxTail {
		return fmt.Errorf("%w: tail %d bytes (max %d)", ErrBadLayout, tail, MaxTail)
	}
	return nil
}

// validate checks a header read from a mapping of size bytes.
func validate(h *Header, size int, uid int) error {
	if h.Magic != Magic {
		return ErrBadMagic
	}
	if h.Version != Version {
		return fmt.Errorf("%w: %d (want %d)", ErrBadVersion, h.Version, Version)
	}
	if h.Tail > MaxTail {
		return fmt.Errorf("%w: tail %d bytes (max %d)", ErrBadLayout, h.Tail, MaxTail)
	}
	if err := checkGeometry(int(h.Blocks), int(h.Stride), int(h.Tail)); err != nil {
		return err
	}
	want := Size(int(h.Blocks), int(h.Stride), int(h.Tail))
	if h.Size != uint64(size) || want != size || int(h.HeaderSize) != headerSize(int(h.Stride)) {
		return fmt.Errorf("%w: header says %d bytes (header %d), mapping has %d, layout needs %d",
			ErrBadLayout, h.Size, h.HeaderSize, size, want)
	}
	if int(h.CreatorUID) != uid {
		return fmt.Errorf("%w: creator uid %d, we are %d", ErrNotOwner, h.CreatorUID, uid)
	}
	return nil
}

// Validate checks that b (a whole segment's bytes) holds a well-formed
// header for a segment of len(b) bytes created by uid. It never panics.
func Validate(b []byte, uid int) error {
	if len(b) < HeaderBytes {
		return fmt.Errorf("%w: %d bytes is smaller than a header", ErrBadLayout, len(b))
	}
	var h Header
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)), b)
	return validate(&h, len(b), uid)
}

// Backing is where a segment lives.
type Backing string

const (
	// Posix is POSIX shared memory: tmpfs under /dev/shm.
	Posix Backing = "posix"
	// File is a regular file at a path the user names.
	File Backing = "file"
)

// Dir is where POSIX shared memory objects live on Linux.
const Dir = "/dev/shm"

// NamePrefix starts the name of every named POSIX segment pishm creates.
const NamePrefix = "pishm-"

// Options says what to create.
type Options struct {
	Backing Backing
	// Path is the file for the File backing. It must not exist unless
	// Force is set, and must not be a symlink.
	Path  string
	Force bool
	// Blocks of Stride bytes each (see DefaultBlockStride), then Tail
	// bytes.
	Blocks int
	Stride int
	Tail   int
}
