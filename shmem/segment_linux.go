package shmem

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"github.com/pishm/pishm/internal/proc"
	"golang.org/x/sys/unix"
)

// Segment is one attached mapping.
type Segment struct {
	backing Backing
	name    string // File: the path; Posix: "" (unnamed) or the name it had
	file    *os.File
	data    []byte
	fmap    mmap.MMap // set for the File backing
}

// Create makes a new segment of the given geometry, zero-filled, its space
// reserved (so that a full filesystem is an error here, never a SIGBUS on
// first touch), mode 0600, mapped shared, with a whole header.
func Create(o Options) (*Segment, error) {
	if err := checkGeometry(o.Blocks, o.Stride, o.Tail); err != nil {
		return nil, err
	}
	size := Size(o.Blocks, o.Stride, o.Tail)
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
	h.Blocks = uint32(o.Blocks)
	h.Tail = uint64(o.Tail)
	h.CreatorPID = uint32(os.Getpid())
	h.CreatorUID = uint32(os.Geteuid())
	h.CreatorStart = proc.Start(os.Getpid())
	// Nothing else maps the segment yet: the children that will attach
	// are started after Create returns, and exec orders these stores
	// before anything they read.
	h.Magic = Magic
	return s, nil
}

// createPosix makes an unnamed tmpfs file in Dir, or, where O_TMPFILE is
// not supported there, a named one that is unlinked before Create returns.
func createPosix(size int) (*Segment, error) {
	fd, err := unix.Open(Dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	name := ""
	if err != nil {
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
			return nil, &os.PathError{Op: "shm_open", Path: Dir, Err: err}
		}
		if name, err = creatorName(); err != nil {
			return nil, err
		}
		fd, err = unix.Open(filepath.Join(Dir, name), unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return nil, &os.PathError{Op: "shm_open", Path: name, Err: err}
		}
		// The name is only the way to the descriptor: drop it now, so
		// that a crash from here on leaves nothing behind.
		unix.Unlink(filepath.Join(Dir, name))
	}
	f := os.NewFile(uintptr(fd), filepath.Join(Dir, name))
	if err := reserve(fd, Dir, size); err != nil {
		f.Close()
		return nil, err
	}
	data, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "mmap", Path: Dir, Err: err}
	}
	return &Segment{backing: Posix, name: name, file: f, data: data}, nil
}

// creatorName is a fresh name that tells GC who made it:
// pishm-PID-START-RANDOM.
func creatorName() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	tag := proc.Self()
	if tag == "" {
		tag = strconv.Itoa(os.Getpid()) + "-0" // unjudgeable, and never GC'd: it is unlinked at once anyway
	}
	return NamePrefix + tag + "-" + hex.EncodeToString(b[:]), nil
}

// reserve allocates size bytes for fd, so that running out of space is an
// error now and not a SIGBUS when a page is first touched. Where the
// filesystem cannot fallocate, it checks the free space and sets the size.
func reserve(fd int, dir string, size int) error {
	err := unix.Fallocate(fd, 0, 0, int64(size))
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
		return fmt.Errorf("%w in %s for a %d-byte segment", ErrNoSpace, dir, size)
	}
	if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.ENOSYS) {
		return &os.PathError{Op: "fallocate", Path: dir, Err: err}
	}
	if free, ferr := FreeBytes(dir); ferr == nil && free < uint64(size) {
		return fmt.Errorf("%w in %s: %d bytes free, the segment needs %d", ErrNoSpace, dir, free, size)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return &os.PathError{Op: "ftruncate", Path: dir, Err: err}
	}
	return nil
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
			return nil, fmt.Errorf("shmem: %s already exists (Options.Force replaces it)", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("shmem: %w", err)
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
	if err := reserve(int(f.Fd()), filepath.Dir(path), size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%w (segment file %s)", err, path) // it starts "shmem: " already
	}
	m, err := mmap.MapRegion(f, size, mmap.RDWR, 0, 0) // RDWR is MAP_SHARED; never COPY
	if err != nil {
		return fail(err)
	}
	return &Segment{backing: File, name: path, file: f, data: m, fmap: m}, nil
}

// OpenFile attaches to the segment open as f (inherited from the creator)
// and checks it: a regular file of ours, mode 0600, whose header (magic,
// version, geometry, size) validates. The Segment owns f from then on.
func OpenFile(f *os.File, b Backing) (*Segment, error) {
	s, err := attach(f, b)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

func attach(f *os.File, b Backing) (*Segment, error) {
	name := f.Name()
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
	if size < HeaderBytes || size > MaxTail+MaxBlocks*MaxStride+MaxStride {
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

// File is the open segment, for passing to a child: a child attaches
// through it (OpenFile), with or without a name.
func (s *Segment) File() *os.File { return s.file }

// Backing reports where the segment lives.
func (s *Segment) Backing() Backing { return s.backing }

// Name is the File backing's path, or the name a POSIX segment was created
// under ("" when it never had one).
func (s *Segment) Name() string { return s.name }

// Header returns the header overlay.
func (s *Segment) Header() *Header { return (*Header)(unsafe.Pointer(&s.data[0])) }

// Block returns a pointer to block i in [0, Blocks): Stride bytes, aligned
// to Stride.
func (s *Segment) Block(i int) unsafe.Pointer {
	h := s.Header()
	if i < 0 || i >= int(h.Blocks) {
		panic(fmt.Sprintf("shmem: block %d out of range [0, %d)", i, h.Blocks))
	}
	return unsafe.Pointer(&s.data[int(h.HeaderSize)+i*int(h.Stride)])
}

// Tail is the bytes after the last block, aligned to Stride.
func (s *Segment) Tail() []byte {
	h := s.Header()
	off := int(h.HeaderSize) + int(h.Blocks)*int(h.Stride)
	return s.data[off : off+int(h.Tail) : off+int(h.Tail)]
}

// Close unmaps the segment and closes its file. It does not remove a
// File-backed segment's path (Remove does).
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

// Remove unlinks a File-backed segment's path so that nothing new can
// attach; the mapping stays valid until Close. POSIX segments have no name
// left to remove.
func (s *Segment) Remove() error {
	if s.backing != File {
		return nil
	}
	if err := os.Remove(s.name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("shmem: remove %q: %w", s.name, err)
	}
	return nil
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
