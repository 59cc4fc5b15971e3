//go:build linux

package shmem

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"unsafe"

	"github.com/pishm/pishm/internal/proc"
)

// reopen attaches a second mapping through a duplicate of s's descriptor,
// as a child that inherited it does.
func reopen(t *testing.T, s *Segment) (*Segment, error) {
	t.Helper()
	fd, err := syscall.Dup(int(s.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return OpenFile(os.NewFile(uintptr(fd), "inherited"), s.Backing())
}

func TestCreateAttachRoundTrip(t *testing.T) {
	for _, b := range []Backing{Posix, File} {
		t.Run(string(b), func(t *testing.T) {
			before := dirNames(t)
			o := Options{Backing: b, Blocks: 3, Stride: 128, Tail: 24}
			if b == File {
				o.Path = filepath.Join(t.TempDir(), "seg")
			}
			s, err := Create(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var st syscall.Stat_t
			if err := syscall.Fstat(int(s.File().Fd()), &st); err != nil {
				t.Fatal(err)
			}
			if st.Mode&0o777 != 0o600 || st.Size != int64(Size(3, 128, 24)) {
				t.Fatalf("mode %#o size %d, want 0600 and %d", st.Mode&0o777, st.Size, Size(3, 128, 24))
			}
			if b == Posix {
				if after := dirNames(t); len(after) != len(before) {
					t.Fatalf("a POSIX segment has a name: %v -> %v", before, after)
				}
			}
			// A write through one mapping is seen through another.
			*(*uint64)(s.Block(2)) = 0xfeedface
			s.Tail()[23] = 7
			o2, err := reopen(t, s)
			if err != nil {
				t.Fatal(err)
			}
			defer o2.Close()
			if got := *(*uint64)(o2.Block(2)); got != 0xfeedface || o2.Tail()[23] != 7 || len(o2.Tail()) != 24 {
				t.Fatalf("second mapping sees %#x, tail %v", got, o2.Tail())
			}
			if uintptr(s.Block(1))-uintptr(s.Block(0)) != 128 || uintptr(s.Block(0))%128 != 0 {
				t.Fatal("blocks not at stride")
			}
			if err := s.Remove(); err != nil {
				t.Fatal(err)
			}
			if b == File {
				if _, err := os.Stat(o.Path); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("file still exists after Remove: %v", err)
				}
			}
		})
	}
}

// dirNames lists the pishm names in Dir.
func dirNames(t *testing.T) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(Dir, NamePrefix+"*"))
	return m
}

