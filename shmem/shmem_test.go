package shmem

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"
)

func TestCreateOpenRoundTrip(t *testing.T) {
	for _, b := range []Backing{Posix, File} {
		t.Run(string(b), func(t *testing.T) {
			o := Options{Backing: b, Slots: 3, Stride: 128}
			if b == File {
				o.Path = filepath.Join(t.TempDir(), "seg")
			}
			s, err := Create(o)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Destroy()
			path := s.Name()
			if b == Posix {
				path = filepath.Join(Dir, s.Name())
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o600 || fi.Size() != int64(Size(3, 128, 0)) {
				t.Fatalf("mode %v size %d, want 0600 and %d", fi.Mode().Perm(), fi.Size(), Size(3, 128, 0))
			}
			// A write through one mapping is seen through another.
			*(*uint64)(s.Block(3)) = 0xfeedface
			o2, err := Open(b, s.Name())
			if err != nil {
				t.Fatal(err)
			}
			defer o2.Close()
			if got := *(*uint64)(o2.Block(3)); got != 0xfeedface {
				t.Fatalf("second mapping sees %#x", got)
			}
			if uintptr(s.Block(1))-uintptr(s.Block(0)) != 128 || uintptr(s.Block(0))%8 != 0 {
				t.Fatal("blocks not at stride")
			}
			if err := s.Destroy(); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("segment still exists after Destroy: %v", err)
			}
		})
	}
}

// corrupt creates a posix segment, applies f to its header, and opens it.
func corrupt(t *testing.T, f func(h *Header)) error {
	t.Helper()
	s, err := Create(Options{Backing: Posix, Slots: 2, Stride: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	f(s.Header())
	o, err := Open(Posix, s.Name())
	if err == nil {
		o.Close()
	}
	return err
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func(*Header)
		want error
	}{
		{"magic", func(h *Header) { h.Magic[0] = 'X' }, ErrBadMagic},
		{"version", func(h *Header) { h.Version = 99 }, ErrBadVersion},
		{"size", func(h *Header) { h.Size++ }, ErrBadLayout},
		{"stride", func(h *Header) { h.Stride = 96 }, ErrBadLayout},
		{"slots", func(h *Header) { h.Slots = 5 }, ErrBadLayout},
		{"owner", func(h *Header) { h.CreatorUID++ }, ErrNotOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := corrupt(t, tc.f); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestOpenRefusesSymlinkAndJunk(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk")
	os.WriteFile(junk, make([]byte, 4096), 0o600)
	if _, err := Open(File, junk); !errors.Is(err, ErrBadMagic) {
		t.Fatalf("junk: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(junk, link)
	if _, err := Open(File, link); err == nil {
		t.Fatal("opened through a symlink")
	}
	if _, err := Open(Posix, "../etc/passwd"); err == nil {
		t.Fatal("posix name with a slash accepted")
	}
	if _, err := Create(Options{Backing: File, Path: link, Slots: 1, Stride: 64, Force: true}); err == nil {
		t.Fatal("created over a symlink")
	}
	if _, err := Create(Options{Backing: File, Path: junk, Slots: 1, Stride: 64}); err == nil {
		t.Fatal("created over an existing file without Force")
	}
}

func TestGeometry(t *testing.T) {
	for _, stride := range []int{0, 7, 48, 8192} {
		if _, err := Create(Options{Slots: 1, Stride: stride}); !errors.Is(err, ErrBadLayout) {
			t.Errorf("stride %d: err = %v", stride, err)
		}
	}
	if s := StrideFor(0); s < 128 || s&(s-1) != 0 {
		t.Errorf("default stride %d", s)
	}
	if unsafe.Sizeof(Header{}) > HeaderBytes {
		t.Error("header too big")
	}
}

func FuzzValidate(f *testing.F) {
	s, err := Create(Options{Backing: Posix, Slots: 2, Stride: 64})
	if err != nil {
		f.Fatal(err)
	}
	good := append([]byte(nil), s.Bytes()...)
	s.Destroy()
	f.Add(good)
	f.Add(good[:HeaderBytes])
	f.Add([]byte("PISHM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		err := Validate(b, os.Geteuid())
		if err == nil {
			// Accepted: it must really be consistent.
			var h Header
			copy(unsafe.Slice((*byte)(unsafe.Pointer(&h)), unsafe.Sizeof(h)), b)
			if h.Magic != Magic || Size(int(h.Slots), int(h.Stride), int(h.LaneStride)) != len(b) {
				t.Fatalf("accepted an inconsistent header: %+v for %d bytes", h.Magic, len(b))
			}
		}
	})
}

func TestGCRemovesOnlyDeadCreators(t *testing.T) {
	dead, err := Create(Options{Backing: Posix, Slots: 1, Stride: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Destroy()
	live, err := Create(Options{Backing: Posix, Slots: 1, Stride: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Destroy()
	// A process that has exited and been reaped stands in for a creator
	// killed before it could unlink.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead.Header().CreatorPID = uint32(cmd.Process.Pid)
	removed, err := GC()
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || removed[0] != dead.Name() {
		t.Fatalf("GC removed %v, want only %s", removed, dead.Name())
	}
	if _, err := os.Stat(filepath.Join(Dir, live.Name())); err != nil {
		t.Fatalf("GC removed a live creator's segment: %v", err)
	}
	// Our own pid with the wrong start time is a reused pid: dead too.
	live.Header().CreatorStart++
	if removed, _ := GC(); len(removed) != 1 || removed[0] != live.Name() {
		t.Fatalf("GC with a reused pid removed %v", removed)
	}
}

func TestOpenFileAfterRemove(t *testing.T) {
	s, err := Create(Options{Backing: Posix, Slots: 2, Stride: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if err := s.Remove(); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Dup(int(s.File().Fd()))
	if err != nil {
		t.Fatal(err)
	}
	o, err := OpenFile(os.NewFile(uintptr(fd), "inherited"), Posix)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	*(*uint64)(s.Block(2)) = 42
	if *(*uint64)(o.Block(2)) != 42 {
		t.Fatal("mapping through the inherited fd is not shared")
	}
}

func TestLanes(t *testing.T) {
	s, err := Create(Options{Backing: Posix, Slots: 4, Stride: 128, LaneStride: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	if d := uintptr(s.Lane(1)) - uintptr(s.Lane(0)); d != 8 {
		t.Fatalf("lanes %d bytes apart, want 8", d)
	}
	if end := uintptr(s.Lane(3)) + 8 - uintptr(unsafe.Pointer(&s.Bytes()[0])); end != uintptr(len(s.Bytes())) {
		t.Fatalf("last lane ends at %d of %d", end, len(s.Bytes()))
	}
	if uintptr(s.Lane(0)) < uintptr(s.Block(4))+128 {
		t.Fatal("lanes overlap the blocks")
	}
	o, err := Open(Posix, s.Name())
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, err := Create(Options{Slots: 1, Stride: 128, LaneStride: 12}); !errors.Is(err, ErrBadLayout) {
		t.Fatalf("lane stride 12: %v", err)
	}
}
