package filestats

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/cmd/internal/stats"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// The test binary is re-executed as each worker, which must serve the
// parent instead of running the tests again.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		killAfterPlace()
		os.Exit(engine.ChildMain())
	}
	os.Exit(m.Run())
}

// floatFile writes the n float64s value(0), value(1), ... to a new file
// and returns its path and layout.
func floatFile(t *testing.T, n int, value func(i int) float64) (string, floatfile.Layout) {
	t.Helper()
	var b []byte
	for i := range n {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(value(i)))
	}
	path := filepath.Join(t.TempDir(), "x.f64")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := floatfile.Inspect(path, floatfile.Float64)
	if err != nil {
		t.Fatal(err)
	}
	return path, l
}

// Compute leaves no file open and no mapping in the calling process,
// where pieces may run (the goroutines mode): a program may call it any
// number of times.
func TestComputeClosesFiles(t *testing.T) {
	path, l := floatFile(t, 50_000, func(i int) float64 { return float64(i % 1000) })
	fds := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Skip("no /proc/self/fd")
		}
		return len(es)
	}
	mappings := func() int {
		b, err := os.ReadFile("/proc/self/maps")
		if err != nil {
			t.Skip("no /proc/self/maps")
		}
		return strings.Count(string(b), path)
	}
	before := -1
	for i := range 8 {
		if i == 1 { // after the first call: the runtime's poller is set up once
			before = fds()
		}
		mode := []lab.Mode{lab.Slots, lab.Goroutines}[i%2] // goroutines: the pieces run here
		read := []ReadMethod{ReadMmap, ReadPread}[i/2%2]
		r, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: mode, Bins: 5, Read: read})
		if err != nil {
			t.Fatal(err)
		}
		if r.Count != 50_000 || r.Sum != 50*999*1000/2 || r.Min != 0 || r.Max != 999 {
			t.Fatalf("%v, %v: count %d sum %v min %v max %v", mode, read, r.Count, r.Sum, r.Min, r.Max)
		}
		if n := mappings(); n != 0 {
			t.Fatalf("%v, %v: %d mappings of the file left", mode, read, n)
		}
	}
	if after := fds(); after != before {
		t.Errorf("%d open files before, %d after", before, after)
	}
}

// Progress hears from both passes, each ending with a final report, in
// order.
func TestProgress(t *testing.T) {
	path, l := floatFile(t, 10_000, func(i int) float64 { return float64(i) })
	var mu sync.Mutex
	var finals []int
	_, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: lab.Slots, Bins: 3,
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
		path, l := floatFile(t, 100_000, func(i int) float64 {
			if c.outlier && i == 54_321 {
				return 1e9
			}
			return 5 + float64(i%997)/997
		})
		var mu sync.Mutex
		var finals []int
		r, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: lab.Slots, Bins: 4, Range: &[2]float64{5, 6},
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

// Every tier of bins works, one pass (with a range) and two: the Pool
// sized by maxK holds the reduction, and the name exists. Values sit at
// bin centres, so every bin's count is known.
func TestBinTiers(t *testing.T) {
	const n = 20_000
	for _, bins := range []int{16, 17, 1024, 1025, 2000, maxOnceBins, maxOnceBins + 1, stats.MaxBins} {
		path, l := floatFile(t, n, func(i int) float64 {
			return (float64(i%bins) + 0.5) / float64(bins) // in [0, 1), at the centre of bin i%bins
		})
		for _, rng := range []*[2]float64{{0, 1}, nil} {
			r, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: lab.Slots, Bins: bins, Range: rng})
			if err != nil {
				t.Fatalf("%d bins, range %v: %v", bins, rng, err)
			}
			if rng == nil { // over [min, max]: the centres of the first and last bins
				continue
			}
			if len(r.Histogram.Counts) != bins || r.Histogram.Below+r.Histogram.Above != 0 {
				t.Fatalf("%d bins: %d counts, %d below, %d above", bins, len(r.Histogram.Counts), r.Histogram.Below, r.Histogram.Above)
			}
			for k, c := range r.Histogram.Counts {
				want := uint64(n / bins)
				if k < n%bins {
					want++
				}
				if c != want {
					t.Fatalf("%d bins: bin %d holds %d, want %d", bins, k, c, want)
				}
			}
		}
	}
}

