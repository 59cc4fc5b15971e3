package shared

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func writeFloats(t *testing.T, path string, xs []float64) {
	t.Helper()
	var b []byte
	for _, x := range xs {
		b = binary.NativeEndian.AppendUint64(b, math.Float64bits(x))
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// MapFile maps once, serves the same mapping again, and maps afresh a
// file replaced on disk; a size that is not whole elements is refused.
func TestMapFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.f64")
	writeFloats(t, p, []float64{1, 2, 3})
	a, err := MapFile[float64](p)
	if err != nil || len(a) != 3 || a[2] != 3 {
		t.Fatalf("%v %v", a, err)
	}
	b, _ := MapFile[float64](p)
	if &a[0] != &b[0] {
		t.Error("mapped twice")
	}
	tmp := p + ".new"
	writeFloats(t, tmp, []float64{4, 5})
	if err := os.Rename(tmp, p); err != nil {
		t.Fatal(err)
	}
	c, err := MapFile[float64](p)
	if err != nil || len(c) != 2 || c[0] != 4 {
		t.Errorf("after the file was replaced: %v %v", c, err)
	}
	if _, err := MapFile[float32](filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("a missing file mapped")
	}
	odd := filepath.Join(t.TempDir(), "odd")
	os.WriteFile(odd, []byte{1, 2, 3}, 0o644)
	if _, err := MapFile[float64](odd); err == nil {
		t.Error("3 bytes mapped as float64s")
	}
}

// An array is seen through Attach in its own process as the same slice,
// and refused after Close.
func TestAttachInProcess(t *testing.T) {
	a, err := New[float32](10)
	if err != nil {
		t.Skip(err)
	}
	a.Data()[3] = 7
	xs, err := Attach[float32](a.Handle())
	if err != nil || len(xs) != 10 || xs[3] != 7 {
		t.Fatalf("%v %v", xs, err)
	}
	if _, err := Attach[float64](a.Handle()); err == nil {
		t.Error("a float32 array attached as float64")
	}
	h := a.Handle()
	a.Close()
	if _, err := Attach[float32](h); err == nil {
		t.Error("a closed array attached")
	}
	if _, err := Attach[float32]("pishm-array:bogus"); err == nil {
		t.Error("a bogus handle attached")
	}
}
