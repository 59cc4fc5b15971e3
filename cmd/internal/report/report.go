// Package report runs pishm's comparison matrix and renders it as a table,
// JSON, CSV and charts. It is the library behind `pishm bench`.
//
// A bench is a list of Cases (Plan builds it from Options), each run Count
// times by Run, round-robin so that drift on a noisy machine hits every
// configuration alike. Every Case becomes one Row with the median and the
// spread of its runs. The parts of the matrix:
//
//   - contention: time per term of the busy strategies (slots padded and
//     unpadded, cas, mutex, racy) as the publish interval (Publish) goes from 1
//     term to the whole range, at 2 workers and at twice the cores;
//   - fixed: every mode at small n, where set-up and tear-down dominate;
//   - throughput: every mode at large n, where the kernel does;
//   - scaling-n: time per term as n grows over decades;
//   - scaling-workers: time per term with 1 .. 2*cores workers.
//
// Two times are taken from each run: work, the slowest worker's summing
// time from the start barrier to its last publish (no process start-up or
// exit), and wall, the whole engine.Run. The contention part reports work,
// the others wall. CPU time is user+system of this process and of the
// children it reaped during the run (getrusage), so busy-waiting shows up
// even where wall time looks good.
package report

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Part is a section of the matrix.
type Part string

// The parts, in the order a report prints them.
const (
	Contention     Part = "contention"
	Fixed          Part = "fixed"
	Throughput     Part = "throughput"
	ScalingN       Part = "scaling-n"
	ScalingWorkers Part = "scaling-workers"
)

// Parts lists every part in report order.
func Parts() []Part { return []Part{Contention, Fixed, Throughput, ScalingN, ScalingWorkers} }

// Groups are the names -sweep takes besides the parts themselves.
var Groups = map[string][]Part{
	"contention": {Contention},
	"fixed":      {Fixed, Throughput},
	"scaling":    {ScalingN, ScalingWorkers},
	"all":        Parts(),
}

// ParseParts reads a comma-separated list of parts or groups ("contention,
// fixed,scaling", "throughput", "all").
func ParseParts(s string) ([]Part, error) {
	var out []Part
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ps, ok := Groups[f]
		if !ok && slices.Contains(Parts(), Part(f)) {
			ps, ok = []Part{Part(f)}, true
		}
		if !ok {
			return nil, fmt.Errorf("unknown part %q (want contention, fixed, scaling, all, or one of %s)", f, partNames())
		}
		for _, p := range ps {
			if !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no part named in %q", s)
	}
	slices.SortFunc(out, func(a, b Part) int { return slices.Index(Parts(), a) - slices.Index(Parts(), b) })
	return out, nil
}

func partNames() string {
	var s []string
	for _, p := range Parts() {
		s = append(s, string(p))
	}
	return strings.Join(s, ", ")
}

// Measure names which time a row's ns/term is taken from.
type Measure string

const (
	// Work is the slowest worker's summing time, start barrier to last
	// publish (for the OpenMP anchor: the time it prints for its loop).
	Work Measure = "work"
	// Wall is the whole run: engine.Run, or the anchor's process.
	Wall Measure = "wall"
)

// Title says what a part measures, for table headings and chart titles.
func (p Part) Title() string {
	switch p {
	case Contention:
		return "contention: work ns/term as each worker publishes every publish terms"
	case Fixed:
		return "fixed cost: wall time of a whole run"
	case Throughput:
		return "throughput: wall ns/term"
	case ScalingN:
		return "scaling with n: wall ns/term"
	case ScalingWorkers:
		return "scaling with workers: wall ns/term"
	}
	return string(p)
}

// Report is a finished bench.
type Report struct {
	Header Header `json:"header"`
	Rows   []Row  `json:"rows"`
}

// Header says what the bench ran on and with.
type Header struct {
	Kernel     string    `json:"kernel"`
	CPU        string    `json:"cpu"`
	Cores      int       `json:"cores"`
	CacheLine  int       `json:"cache_line"`
	SlotStride int       `json:"slot_stride"`
	Go         string    `json:"go"`
	OS         string    `json:"os"`
	Arch       string    `json:"arch"`
	Count      int       `json:"count"`
	Quick      bool      `json:"quick,omitempty"`
	Compare    bool      `json:"compare,omitempty"`
	Start      time.Time `json:"start"`
	Duration   Duration  `json:"duration_s"`
}