func TestMaxK(t *testing.T) {
	for _, c := range []struct {
		opt  Options
		want int
	}{
		{Options{Bins: 10}, len(stats.Pass2Ops(16))},
		{Options{Bins: 10, Range: &[2]float64{0, 1}}, len(stats.OnePassOps(16))},
		{Options{Bins: 1000, Range: &[2]float64{0, 1}}, len(stats.OnePassOps(1024))},
		{Options{Bins: maxOnceBins, Range: &[2]float64{0, 1}}, lab.MaxK},
		{Options{Bins: maxOnceBins + 1, Range: &[2]float64{0, 1}}, len(stats.Pass2Ops(stats.MaxBins))},
		{Options{Bins: stats.MaxBins}, lab.MaxK},
	} {
		if got := maxK(c.opt); got != c.want {
			t.Errorf("maxK(%d bins, range %v) = %d, want %d", c.opt.Bins, c.opt.Range != nil, got, c.want)
		}
	}
}

// ComputeText reads a CSV the same mapped as with pread, and leaves no
// mapping of it in the calling process, where the goroutines mode parses.
func TestComputeTextMapped(t *testing.T) {
	var b strings.Builder
	b.WriteString("id,x\n")
	for i := range 30_000 {
		fmt.Fprintf(&b, "%d,%d.25\n", i, i%1000)
	}
	path := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []lab.Mode{lab.Goroutines, lab.Slots} {
		for _, read := range []ReadMethod{ReadMmap, ReadPread} {
			src, err := source.Open(context.Background(), path, source.Options{})
			if err != nil {
				t.Fatal(err)
			}
			r, err := ComputeText(context.Background(), src, Options{Workers: 2, Mode: mode, Bins: 4, Read: read}, TextOptions{Cols: []string{"x"}, ColsFlag: "x"})
			src.Close()
			if err != nil {
				t.Fatalf("%v, %v: %v", mode, read, err)
			}
			if len(r.Columns) != 1 || r.Columns[0].Stats == nil || r.Columns[0].Stats.Count != 30_000 || r.Columns[0].Stats.Sum != 30*(999*1000/2+250) {
				t.Fatalf("%v, %v: %+v", mode, read, r)
			}
			maps, err := os.ReadFile("/proc/self/maps")
			if err == nil && strings.Contains(string(maps), path) {
				t.Errorf("%v, %v: a mapping of the file is left", mode, read)
			}
		}
	}
}

// A mapped file that shrinks under a worker makes its read panic (a
// runtime error at the lost address, which fails the worker with a
// message) instead of killing the process with SIGBUS: raw files and
// text alike.
func TestMappedFileShrinks(t *testing.T) {
	mustFault := func(what string, f func()) {
		t.Helper()
		defer func() {
			t.Helper()
			r := recover()
			if _, ok := r.(interface{ Addr() uintptr }); !ok {
				t.Errorf("%s: recovered %v, want a fault at an address", what, r)
			}
		}()
		f()
		t.Errorf("%s: read a file that is now empty", what)
	}

	path, l := floatFile(t, 1<<16, func(i int) float64 { return float64(i) })
	raw, err := json.Marshal(params{Path: path, Layout: l, Mapped: true})
	if err != nil {
		t.Fatal(err)
	}
	s := stateFor(raw)
	defer release(raw)
	if !s.r.Mapped() {
		t.Fatal("the file is not mapped")
	}
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	var sum float64
	mustFault("raw", func() {
		read(s, 0, l.Count, new(buffers), func(xs []float64) { sum += xs[len(xs)-1] }, nil)
	})

	txt := filepath.Join(t.TempDir(), "d.csv")
	if err := os.WriteFile(txt, []byte(strings.Repeat("1,2.5\n", 1<<16)), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "index")
	if err := os.WriteFile(out, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	size := int64(6 << 16)
	mappedText(txt, size) // mapped before it shrinks, as by an earlier piece
	defer releaseText(txt, size)
	if err := os.Truncate(txt, 0); err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(indexParams{Path: txt, Size: size, Block: size, Out: out, Mapped: true})
	if err != nil {
		t.Fatal(err)
	}
	mustFault("text", func() { indexBlocks(p, 0, 1, nil) })
}