// corrupt creates a posix segment, applies f to its header, and attaches.
func corrupt(t *testing.T, f func(h *Header)) error {
	t.Helper()
	s, err := Create(Options{Backing: Posix, Blocks: 2, Stride: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f(s.Header())
	o, err := reopen(t, s)
	if err == nil {
		o.Close()
	}
	return err
}

func TestAttachRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*Header)
		want error
	}{
		{"magic", func(h *Header) { h.Magic[0] = 'X' }, ErrBadMagic},
		{"version", func(h *Header) { h.Version = 99 }, ErrBadVersion},
		{"size", func(h *Header) { h.Size++ }, ErrBadLayout},
		{"stride", func(h *Header) { h.Stride = 96 }, ErrBadLayout},
		{"blocks", func(h *Header) { h.Blocks = 5 }, ErrBadLayout},
		{"tail", func(h *Header) { h.Tail = 1 << 62 }, ErrBadLayout},
		{"owner", func(h *Header) { h.CreatorUID++ }, ErrNotOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := corrupt(t, tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCreateRefusesSymlinkAndExisting(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, make([]byte, 4096), 0o600)
	f, _ := os.OpenFile(junk, os.O_RDWR, 0)
	if _, err := OpenFile(f, File); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("junk: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(junk, link)
	if _, err := Create(Options{Backing: File, Path: link, Blocks: 1, Stride: 64, Force: true}); err == nil {
		t.Fatal("created over a symlink")
	}
	if _, err := Create(Options{Backing: File, Path: junk, Blocks: 1, Stride: 64}); err == nil {
		t.Fatal("created over an existing file without Force")
	}
}

func TestGeometry(t *testing.T) {
	for _, stride := range []int{0, 7, 48, 96, 8192} {
		if _, err := Create(Options{Blocks: 1, Stride: stride}); !errors.Is(err, ErrBadLayout) {
			t.Errorf("stride %d: err = %v", stride, err)
		}
	}
	for _, o := range []Options{{Blocks: 0, Stride: 128}, {Blocks: MaxBlocks + 1, Stride: 128}, {Blocks: 1, Stride: 128, Tail: -1}} {
		if _, err := Create(o); !errors.Is(err, ErrBadLayout) {
			t.Errorf("%+v: err = %v", o, err)
		}
	}
	if s := DefaultBlockStride(); s < 128 || s&(s-1) != 0 {
		t.Errorf("default stride %d", s)
	}
}

// TestFullFilesystem: a segment that does not fit is a one-line error and
// leaves no file, never a SIGBUS on first touch.
func TestFullFilesystem(t *testing.T) {
	free, err := FreeBytes(Dir)
	if err != nil {
		t.Skip(err)
	}
	blocks := MaxBlocks
	tail := int(min(free+1<<20, MaxTail))
	if uint64(Size(blocks, MaxStride, tail)) <= free {
		t.Skipf("%s has %d bytes free, more than the largest segment", Dir, free)
	}
	before := dirNames(t)
	_, err = Create(Options{Backing: Posix, Blocks: blocks, Stride: MaxStride, Tail: tail})
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("err = %v, want ErrNoSpace", err)
	}
	if after := dirNames(t); len(after) != len(before) {
		t.Fatalf("left %v", after)
	}
}

func FuzzValidate(f *testing.F) {
	s, err := Create(Options{Backing: Posix, Blocks: 2, Stride: 64, Tail: 8})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Header()
	good := append([]byte(nil), unsafe.Slice((*byte)(unsafe.Pointer(h)), h.Size)...)
	s.Close()
	f.Add(good)
	f.Add(good[:HeaderBytes])
	f.Add([]byte("PISHM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Validate(b, os.Geteuid())
		if err == nil {
			// Accepted: it must really be consistent.
			var h Header
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)), b)
			if h.Magic != Magic || Size(int(h.Blocks), int(h.Stride), int(h.Tail)) != len(b) {
				t.Fatalf("accepted an inconsistent header: %+v for %d bytes", h, len(b))
			}
		}
	})
}

// TestGCJudgesByName: a named file whose creator is dead goes, header or
// not (a creator killed before writing it leaves a file of zeros); a live
// creator's, another user's shape of name, or junk stays.
func TestGCJudgesByName(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	deadPid := cmd.Process.Pid
	me := os.Getpid()
	names := map[string]bool{ // name -> should go
		NamePrefix + strconv.Itoa(deadPid) + "-12345-aa":                                       true,
		NamePrefix + strconv.Itoa(me) + "-" + strconv.FormatUint(proc.Start(me), 10) + "-bb":   false,
		NamePrefix + strconv.Itoa(me) + "-" + strconv.FormatUint(proc.Start(me)+1, 10) + "-cc": true, // reused pid
		NamePrefix + "notapid-dd": false,
	}
	for n := range names {
		p := filepath.Join(Dir, n)
		if err := os.WriteFile(p, make([]byte, 640), 0o600); err != nil {
			t.Skip(err)
		}
		defer os.Remove(p)
	}
	removed, err := GC()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, r := range removed {
		got[r] = true
	}
	for n, gone := range names {
		if got[n] != gone {
			t.Errorf("%s: removed %v, want %v", n, got[n], gone)
		}
	}
}
