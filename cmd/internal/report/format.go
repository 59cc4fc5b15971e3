package report

import (
	"cmp"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteHeader writes the lines that say what the bench ran on.
func WriteHeader(w io.Writer, h Header) error {
	_, err := fmt.Fprintf(w, "pishm bench: kernel %s, cpu %s (%d cores), cache line %d B, slot stride %d B, %s %s/%s\n"+
		"%s per configuration%s; ns/term is the median [min-max]; work = slowest worker's summing time, wall = whole run;\n"+
		"cpu = user+system of pishm and its workers per run (busy-waiting shows here, not in wall)\n",
		h.Kernel, h.CPU, h.Cores, h.CacheLine, h.SlotStride, h.Go, h.OS, h.Arch, runs(h.Count), quickNote(h))
	return err
}

func runs(n int) string {
	if n == 1 {
		return "1 run"
	}
	return fmt.Sprintf("%d runs", n)
}

func quickNote(h Header) string {
	if h.Quick {
		return " (quick: a small matrix, not for conclusions)"
	}
	return ""
}

// WriteTable writes r as text: the header, then one table per part.
func WriteTable(w io.Writer, r Report) error {
	if err := WriteHeader(w, r.Header); err != nil {
		return err
	}
	for _, p := range Parts() {
		var rows []Row
		for _, row := range r.Rows {
			if row.Part == p {
				rows = append(rows, row)
			}
		}
		if len(rows) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n== %s%s\n", p.Title(), sameN(rows))
		// Right-aligned numbers; the series padded by hand to read left.
		width := len("series")
		for _, row := range rows {
			width = max(width, len(row.Series))
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "%-*s\tspawn\tworkers\tn\tpublish\tns/term\tmin-max\twall ms\tcpu ms\t\n", width, "series")
		for _, row := range rows {
			fmt.Fprintf(tw, "%-*s\t%s\t%d\t%s\t%s\t", width, row.Series, spawnString(row), row.Workers, Count(row.N), chunkString(row.Publish))
			if row.OK() {
				s := row.NsPerTerm
				fmt.Fprintf(tw, "%s\t%s-%s\t%s\t%s\t", num(s.Median), num(s.Min), num(s.Max), num(row.WallS.Median*1e3), num(row.CPUS.Median*1e3))
			} else {
				fmt.Fprint(tw, "-\t-\t-\t-\t")
			}
			fmt.Fprintf(tw, "%s\n", rowNote(row))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if v := verdict(rows); v != "" {
			fmt.Fprintln(w, v)
		}
	}
	return nil
}

// sameN is " (n = N)" when every row of a part has one n, else "".
func sameN(rows []Row) string {
	for _, r := range rows[1:] {
		if r.N != rows[0].N {
			return ""
		}
	}
	return " (n = " + Count(rows[0].N) + ")"
}

// spawnString is the spawn column: how the row's workers started.
func spawnString(r Row) string {
	switch {
	case r.Spawn != "":
		return r.Spawn
	case r.Mode == "goroutines":
		return "none"
	}
	return "-"
}

// verdict is a part's one-line conclusion where its rows race the same
// work (one n, one worker count, one publish interval): the fastest
// strategy that runs worker processes, how far ahead of the next it is,
// and where the in-process goroutines baseline stands. "" elsewhere.
func verdict(rows []Row) string {
	var procs []Row
	var baseline *Row
	for i, r := range rows {
		if !r.OK() || r.N != rows[0].N || r.Workers != rows[0].Workers || r.Publish != rows[0].Publish {
			return ""
		}
		switch r.Mode {
		case "goroutines":
			baseline = &rows[i]
		case "racy", "openmp":
		default:
			procs = append(procs, r)
		}
	}
	if len(procs) < 2 {
		return ""
	}
	slices.SortStableFunc(procs, func(a, b Row) int { return cmp.Compare(a.NsPerTerm.Median, b.NsPerTerm.Median) })
	best, next := procs[0], procs[1]
	v := fmt.Sprintf("verdict: %s (%s) is the fastest with worker processes, %s ns/term; the next, %s (%s), takes %.2g× as long",
		best.Series, spawnString(best), num(best.NsPerTerm.Median), next.Series, spawnString(next), next.NsPerTerm.Median/best.NsPerTerm.Median)
	if baseline != nil {
		v += fmt.Sprintf("; goroutines in this process: %s ns/term, %.2g× %s's", num(baseline.NsPerTerm.Median), baseline.NsPerTerm.Median/best.NsPerTerm.Median, best.Series)
	}
	return v
}

// rowNote is the free text after a row: racy losses, failures.
func rowNote(r Row) string {
	var s []string
	if r.Publishes > 0 && r.OK() {
		n := fmt.Sprintf("  lost %.2g%% of the sum over %s adds", 100*r.LostShare, Count(r.Publishes))
		if r.LostNothing() {
			n = fmt.Sprintf("  lost no update in %s adds (the sum is off by their rounding only)", Count(r.Publishes))
		}
		if d := r.SavedNsPerTerm; d != nil {
			faster := "faster"
			if *d < 0 {
				faster = "slower"
			}
			n += fmt.Sprintf(", %s ns/term %s than cas", num(abs(*d)), faster)
		}
		s = append(s, n)
	}
	if r.Note != "" {
		s = append(s, "  "+r.Note)
	}
	return strings.Join(s, ";")
}

// num writes a measurement with 3 significant digits, without exponents
// for the sizes a bench sees.
func num(f float64) string {
	switch a := abs(f); {
	case a == 0:
		return "0"
	case a >= 1000:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case a >= 0.001:
		return strconv.FormatFloat(f, 'g', 3, 64)
	}
	return strconv.FormatFloat(f, 'e', 2, 64)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

// WriteJSON writes r as one indented JSON object, every run's sample
// included.
func WriteJSON(w io.Writer, r Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// CSVHeader is the first record WriteCSV writes.
var CSVHeader = []string{
	"part", "series", "mode", "pad", "workers", "n", "publish", "measure", "count",
	"ns_per_term_median", "ns_per_term_min", "ns_per_term_q1", "ns_per_term_q3", "ns_per_term_max",
	"wall_s_median", "work_s_median", "cpu_s_median", "publishes", "lost_share", "saved_ns_per_term_vs_cas",
	"kernel", "note",
}

// WriteCSV writes one record per row under CSVHeader. Times are in
// nanoseconds per term and seconds; empty fields are unmeasured.
func WriteCSV(w io.Writer, r Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	g := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	for _, row := range r.Rows {
		rec := []string{
			string(row.Part), row.Series, row.Mode, strconv.Itoa(row.Pad), strconv.Itoa(row.Workers),
			strconv.FormatUint(row.N, 10), strconv.FormatUint(row.Publish, 10), string(row.Measure), strconv.Itoa(row.Count),
		}
		if row.OK() {
			s := row.NsPerTerm
			rec = append(rec, g(s.Median), g(s.Min), g(s.Q1), g(s.Q3), g(s.Max), g(row.WallS.Median), g(row.WorkS.Median), g(row.CPUS.Median))
		} else {
			rec = append(rec, "", "", "", "", "", "", "", "")
		}
		var pubs, lost, saved string
		if row.Publishes > 0 {
			pubs, lost = strconv.FormatUint(row.Publishes, 10), g(row.LostShare)
		}
		if row.SavedNsPerTerm != nil {
			saved = g(*row.SavedNsPerTerm)
		}
		kernel := r.Header.Kernel
		if row.Mode == OpenMP {
			kernel = "gcc" // the anchor is its own loop
		}
		rec = append(rec, pubs, lost, saved, kernel, row.Note)
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
