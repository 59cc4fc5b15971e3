package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pishm/pishm/cmd/internal/report"
	"github.com/pishm/pishm/cmd/internal/report/chart"
	"github.com/pishm/pishm/engine/lab"
)

// The bench tests run the -quick matrix in process: a few dozen runs of
// a few milliseconds each.

func TestBenchTable(t *testing.T) {
	before := segmentsOf(t)
	out, stderr, code := pishm(t, "bench", "-quick")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.HasPrefix(out, "pishm bench: kernel ") {
		t.Errorf("no header line:\n%s", out)
	}
	for _, want := range []string{"cache line", "slot stride", "cpu "} {
		if !strings.Contains(firstLines(out, 1), want) {
			t.Errorf("header lacks %q: %s", want, firstLines(out, 1))
		}
	}
	for _, p := range report.Parts() {
		if !strings.Contains(out, "== "+p.Title()) {
			t.Errorf("no section for %s", p)
		}
	}
	// Every engine mode appears in the fixed-cost section, transports
	// included, with a number or a note.
	for _, m := range lab.Modes() {
		if !strings.Contains(out, "\n  "+string(m)+" ") {
			t.Errorf("mode %s missing from the table", m)
		}
	}
	if !strings.Contains(out, "lost ") {
		t.Errorf("the racy rows do not report lost adds:\n%s", out)
	}
	if !strings.Contains(stderr, "left") || !strings.Contains(stderr, "contention slots pad=128") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	if got := segmentsOf(t); got != before {
		t.Errorf("segments in /dev/shm: %d before, %d after", before, got)
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

func TestBenchJSON(t *testing.T) {
	out, stderr, code := pishm(t, "bench", "-quick", "-json", "-count", "2", "-sweep", "contention,scaling")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var rep report.Report
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rep); err != nil {
		t.Fatalf("not a report: %v\n%s", err, out)
	}
	h := rep.Header
	if h.Kernel == "" || h.CacheLine <= 0 || h.SlotStride < h.CacheLine || h.Count != 2 || !h.Quick {
		t.Errorf("header %+v", h)
	}
	parts := map[report.Part]int{}
	for _, r := range rep.Rows {
		parts[r.Part]++
		if !r.OK() {
			t.Errorf("%s: not run: %s", r.Label(), r.Note)
			continue
		}
		if r.Count != 2 || len(r.Samples) != 2 {
			t.Errorf("%s: count %d, %d samples, want 2", r.Label(), r.Count, len(r.Samples))
		}
		s := r.NsPerTerm
		if !(s.Median > 0 && s.Min <= s.Q1 && s.Q1 <= s.Median && s.Median <= s.Q3 && s.Q3 <= s.Max) {
			t.Errorf("%s: ns/term %+v", r.Label(), s)
		}
		if r.WallS.Median <= 0 || r.WorkS.Median <= 0 || r.WorkS.Median > r.WallS.Median {
			t.Errorf("%s: wall %v s, work %v s", r.Label(), r.WallS.Median, r.WorkS.Median)
		}
		if r.Mode == string(lab.Racy) && r.Publishes == 0 {
			t.Errorf("%s: racy row without publishes", r.Label())
		}
	}
	if parts[report.Contention] == 0 || parts[report.ScalingN] == 0 || parts[report.ScalingWorkers] == 0 || parts[report.Fixed] != 0 {
		t.Errorf("rows per part %v, want contention and scaling only", parts)
	}
}

func TestBenchCSV(t *testing.T) {
	out, stderr, code := pishm(t, "bench", "-quick", "-csv", "-sweep", "fixed")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, out)
	}
	if !slices.Equal(recs[0], report.CSVHeader) {
		t.Fatalf("header %q, want %q", recs[0], report.CSVHeader)
	}
	col := func(name string) int { return slices.Index(report.CSVHeader, name) }
	// fixed and throughput: every mode once each.
	if got, want := len(recs)-1, 2*len(lab.Modes()); got != want {
		t.Errorf("%d records, want %d", got, want)
	}
	for _, r := range recs[1:] {
		if len(r) != len(report.CSVHeader) {
			t.Fatalf("record %q has %d fields", r, len(r))
		}
		med, err := strconv.ParseFloat(r[col("ns_per_term_median")], 64)
		switch {
		case r[col("mode")] == string(lab.Redis) && r[col("note")] != "":
			// no redis-server here: a note instead of a number
			if r[col("ns_per_term_median")] != "" {
				t.Errorf("redis row with a note and a median: %q", r)
			}
		case err != nil || med <= 0:
			t.Errorf("row %q: median %q", r, r[col("ns_per_term_median")])
		}
	}
}

func TestBenchUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		flag string
	}{
		{[]string{"-count", "0"}, "-count"},
		{[]string{"-count", "x"}, "-count"},
		{[]string{"-sweep", "contention,bogus"}, "-sweep"},
		{[]string{"-sweep", ""}, "-sweep"},
		{[]string{"-json", "-csv"}, "-json"},
		{[]string{"-kernel", "nope"}, "-kernel"},
		{[]string{"-timeout", "-1s"}, "-timeout"},
		{[]string{"extra"}, "extra"},
	} {
		_, stderr, code := pishm(t, append([]string{"bench"}, tc.args...)...)
		if code != 2 || !strings.Contains(stderr, tc.flag) {
			t.Errorf("bench %q: exit %d, stderr %q; want 2 naming %s", tc.args, code, stderr, tc.flag)
		}
	}
	out, stderr, code := pishm(t, "bench", "-h")
	if code != 0 || stderr != "" || !strings.Contains(out, "usage: pishm bench") {
		t.Errorf("bench -h: exit %d, stdout %q, stderr %q", code, out, stderr)
	}
}

// TestBenchCancel: a cancelled bench stops with the cause and leaves
// nothing in /dev/shm.
func TestBenchCancel(t *testing.T) {
	before := segmentsOf(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, &bytes.Buffer{}, &bytes.Buffer{}, []string{"bench", "-quick"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled bench: %v, want context.Canceled", err)
	}
	if got := segmentsOf(t); got != before {
		t.Errorf("segments in /dev/shm: %d before, %d after", before, got)
	}
}

// A test binary named pishm-chart is pishm-chart (TestBenchSVG links it
// there), busybox style: pishm bench -svg runs it like the real one.
func init() {
	if filepath.Base(os.Args[0]) == "pishm-chart" {
		if err := chart.Main(os.Stdin, os.Stderr, os.Args[1:]); err != nil {
			fmt.Fprintf(os.Stderr, "pishm-chart: %v\n", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
}

func TestBenchSVG(t *testing.T) {
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(dir, "pishm-chart")
	if err := os.Symlink(exe, helper); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PISHM_CHART", helper)
	svg, pngFile := filepath.Join(dir, "bench.svg"), filepath.Join(dir, "bench.png")
	_, stderr, code := pishm(t, "bench", "-quick", "-sweep", "contention,scaling", "-svg", svg, "-png", pngFile)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(svg)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(b))
	elems := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not XML: %v", err)
		}
		if _, ok := tok.(xml.StartElement); ok {
			elems++
		}
	}
	if elems < 10 || !bytes.Contains(b, []byte("contention: 2 workers")) {
		t.Errorf("the SVG has %d elements and no contention panel", elems)
	}
	f, err := os.Open(pngFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Errorf("the PNG: %v", err)
	}
}

// TestBenchSVGNoHelper: without pishm-chart, -svg fails at once, before
// any run, and says how to get it.
func TestBenchSVGNoHelper(t *testing.T) {
	t.Setenv("PISHM_CHART", "")
	t.Setenv("PATH", t.TempDir())
	_, stderr, code := pishm(t, "bench", "-quick", "-svg", filepath.Join(t.TempDir(), "x.svg"))
	if code == 0 || !strings.Contains(stderr, "pishm-chart") || strings.Contains(stderr, "bench: pass") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}

// TestNoPlotInPishm keeps gonum/plot out of the pishm binary: its package
// init would run in every worker and show up as fixed cost (see
// internal/report/chart).
func TestNoPlotInPishm(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	for dep := range strings.FieldsSeq(string(out)) {
		if strings.HasPrefix(dep, "gonum.org/v1/plot") {
			t.Fatalf("pishm links %s: charts belong in pishm-chart", dep)
		}
	}
}
