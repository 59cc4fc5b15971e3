package shmem

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Backing is where a segment lives.
type Backing string

const (
	// Posix is POSIX shared memory: a file under /dev/shm.
	Posix Backing = "posix"
	// File is a regular file at a path the user names.
	File Backing = "file"
)

// Dir is where POSIX shared memory objects live on Linux.
const Dir = "/dev/shm"

// NamePrefix starts the name of every POSIX segment pishm creates.
const NamePrefix = "pishm-"

// Options says what to create.
type Options struct {
	Backing Backing
	// Path is the file for the File backing. It must not exist unless
	// Force is set, and must not be a symlink.
	Path  string
	Force bool
	Slots int
	// Stride is the block size in bytes (see StrideFor).
	Stride int
	// LaneStride, if not 0, adds one lane of that many bytes per slot.
	LaneStride int
}

// Segment is one attached mapping.
type Segment struct {
	backing Backing
	name    string // POSIX: name under Dir; File: the path
	file    *os.File
	data    []byte
	fmap    mmap.MMap // set for the File backing
}

// Create makes a new segment of the given geometry, zero-filled, with a
// fresh header, mode 0600, and maps it shared.
func Create(o Options) (*Segment, error) {
	if err := checkGeometry(o.Slots, o.Stride, o.LaneStride); err != nil {
		return nil, err
	}
	size := Size(o.Slots, o.Stride, o.LaneStride)
	var s *Segment
	var err error
	switch o.Backing {
	case Posix, "":
		s, err = createPosix(size)
	case File:
		s, err = createFile(o.Path, o.Force, size)
	default:
		return nil, fmt.Errorf("shmem: unknown backing %q (want posix or file)", o.Backing)
	}
	if err != nil {
		return nil, err
	}
	h := s.Header()
	h.Version = Version
	h.HeaderSize = uint32(headerSize(o.Stride))
	h.Size = uint64(size)
	h.Stride = uint64(o.Stride)
	h.Slots = uint32(o.Slots)
	h.LaneStride = uint32(o.LaneStride)
	h.CreatorPID = uint32(os.Getpid())
	h.CreatorUID = uint32(os.Geteuid())
	h.CreatorStart = startTime(os.Getpid())
	h.Magic = Magic // last: a reader that sees the magic sees a whole header
	return s, nil
}

func randomName() (string, error) {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d-%s", NamePrefix, os.Getpid(), hex.EncodeToString(b[:])), nil
}

func createPosix(size int) (*Segment, error) {
	name, err := randomName()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(Dir, name)
	var st unix.Statfs_t
	if err := unix.Statfs(Dir, &st); err != nil {
		return nil, &os.PathError{Op: "statfs", Path: Dir, Err: err}
	}
	// /dev/shm overrun gives SIGBUS on first touch, not an error
	// (PITFALLS.md #5): check and reserve up front.
	if free := st.Bavail * uint64(st.Bsize); free < uint64(size) {
		return nil, fmt.Errorf("shmem: %s has %d bytes free, segment needs %d", Dir, free, size)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "shm_open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	fail := func(op string, err error) (*Segment, error) {
		f.Close()
		unix.Unlink(path)
		return nil, &os.PathError{Op: op, Path: name, Err: err}
	}
	if err := unix.Fallocate(fd, 0, 0, int64(size)); err != nil {
		if err := unix.Ftruncate(fd, int64(size)); err != nil {
			return fail("ftruncate", err)
		}
	}
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	return &Segment{backing: Posix, name: name, file: f, data: data}, nil
}

