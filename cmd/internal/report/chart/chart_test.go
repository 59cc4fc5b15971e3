package chart

import (
	"bytes"
	"encoding/xml"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/cmd/internal/report"
)

// fixture is a small report with every part, a failed row and a racy row.
func fixture() report.Report {
	row := func(p report.Part, series, mode string, workers int, n, chunk uint64, med float64) report.Row {
		return report.Row{
			Part: p, Series: series, Mode: mode, Workers: workers, N: n, Publish: chunk, Measure: report.Wall, Count: 3,
			NsPerTerm: report.Stats{Median: med, Min: med * 0.9, Q1: med * 0.95, Q3: med * 1.05, Max: med * 1.2},
			WallS:     report.Stats{Median: med * float64(n) / 1e9}, CPUS: report.Stats{Median: 2 * med * float64(n) / 1e9},
		}
	}
	var rows []report.Row
	for _, s := range []string{"slots pad=128", "slots pad=8", "cas", "mutex", "racy"} {
		for _, w := range []int{2, 4} {
			for c := uint64(1); c <= 1e6; c *= 100 {
				r := row(report.Contention, s, strings.Fields(s)[0], w, 1e6, c, 50/float64(c)+0.2)
				if s == "racy" {
					r.Publishes, r.LostShare = 1e6/c, 0.01
				}
				rows = append(rows, r)
			}
		}
	}
	for _, m := range []string{"slots", "cas", "goroutines", "pipe", "redis"} {
		rows = append(rows, row(report.Fixed, m, m, 2, 1e6, 0, 5), row(report.Throughput, m, m, 2, 1e9, 0, 0.2))
	}
	rows[len(rows)-1].Count, rows[len(rows)-1].Note = 0, "skipped: no redis-server"
	for n := uint64(1e5); n <= 1e10; n *= 10 {
		rows = append(rows, row(report.ScalingN, "slots", "slots", 2, n, 0, 1e5/float64(n)+0.15))
	}
	for w := 1; w <= 4; w++ {
		rows = append(rows, row(report.ScalingWorkers, "slots", "slots", w, 1e9, 0, 0.3/float64(min(w, 2))))
	}
	return report.Report{
		Header: report.Header{Kernel: "avx512", CPU: "Test CPU", Cores: 2, CacheLine: 64, SlotStride: 128, Go: "go1.26", Count: 3, Start: time.Unix(0, 0)},
		Rows:   rows,
	}
}

// wellFormed fails t unless b is well-formed XML with an <svg> root.
func wellFormed(t *testing.T, b []byte) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not XML: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
}

func TestWriteSVG(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSVG(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b.Bytes())
	for _, want := range []string{"contention: 2 workers", "contention: 4 workers", "fixed cost", "throughput", "scaling with n", "scaling with workers", "redis (not run)"} {
		if !bytes.Contains(b.Bytes(), []byte(want)) {
			t.Errorf("SVG lacks %q", want)
		}
	}
}

func TestWritePNG(t *testing.T) {
	var b bytes.Buffer
	if err := WritePNG(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatal(err)
	}
	if r := img.Bounds(); r.Dx() < 800 || r.Dy() < 800 {
		t.Errorf("PNG is %v", r)
	}
}

func TestEmpty(t *testing.T) {
	if err := WriteSVG(io.Discard, report.Report{}); err == nil {
		t.Error("an empty report drew")
	}
}

// TestMainCommand runs the command on a report as pishm bench -json
// writes it, from a file and from stdin, and its usage errors.
func TestMainCommand(t *testing.T) {
	dir := t.TempDir()
	var js bytes.Buffer
	if err := report.WriteJSON(&js, fixture()); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "bench.json")
	if err := os.WriteFile(in, js.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	svg, pngf := filepath.Join(dir, "b.svg"), filepath.Join(dir, "b.png")
	var stderr bytes.Buffer
	if err := Main(strings.NewReader(""), &stderr, []string{"-svg", svg, "-png", pngf, in}); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	wellFormed(t, b)
	if st, err := os.Stat(pngf); err != nil || st.Size() == 0 {
		t.Errorf("png: %v", err)
	}
	// stdin
	if err := Main(bytes.NewReader(js.Bytes()), &stderr, []string{"-svg", svg}); err != nil {
		t.Errorf("from stdin: %v", err)
	}
	for _, args := range [][]string{{}, {"-svg", svg, "a", "b"}, {"-nope"}} {
		if err := Main(strings.NewReader(""), io.Discard, args); !errors.Is(err, ErrUsage) {
			t.Errorf("Main(%q) = %v, want a usage error", args, err)
		}
	}
	if err := Main(strings.NewReader("{not json"), io.Discard, []string{"-svg", svg}); err == nil || errors.Is(err, ErrUsage) {
		t.Errorf("bad input: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".pishm-chart-*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