// Duration marshals as seconds.
type Duration time.Duration

// MarshalJSON writes d in seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%.3f", time.Duration(d).Seconds()), nil
}

// UnmarshalJSON reads seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// Row is one configuration's runs summed up. Count is 0 and Note says why
// when it did not run (a mode that failed, an anchor that is missing).
type Row struct {
	Part    Part    `json:"part"`
	Series  string  `json:"series"` // the line it belongs to in a chart: "slots pad=128", "cas", "openmp"
	Mode    string  `json:"mode"`   // engine mode, or "openmp"
	Pad     int     `json:"pad,omitempty"`
	Workers int     `json:"workers"`
	N       uint64  `json:"n"`
	Publish uint64  `json:"publish"` // terms between publishes; 0: once per worker
	Measure Measure `json:"measure"`
	Count   int     `json:"count"` // runs that succeeded

	NsPerTerm Stats `json:"ns_per_term"` // of Measure
	WallS     Stats `json:"wall_s"`
	WorkS     Stats `json:"work_s"`
	CPUS      Stats `json:"cpu_s"` // user+system, this process and reaped children

	// Racy mode: publishes in all, and those lost (median over runs).
	Publishes uint64  `json:"publishes,omitempty"`
	LostShare float64 `json:"lost_share,omitempty"`
	// SavedNsPerTerm is the cas row's median minus this racy row's at
	// the same workers and chunk: what giving up correctness bought.
	SavedNsPerTerm *float64 `json:"saved_ns_per_term_vs_cas,omitempty"`

	// Spawn is how the workers started in the row's runs: "fork" or
	// "exec", "" in-process or for an anchor.
	Spawn string `json:"spawn,omitempty"`

	Note    string   `json:"note,omitempty"`
	Samples []Sample `json:"samples,omitempty"`
}

// LostNothing reports whether a racy row's loss is within the
// accumulator's own rounding (one rounding per publish): no update lost,
// where a lost one takes a whole partial away.
func (r Row) LostNothing() bool {
	return abs(r.LostShare) <= float64(r.Publishes)*0x1p-52
}

// Sample is one run.
type Sample struct {
	Publishes   uint64        `json:"publishes,omitempty"` // the engine's count (Result.Publishes)
	Spawn       string        `json:"spawn,omitempty"`     // "fork", "exec", or "" in-process
	Wall        time.Duration `json:"wall_ns"`
	Work        time.Duration `json:"work_ns"`
	CPU         time.Duration `json:"cpu_ns"`
	LostShare   float64       `json:"lost_share,omitempty"`
	SumRelError float64       `json:"sum_rel_error"`
}

// OK reports whether the row has a measurement.
func (r Row) OK() bool { return r.Count > 0 }

// Label is the row's series with what varies inside its part.
func (r Row) Label() string {
	return fmt.Sprintf("%s workers=%d n=%s publish=%s", r.Series, r.Workers, Count(r.N), chunkString(r.Publish))
}

// Stats are order statistics of a row's runs.
type Stats struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Q1     float64 `json:"q1"`
	Q3     float64 `json:"q3"`
	Max    float64 `json:"max"`
}

// StatsOf sums up xs (any order; it is not modified).
func StatsOf(xs []float64) Stats {
	if len(xs) == 0 {
		return Stats{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Stats{Median: quantile(s, 0.5), Min: s[0], Q1: quantile(s, 0.25), Q3: quantile(s, 0.75), Max: s[len(s)-1]}
}

// quantile interpolates linearly between the order statistics of sorted s
// (R's type 7, what most tools call the default).
func quantile(s []float64, q float64) float64 {
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Count writes n as the matrix writes it: 1e6, 2.5e8, 1000, 12345.
func Count(n uint64) string {
	if n >= 1000 {
		e := math.Floor(math.Log10(float64(n)))
		m := float64(n) / math.Pow(10, e)
		if m == math.Trunc(m*10)/10 && float64(n) == m*math.Pow(10, e) {
			return fmt.Sprintf("%se%d", trimFloat(m), int(e))
		}
	}
	return fmt.Sprint(n)
}

func trimFloat(f float64) string { return strings.TrimSuffix(fmt.Sprintf("%.1f", f), ".0") }

func chunkString(c uint64) string {
	if c == 0 {
		return "all"
	}
	return Count(c)
}
