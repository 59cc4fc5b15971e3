package filestats

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/internal/floatfile"
)

func TestMain(m *testing.M) { engine.RunTests(m) }

// Compute leaves no file open in the calling process, where pieces may
// run (the goroutines mode): a program may call it any number of times.
func TestComputeClosesFiles(t *testing.T) {
	var b []byte
	for i := range 50_000 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(i%1000)))
	}
	path := filepath.Join(t.TempDir(), "x.f64")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := floatfile.Inspect(path, floatfile.Float64)
	if err != nil {
		t.Fatal(err)
	}
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(es)
	}
	before := -1
	for i := range 4 {
		if i == 1 { // after the first call: the runtime's poller is set up once
			before = fds()
		}
		mode := []engine.Mode{engine.Slots, engine.Goroutines}[i%2] // goroutines: the pieces run here
		r, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: mode, Bins: 5})
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 50_000 || r.Sum != 50*999*1000/2 || r.Min != 0 || r.Max != 999 {
			t.Fatalf("count %d sum %v min %v max %v", r.Count, r.Sum, r.Min, r.Max)
		}
	}
	if after := fds(); after != before {
		t.Errorf("%d open files before, %d after", before, after)
	}
}

// Progress hears from both passes, each ending with a final report, in
// order.
func TestProgress(t *testing.T) {
	var b []byte
	for i := range 10_000 {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(float64(i)))
	}
	path := filepath.Join(t.TempDir(), "x.f64")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := floatfile.Inspect(path, floatfile.Float64)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var finals []int
	_, err = Compute(context.Background(), path, l, Options{Workers: 2, Mode: engine.Slots, Bins: 3,
		Progress: func(pass int, p engine.Progress) {
			if p.Final {
				mu.Lock()
				finals = append(finals, pass)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(finals) != 2 || finals[0] != 1 || finals[1] != 2 {
		t.Errorf("final reports from passes %v, want [1 2]", finals)
	}
}

// With a range, a file whose sample serves takes one pass; one with an
// outlier the sample misses takes a second.
func TestRangePasses(t *testing.T) {
	for _, c := range []struct {
		outlier bool
		want    []int
	}{{false, []int{1}}, {true, []int{1, 2}}} {
		var b []byte
		for i := range 100_000 {
			x := 5 + float64(i%997)/997
			if c.outlier && i == 54_321 {
				x = 1e9
			}
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
		}
		path := filepath.Join(t.TempDir(), "x.f64")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		l, err := floatfile.Inspect(path, floatfile.Float64)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var finals []int
		r, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: engine.Slots, Bins: 4, Range: &[2]float64{5, 6},
			Progress: func(pass int, p engine.Progress) {
				if p.Final {
					mu.Lock()
					finals = append(finals, pass)
					mu.Unlock()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		if len(finals) != len(c.want) || finals[len(finals)-1] != c.want[len(c.want)-1] {
			t.Errorf("outlier %v: passes %v, want %v", c.outlier, finals, c.want)
		}
		if r.Count != 100_000 || r.Histogram.Above != map[bool]uint64{false: 0, true: 1}[c.outlier] {
			t.Errorf("outlier %v: count %d, above %d", c.outlier, r.Count, r.Histogram.Above)
		}
	}
}