func createFile(path string, force bool, size int) (*Segment, error) {
	if path == "" {
		return nil, errors.New("shmem: the file backing needs a path")
	}
	if fi, err := os.Lstat(path); err == nil {
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			return nil, fmt.Errorf("shmem: %s is a symlink; refusing to follow it", path)
		case !fi.Mode().IsRegular():
			return nil, fmt.Errorf("shmem: %s exists and is not a regular file", path)
		case !force:
			return nil, fmt.Errorf("shmem: %s already exists (use -force to overwrite it)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("shmem: create %s: %w", path, err)
	}
	fail := func(err error) (*Segment, error) {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("shmem: %s: %w", path, err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, int64(size)); err != nil {
		if err := f.Truncate(int64(size)); err != nil {
			return fail(err)
		}
	}
	m, err := mmap.MapRegion(f, size, mmap.RDWR, 0, 0) // RDWR is MAP_SHARED; never COPY
	if err != nil {
		return fail(err)
	}
	return &Segment{backing: File, name: path, file: f, data: m, fmap: m}, nil
}

// Open attaches to an existing segment by name and validates its header:
// magic, version, size, stride and owner. It refuses symlinks.
func Open(b Backing, name string) (*Segment, error) {
	var path string
	switch b {
	case Posix:
		if name == "" || strings.ContainsRune(name, '/') {
			return nil, fmt.Errorf("shmem: bad segment name %q", name)
		}
		path = filepath.Join(Dir, name)
	case File:
		path = name
	default:
		return nil, fmt.Errorf("shmem: unknown backing %q (want posix or file)", b)
	}
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shmem: open %q: %w", name, err)
	}
	s, err := attach(f, b, name)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// OpenFile attaches to the segment open as f (inherited from the creator,
// say, after the name was removed), with the same checks as Open. The
// Segment owns f from then on.
func OpenFile(f *os.File, b Backing) (*Segment, error) {
	s, err := attach(f, b, f.Name())
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func attach(f *os.File, b Backing, name string) (*Segment, error) {
	if b != Posix && b != File {
		return nil, fmt.Errorf("shmem: unknown backing %q (want posix or file)", b)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("shmem: open %q: %w", name, os.NewSyscallError("fstat", err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, fmt.Errorf("shmem: open %q: not a regular file", name)
	}
	if int(st.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("shmem: open %q: %w (file uid %d)", name, ErrNotOwner, st.Uid)
	}
	if st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("shmem: open %q: mode %#o lets others in (want 0600)", name, st.Mode&0o777)
	}
	size := st.Size
	if size < HeaderBytes || size > 1<<32 {
		return nil, fmt.Errorf("shmem: open %q: %w: size %d", name, ErrBadLayout, size)
	}
	s := &Segment{backing: b, name: name, file: f}
	var err error
	if b == Posix {
		s.data, err = unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	} else {
		s.fmap, err = mmap.MapRegion(f, int(size), mmap.RDWR, 0, 0)
		s.data = s.fmap
	}
	if err != nil {
		return nil, fmt.Errorf("shmem: map %q: %w", name, err)
	}
	if err := validate(s.Header(), len(s.data), os.Geteuid()); err != nil {
		s.unmap()
		return nil, fmt.Errorf("shmem: open %q: %w", name, err)
	}
	return s, nil
}

// File is the open segment, for passing to a child (exec.Cmd.ExtraFiles):
// a child can attach through it after the name is gone.
func (s *Segment) File() *os.File { return s.file }

// Backing reports where the segment lives.
func (s *Segment) Backing() Backing { return s.backing }

// Name is the segment's name under /dev/shm (POSIX) or its path (File).
func (s *Segment) Name() string { return s.name }

// Header returns the header overlay.
func (s *Segment) Header() *Header { return (*Header)(unsafe.Pointer(&s.data[0])) }

// Stride is the block size in bytes.
func (s *Segment) Stride() int { return int(s.Header().Stride) }

// Block returns a pointer to block i: 0 is the accumulator, 1..Slots the
// slots. The block is Stride bytes, aligned to 8 bytes at least.
func (s *Segment) Block(i int) unsafe.Pointer {
	h := s.Header()
	if i < 0 || i > int(h.Slots) {
		panic(fmt.Sprintf("shmem: block %d out of range [0, %d]", i, h.Slots))
	}
	return unsafe.Pointer(&s.data[int(h.HeaderSize)+i*int(h.Stride)])
}

// Lane returns a pointer to slot i's lane (i in [0, Slots)), or nil if the
// segment has no lanes. Lanes are LaneStride bytes apart, 8-byte aligned.
func (s *Segment) Lane(i int) unsafe.Pointer {
	h := s.Header()
	if h.LaneStride == 0 {
		return nil
	}
	if i < 0 || i >= int(h.Slots) {
		panic(fmt.Sprintf("shmem: lane %d out of range [0, %d)", i, h.Slots))
	}
	base := int(h.HeaderSize) + (int(h.Slots)+1)*int(h.Stride)
	return unsafe.Pointer(&s.data[base+i*int(h.LaneStride)])
}

// Bytes is the whole mapping.
func (s *Segment) Bytes() []byte { return s.data }

// Close unmaps the segment and closes its file. It does not remove it.
func (s *Segment) Close() error {
	err := s.unmap()
	if s.file != nil {
		err = errors.Join(err, s.file.Close())
		s.file = nil
	}
	return err
}

func (s *Segment) unmap() error {
	if s.data == nil {
		return nil
	}
	var err error
	if s.fmap != nil {
		err = s.fmap.Unmap()
	} else {
		err = unix.Munmap(s.data)
	}
	s.data, s.fmap = nil, nil
	return err
}

// Remove unlinks the segment's name so that nothing new can attach; the
// mapping stays valid until Close. Only the creator should call it.
func (s *Segment) Remove() error {
	path := s.name
	if s.backing == Posix {
		path = filepath.Join(Dir, s.name)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("shmem: remove %q: %w", s.name, err)
	}
	return nil
}

// Destroy is Close then Remove.
func (s *Segment) Destroy() error {
	return errors.Join(s.Close(), s.Remove())
}

// MapFile maps a whole file read-only and shared, for inputs every worker
// reads (a large array, say): the pages are the page cache's, one copy
// for all processes. Call unmap when done.
func MapFile(path string) (data []byte, unmap func() error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("shmem: map %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("shmem: map %w", err)
	}
	if fi.Size() == 0 {
		return nil, func() error { return nil }, nil
	}
	m, err := mmap.Map(f, mmap.RDONLY, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("shmem: map %s: %w", path, err)
	}
	return m, m.Unmap, nil
}

// FreeBytes returns the space free to us under dir (Dir for /dev/shm).
func FreeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, &os.PathError{Op: "statfs", Path: dir, Err: err}
	}
	return st.Bavail * uint64(st.Bsize), nil
}
