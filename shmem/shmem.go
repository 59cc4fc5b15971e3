// Package shmem creates and attaches the shared segment that pishm's
// processes meet in: a fixed header, then one accumulator block and one block
// per slot, each `stride` bytes so that no two writers share a cache line.
//
// It knows bytes and layout versions, not what the blocks hold: the engine
// overlays its own structs on Block(i). Two backings exist: POSIX shared
// memory (a file under /dev/shm) and a plain file the user names, mapped
// with mmap-go. Both are MAP_SHARED; the creator removes the segment.
package shmem

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/klauspost/cpuid/v2"
)

// Magic opens every segment.
var Magic = [8]byte{'P', 'I', 'S', 'H', 'M', 0, 0, 0}

// Version is the layout version written by Create and required by Open.
const Version = 1

// HeaderBytes is the space the header takes before block 0 (the header is
// smaller; the rest keeps block 0 off the header's cache lines).
const HeaderBytes = 256

// Stride limits.
const (
	MinStride     = 8
	DefaultStride = 128 // covers adjacent-line prefetch (PITFALLS.md #11)
	MaxStride     = 4096
	MaxSlots      = 1 << 16
)

// Sentinel errors for Open's validation; test them with errors.Is.
var (
	ErrBadMagic   = errors.New("shmem: bad magic (not a pishm segment)")
	ErrBadVersion = errors.New("shmem: unsupported layout version")
	ErrBadLayout  = errors.New("shmem: inconsistent layout")
	ErrNotOwner   = errors.New("shmem: segment owned by another user")
)

// Header is the layout at offset 0. Fields written once by the creator
// before any other process attaches are plain; fields that change while
// others run are atomics. All are fixed-size and naturally aligned.
type Header struct {
	Magic      [8]byte // 0
	Version    uint32  // 8
	HeaderSize uint32  // 12: bytes before block 0
	Size       uint64  // 16: total bytes
	Stride     uint64  // 24: bytes per block
	Slots      uint32  // 32: blocks after the accumulator block
	CreatorPID uint32  // 36
	CreatorUID uint32  // 40
	Mode       uint32  // 44: the user's, opaque here
	N          uint64  // 48: the user's, opaque here
	Chunk      uint64  // 56: the user's, opaque here
	Kernel     [16]byte

	State   atomic.Uint32 // 80: the user's state word
	Arrived atomic.Uint32 // 84: start barrier: processes that attached
	Go      atomic.Uint32 // 88: start barrier: set to 1 to release them
	// LaneStride is the spacing of the lanes (0: none): one small word
	// per slot after the blocks, packed as tightly as the creator asked, for
	// measuring false sharing.
	LaneStride uint32        // 92
	Next       atomic.Uint64 // 96: shared work counter (dynamic chunks)
	// CreatorStart is the creator's start time in clock ticks since boot
	// (/proc/PID/stat field 22): with CreatorPID it names the creator even
	// after its pid is reused, so GC removes only segments whose creator is
	// really gone.
	CreatorStart uint64 // 104
	// Job names the work, the user's and opaque here (a function name,
	// an operation, a schedule).
	Job    [64]byte // 112
	Aux    [3]atomic.Uint64
	Offset uint64 // 200: the user's, opaque here
}

// Compile-time checks: the header fits its space and atomics are aligned.
var (
	_ [HeaderBytes - unsafe.Sizeof(Header{})]byte
	_ [0]byte = [unsafe.Offsetof(Header{}.State) % 8]byte{}
	_ [0]byte = [unsafe.Offsetof(Header{}.Next) % 8]byte{}
)

// Size returns the segment size for slots blocks of stride bytes plus the
// accumulator block, plus slots lanes of lane bytes.
func Size(slots, stride, lane int) int {
	hs := headerSize(stride)
	return hs + (slots+1)*stride + slots*lane
}

func headerSize(stride int) int {
	if stride > HeaderBytes {
		return stride
	}
	return HeaderBytes
}

// StrideFor returns the block stride for a requested padding: pad rounded up
// to the CPU's cache line when pad is 0 (the default), else pad itself, so a
// benchmark can ask for 8 or 64 to show false sharing.
func StrideFor(pad int) int {
	if pad != 0 {
		return pad
	}
	s := DefaultStride
	if cl := cpuid.CPU.CacheLine; cl > s {
		s = cl
	}
	return s
}

func checkGeometry(slots, stride, lane int) error {
	if slots < 0 || slots > MaxSlots {
		return fmt.Errorf("%w: %d slots (max %d)", ErrBadLayout, slots, MaxSlots)
	}
	if lane != 0 && (lane < MinStride || lane > MaxStride || lane&(lane-1) != 0) {
		return fmt.Errorf("%w: lane stride %d (want 0 or a power of two in [%d, %d])", ErrBadLayout, lane, MinStride, MaxStride)
	}
	if stride < MinStride || stride > MaxStride || stride&(stride-1) != 0 {
		return fmt.Errorf("%w: stride %d (want a power of two in [%d, %d])", ErrBadLayout, stride, MinStride, MaxStride)
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
	if err := checkGeometry(int(h.Slots), int(h.Stride), int(h.LaneStride)); err != nil {
		return err
	}
	want := Size(int(h.Slots), int(h.Stride), int(h.LaneStride))
	if h.Size != uint64(size) || want != size || int(h.HeaderSize) != headerSize(int(h.Stride)) {
		return fmt.Errorf("%w: header says %d bytes (header %d), file has %d, layout needs %d",
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
