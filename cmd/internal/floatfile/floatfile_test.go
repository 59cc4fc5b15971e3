package floatfile

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"unsafe"
)

// npyFile builds a .npy file byte by byte, as NumPy writes it: magic,
// version, header length, the dict padded with spaces to a multiple of 64
// bytes and ended by a newline, then data.
func npyFile(major byte, dict string, data []byte) []byte {
	lenBytes := 2
	if major >= 2 {
		lenBytes = 4
	}
	pre := len(magic) + 2 + lenBytes
	h := dict
	for (pre+len(h)+1)%64 != 0 {
		h += " "
	}
	h += "\n"
	b := append([]byte(magic), major, 0)
	if lenBytes == 2 {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(h)))
	} else {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(h)))
	}
	b = append(b, h...)
	return append(b, data...)
}

func f64Bytes(xs ...float64) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

func f32Bytes(xs ...float32) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(x))
	}
	return b
}

func write(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRawAndNPY(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		raw  Elem
		want []float64
		elem Elem
		npy  bool
	}{
		{"raw.f64", f64Bytes(1, -2.5, math.Inf(1)), Float64, []float64{1, -2.5, math.Inf(1)}, Float64, false},
		{"raw.f32", f32Bytes(1, 0.1, -3), Float32, []float64{1, float64(float32(0.1)), -3}, Float32, false},
		{"v1.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64Bytes(4, 5, 6)), Float32, []float64{4, 5, 6}, Float64, true},
		{"v2.npy", npyFile(2, `{"descr": "<f4", "fortran_order": False, "shape": (2, 2)}`, f32Bytes(1, 2, 3, 4)), Float64, []float64{1, 2, 3, 4}, Float32, true},
		{"v3.npy", npyFile(3, "{'descr': '=f8', 'fortran_order': False, 'shape': (1L,)}", f64Bytes(7)), Float64, []float64{7}, Float64, true},
		{"scalar.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", f64Bytes(9)), Float64, []float64{9}, Float64, true},
		// Named .npy but without the magic: raw data.
		{"raw.npy", f64Bytes(1, 2), Float64, []float64{1, 2}, Float64, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, c.name, c.b)
			l, err := Inspect(p, c.raw)
			if err != nil {
				t.Fatal(err)
			}
			if l.Elem != c.elem || l.NPY != c.npy || l.Count != uint64(len(c.want)) {
				t.Fatalf("layout %+v, want %v npy=%v count %d", l, c.elem, c.npy, len(c.want))
			}
			if l.NPY && l.Offset%64 != 0 {
				t.Errorf("npy data at %d, want a multiple of 64", l.Offset)
			}
			r, err := Open(p, l, false)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := make([]float64, len(c.want))
			if l.Elem == Float64 {
				err = r.ReadF64(0, got)
			} else {
				g32 := make([]float32, len(c.want))
				err = r.ReadF32(0, g32)
				for i, x := range g32 {
					got[i] = float64(x)
				}
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, w := range c.want {
				if math.Float64bits(got[i]) != math.Float64bits(w) {
					t.Errorf("element %d = %v, want %v", i, got[i], w)
				}
			}
			// A read from an index on, and one past the end.
			if n := len(c.want); n > 1 && l.Elem == Float64 {
				tail := make([]float64, n-1)
				if err := r.ReadF64(1, tail); err != nil || math.Float64bits(tail[0]) != math.Float64bits(c.want[1]) {
					t.Errorf("ReadF64(1) = %v, %v", tail, err)
				}
				if err := r.ReadF64(2, tail); err == nil {
					t.Error("a read past the end succeeded")
				}
			}
		})
	}
}

func TestBadFiles(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		b    []byte // nil: do not create
		raw  Elem
		want string
	}{
		{"missing", nil, Float64, "no such file or directory"},
		{"empty", []byte{}, Float64, "is empty"},
		{"odd", make([]byte, 12), Float64, "12 bytes is not a whole number of f64 elements"},
		{"odd32", make([]byte, 6), Float32, "6 bytes is not a whole number of f32 elements"},
		{"big-endian.npy", npyFile(1, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", f64Bytes(1)), Float64, `dtype ">f8" is not supported`},
		{"int.npy", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", make([]byte, 8)), Float64, `dtype "<i4" is not supported`},
		{"f16.npy", npyFile(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", make([]byte, 8)), Float64, `dtype "<f2" is not supported`},
		{"fortran.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': True, 'shape': (2, 1), }", f64Bytes(1, 2)), Float64, "Fortran order"},
		{"short.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", f64Bytes(1, 2)), Float64, "truncated .npy: shape (3,) needs 24 bytes of data after byte 128, the file has 16"},
		{"huge.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4294967296, 4294967296, 4294967296), }", f64Bytes(1)), Float64, "truncated .npy"},
		{"long.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", f64Bytes(1, 2)), Float64, "8 bytes follow"},
		{"zero.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (0,), }", nil), Float64, "is empty"},
		{"cut-header.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", nil)[:30], Float64, "truncated .npy: the header is"},
		{"cut-preamble.npy", []byte(magic + "\x01"), Float64, "truncated .npy"},
		{"version.npy", append([]byte(magic), 9, 0, 0, 0), Float64, "version 9.0 is not supported"},
		{"nokey.npy", npyFile(1, "{'descr': '<f8', 'shape': (1,), }", f64Bytes(1)), Float64, `no "fortran_order" key`},
		{"garbage.npy", npyFile(1, "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (1,), }", f64Bytes(1)), Float64, "want True or False"},
		{"structured.npy", npyFile(1, "{'descr': [('a', '<f8')], 'fortran_order': False, 'shape': (1,), }", f64Bytes(1)), Float64, "structured dtype"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := filepath.Join(dir, c.name)
			if c.b != nil {
				if err := os.WriteFile(p, c.b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Inspect(p, c.raw)
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("Inspect = %v, want an *Error", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, p+": ") || strings.Contains(msg, "\n") {
				t.Errorf("error %q, want one line starting with the path and containing %q", msg, c.want)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		_, err := Inspect(dir, Float64)
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Errorf("Inspect(dir) = %v, want 'is a directory'", err)
		}
	})
}

