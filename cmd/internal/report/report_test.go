package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	// Race-built children otherwise sleep 1 s at exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestStatsOf(t *testing.T) {
	for _, tc := range []struct {
		xs   []float64
		want Stats
	}{
		{nil, Stats{}},
		{[]float64{3}, Stats{3, 3, 3, 3, 3}},
		{[]float64{4, 1, 3, 2}, Stats{Median: 2.5, Min: 1, Q1: 1.75, Q3: 3.25, Max: 4}},
		{[]float64{5, 1, 4, 2, 3}, Stats{Median: 3, Min: 1, Q1: 2, Q3: 4, Max: 5}},
	} {
		in := slices.Clone(tc.xs)
		if got := StatsOf(tc.xs); got != tc.want {
			t.Errorf("StatsOf(%v) = %+v, want %+v", tc.xs, got, tc.want)
		}
		if !slices.Equal(in, tc.xs) {
			t.Errorf("StatsOf modified its input: %v", tc.xs)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[uint64]string{
		1: "1", 999: "999", 1000: "1e3", 1e6: "1e6", 25e7: "2.5e8", 12345: "12345", 1e10: "1e10", 1001: "1001",
	} {
		if got := Count(n); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestParseParts(t *testing.T) {
	for in, want := range map[string][]Part{
		"contention":               {Contention},
		"scaling,contention":       {Contention, ScalingN, ScalingWorkers},
		"fixed":                    {Fixed, Throughput},
		"throughput, scaling-n":    {Throughput, ScalingN},
		"all":                      Parts(),
		"contention,fixed,scaling": Parts(),
	} {
		got, err := ParseParts(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseParts(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", ",", "contention,nope"} {
		if _, err := ParseParts(in); err == nil {
			t.Errorf("ParseParts(%q) succeeded", in)
		}
	}
}

// TestPlan checks the full matrix's shape without running it.
func TestPlan(t *testing.T) {
	cases := Plan(Options{Cores: 2, Compare: true})
	count := map[Part]int{}
	for _, c := range cases {
		count[c.Part]++
		if c.Part == Contention && (c.Measure != Work || c.Config.Publish == 0) {
			t.Errorf("%s: contention case measures %s at chunk %d", c.Label(), c.Measure, c.Config.Publish)
		}
		if c.Config.Mode == lab.Slots && c.Part == Contention && c.Config.Pad != 8 && c.Config.Pad != 128 {
			t.Errorf("%s: slots in the contention part with pad %d", c.Label(), c.Config.Pad)
		}
	}
	// 2 worker counts x (5 strategies + goroutines) x 8 chunks 1..1e7.
	if got := count[Contention]; got != 2*6*8 {
		t.Errorf("%d contention cases, want %d", got, 2*6*8)
	}
	if got, want := count[Fixed], len(lab.Modes())+1; got != want {
		t.Errorf("%d fixed cases, want every mode and openmp (%d)", got, want)
	}
	if got := count[ScalingN]; got != 3*6 { // slots, goroutines, openmp x 1e5..1e10
		t.Errorf("%d scaling-n cases, want 18", got)
	}
	if got := count[ScalingWorkers]; got != 3*4 { // x 1..4 workers
		t.Errorf("%d scaling-workers cases, want 12", got)
	}
	quick := Plan(Options{Quick: true, Parts: []Part{Contention}})
	for _, c := range quick {
		if c.Config.N > 1e4 {
			t.Errorf("quick plan has %s", c.Label())
		}
	}
}

// sample is a fixed report for the golden files.
func sample() Report {
	ms := func(f float64) time.Duration { return time.Duration(f * 1e6) }
	rows := []Row{
		makeRow(Case{Part: Contention, Series: "cas", Measure: Work, Config: lab.Config{N: 1e6, Workers: 2, Mode: lab.CAS, Publish: 1}},
			[]Sample{{Wall: ms(40), Work: ms(30), CPU: ms(70)}, {Wall: ms(42), Work: ms(31), CPU: ms(72)}, {Wall: ms(45), Work: ms(35), CPU: ms(80)}}, nil, 0),
		makeRow(Case{Part: Contention, Series: "racy", Measure: Work, Config: lab.Config{N: 1e6, Workers: 2, Mode: lab.Racy, Publish: 1}},
			[]Sample{{Wall: ms(38), Work: ms(28), CPU: ms(66), Publishes: 1e6, LostShare: 0.001}, {Wall: ms(39), Work: ms(29), CPU: ms(67), Publishes: 1e6, LostShare: 0.003}}, nil, 0),
		makeRow(Case{Part: Fixed, Series: "slots", Measure: Wall, Config: lab.Config{N: 1e6, Workers: 2, Mode: lab.Slots}},
			[]Sample{{Wall: ms(5), Work: ms(0.5), CPU: ms(9)}}, nil, 0),
		makeRow(Case{Part: Fixed, Series: "redis", Measure: Wall, Config: lab.Config{N: 1e6, Workers: 2, Mode: lab.Redis}},
			nil, errString("skipped: no redis-server to run it against (give -redis URL)"), 1),
		makeRow(Case{Part: Throughput, Series: "openmp", Measure: Wall, Anchor: OpenMP, Config: lab.Config{N: 1e9, Workers: 2}},
			[]Sample{{Wall: ms(170), Work: ms(166), CPU: ms(335)}, {Wall: ms(180), Work: ms(170), CPU: ms(340)}}, errString("exit status 1"), 1),
	}
	savedVsCAS(rows)
	return Report{
		Header: Header{Kernel: "avx512", CPU: "Test CPU", Cores: 2, CacheLine: 64, SlotStride: 128, Go: "go1.26", OS: "linux", Arch: "amd64",
			Count: 3, Start: time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), Duration: Duration(90 * time.Second)},
		Rows: rows,
	}
}

type errString string

func (e errString) Error() string { return string(e) }

func TestGolden(t *testing.T) {
	rep := sample()
	for _, g := range []struct {
		file  string
		write func(*bytes.Buffer, Report) error
	}{
		{"table.golden", func(b *bytes.Buffer, r Report) error { return WriteTable(b, r) }},
		{"csv.golden", func(b *bytes.Buffer, r Report) error { return WriteCSV(b, r) }},
		{"json.golden", func(b *bytes.Buffer, r Report) error { return WriteJSON(b, r) }},
	} {
		var b bytes.Buffer
		if err := g.write(&b, rep); err != nil {
			t.Fatalf("%s: %v", g.file, err)
		}
		path := filepath.Join("testdata", g.file)
		if *update {
			if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update)", err)
		}
		if got := b.String(); got != string(want) {
			t.Errorf("%s differs (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", g.file, got, want)
		}
	}
}

// TestJSONRoundTrip: what WriteJSON writes reads back into the same Report.
func TestJSONRoundTrip(t *testing.T) {
	rep := sample()
	var b bytes.Buffer
	if err := WriteJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var back Report
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	var b2 bytes.Buffer
	if err := WriteJSON(&b2, back); err != nil {
		t.Fatal(err)
	}
	var first bytes.Buffer
	WriteJSON(&first, rep)
	if first.String() != b2.String() {
		t.Errorf("round trip differs:\n%s\n%s", first.String(), b2.String())
	}
	if !strings.Contains(first.String(), `"saved_ns_per_term_vs_cas"`) {
		t.Errorf("racy row lacks the time it saved against cas")
	}
}

func TestRacyRow(t *testing.T) {
	r := sample().Rows[1]
	if r.Publishes != 1e6 || r.LostShare != 0.002 {
		t.Errorf("racy row: %d publishes, %v lost; want 1e6, 0.002", r.Publishes, r.LostShare)
	}
	if r.SavedNsPerTerm == nil || *r.SavedNsPerTerm <= 0 {
		t.Errorf("racy row saved %v against cas", r.SavedNsPerTerm)
	}
}

// A part that races the same work ends with a verdict: the fastest
// strategy with worker processes and how it started, its lead over the
// next, and the goroutines baseline.
func TestVerdict(t *testing.T) {
	row := func(mode, spawn string, ns float64) Row {
		return Row{Part: Fixed, Series: mode, Mode: mode, Spawn: spawn, Workers: 2, N: 1e6, Count: 1, NsPerTerm: Stats{Median: ns}}
	}
	rows := []Row{row("cas", "exec", 20), row("slots", "fork", 5), row("goroutines", "", 1), row("pipe", "exec", 30)}
	want := "verdict: slots (fork) is the fastest with worker processes, 5 ns/term; the next, cas (exec), takes 4× as long; goroutines in this process: 1 ns/term, 0.2× slots's"
	if got := verdict(rows); got != want {
		t.Errorf("verdict =\n%s\nwant\n%s", got, want)
	}
	rows[3].N = 1e7
	if got := verdict(rows); got != "" {
		t.Errorf("rows of different n gave a verdict: %s", got)
	}
	if !(Row{Publishes: 1e6, LostShare: -4.3e-15}).LostNothing() || (Row{Publishes: 1e6, LostShare: 2e-3}).LostNothing() {
		t.Error("LostNothing does not tell rounding from a lost update")
	}
}