// A file that shrinks between Inspect and Open is refused, not read past
// its end.
func TestOpenShrunk(t *testing.T) {
	p := write(t, "x.f64", f64Bytes(1, 2, 3))
	l, err := Inspect(p, Float64)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(p, 8); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(p, l, true); err == nil || !strings.Contains(err.Error(), "fewer than") {
		t.Errorf("Open of a shrunk file = %v, want an error", err)
	}
}

func TestParseElem(t *testing.T) {
	for s, want := range map[string]Elem{"f64": Float64, "float32": Float32, "f32": Float32} {
		if got, err := ParseElem(s); err != nil || got != want {
			t.Errorf("ParseElem(%q) = %v, %v", s, got, err)
		}
	}
	if _, err := ParseElem("i8"); err == nil {
		t.Error("ParseElem(i8) succeeded")
	}
}

// A raw file whose first bytes are UTF-8 continuation bytes is not text:
// 0.1 as float64 is 9a 99 99 99 99 99 b9 3f, and once read as text
// because a character "cut at the start" was skipped at the file's first
// byte, where nothing can be cut.
func TestSniffContinuationBytesAreRaw(t *testing.T) {
	for _, b := range [][]byte{
		binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)),
		binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, math.Float64bits(0.1)), math.Float64bits(0.1)),
	} {
		if f, err := Sniff("x", bytes.NewReader(b), int64(len(b)), b, b); err != nil || f != Raw {
			t.Errorf("% x: %v, %v; want Raw", b, f, err)
		}
	}
	// Text cut inside a character is still text, at the end of the head
	// and, for a sample from inside the file, at its start.
	text := []byte("price\n1,€\n2,€\n")
	if f, err := Sniff("x", bytes.NewReader(text), 100, text[:15], text[9:]); err != nil || f != Text {
		t.Errorf("cut text: %v, %v; want Text", f, err)
	}
}

// A mapped file's elements are read in place, the same as pread reads
// them; and a file that shrinks under the mapping makes the read panic
// (with debug.SetPanicOnFault, as filestats sets it) instead of crashing
// the process.
func TestMapped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.f64")
	xs := make([]float64, 3*4096)
	for i := range xs {
		xs[i] = float64(i) / 3
	}
	if err := os.WriteFile(path, unsafe.Slice((*byte)(unsafe.Pointer(&xs[0])), 8*len(xs)), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Open(path, Layout{Elem: Float64, Count: uint64(len(xs))}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if !r.Mapped() {
		t.Fatal("a regular file in a temporary directory is not mapped")
	}
	got := r.F64(5, 4000)
	buf := make([]float64, 4000)
	if err := r.ReadF64(5, buf); err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if got[i] != xs[5+i] || buf[i] != xs[5+i] {
			t.Fatalf("element %d: mapped %v, pread %v, want %v", 5+i, got[i], buf[i], xs[5+i])
		}
	}
	tail := r.F64(uint64(len(xs)-10), 10)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if recover() == nil {
			t.Error("reading a mapping past the end of its shrunken file did not panic")
		}
	}()
	var sum float64
	for _, x := range tail {
		sum += x
	}
	t.Errorf("read %v from a mapping whose file is now empty", sum)
}

// MapPays leaves small files to pread without a probe, and a probe of a
// large one leaves no mapping behind. (Which way it decides depends on
// the machine: both ways are tested end to end in filestats.)
func TestMapPays(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.f64")
	if err := os.WriteFile(small, make([]byte, 8<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	if MapPays(small, Layout{Elem: Float64, Count: 1 << 10}, 2) {
		t.Error("MapPays chose to map an 8 KiB file")
	}
	large := filepath.Join(dir, "large.f64")
	if err := os.WriteFile(large, make([]byte, mapMin), 0o644); err != nil {
		t.Fatal(err)
	}
	MapPays(large, Layout{Elem: Float64, Count: mapMin / 8}, 2)
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skip("no /proc/self/maps")
	}
	if strings.Contains(string(maps), large) {
		t.Error("the probe left a mapping of the file")
	}
}
