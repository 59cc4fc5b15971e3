package main

import (
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
)

// counts are the outcomes of a group of runs.
type counts struct {
	runs, signalled, gated, leaks, retried int
	n                                      [numClasses]int
}

func (c *counts) add(r runResult) {
	c.runs++
	c.n[r.class]++
	if r.signalled() {
		c.signalled++
	}
	if r.gated {
		c.gated++
	}
	if len(r.leaks) > 0 {
		c.leaks++
	}
	if r.class == exact && r.failures > 0 {
		c.retried++
	}
}

type tally struct {
	cells   map[string]*counts // by "mode sched"
	kinds   [numKinds]counts
	total   counts
	cal     counts
	errs    map[string]int // clean errors with the numbers taken out
	stops   []time.Duration
	foreign int
}

func newTally() *tally { return &tally{cells: map[string]*counts{}, errs: map[string]int{}} }

var digits = regexp.MustCompile(`[0-9]+(\.[0-9]+)?(e[-+]?[0-9]+)?`)

func (t *tally) add(r runResult) {
	key := r.Mode + " " + r.Sched
	if t.cells[key] == nil {
		t.cells[key] = &counts{}
	}
	t.cells[key].add(r)
	t.kinds[r.Kind].add(r)
	t.total.add(r)
	if r.class == clean {
		t.errs[digits.ReplaceAllString(r.detail, "N")]++
	}
	if r.stopExit > 0 {
		t.stops = append(t.stops, r.stopExit)
	}
	t.foreign += r.foreign
}

func (t *tally) addCalibration(r runResult) {
	t.cal.add(r)
	t.foreign += r.foreign
}

func (t *tally) print(w io.Writer, elapsed time.Duration) {
	row := func(name string, c *counts) {
		fmt.Fprintf(w, "%-16s %5d %9d %6d %6d %6d %6d %5d %6d %8d\n", name, c.runs, c.signalled,
			c.n[exact], c.n[clean], c.gated, c.n[wrong], c.n[hung], c.leaks, c.retried)
	}
	head := fmt.Sprintf("%-16s %5s %9s %6s %6s %6s %6s %5s %6s %8s\n", "", "runs", "signalled", "exact", "clean", "gated", "wrong", "hung", "leaks", "retried")
	fmt.Fprint(w, "\n"+strings.Replace(head, "                ", "mode     sched  ", 1))
	for _, m := range modes {
		for _, s := range scheds {
			if c := t.cells[m+" "+s]; c != nil {
				row(fmt.Sprintf("%-8s %s", m, s), c)
			}
		}
	}
	row("total", &t.total)
	fmt.Fprint(w, "\n"+strings.Replace(head, "                ", "plan            ", 1))
	for k := kind(0); k < numKinds; k++ {
		if t.kinds[k].runs > 0 {
			row(k.String(), &t.kinds[k])
		}
	}
	fmt.Fprintf(w, "\ncalibration: %d runs without kills, %d exact\n", t.cal.runs, t.cal.n[exact])
	if len(t.errs) > 0 {
		fmt.Fprintln(w, "clean errors (numbers as N):")
		type kv struct {
			msg string
			n   int
		}
		var es []kv
		for m, n := range t.errs {
			es = append(es, kv{m, n})
		}
		sort.Slice(es, func(i, j int) bool { return es[i].n > es[j].n || es[i].n == es[j].n && es[i].msg < es[j].msg })
		for _, e := range es {
			fmt.Fprintf(w, "  %4d  %s\n", e.n, e.msg)
		}
	}
	if len(t.stops) > 0 {
		slices.Sort(t.stops)
		fmt.Fprintf(w, "stopped for good: %d runs; pishm ended %.2f s (median) and %.2f s (max) after the SIGSTOP\n",
			len(t.stops), t.stops[len(t.stops)/2].Seconds(), t.stops[len(t.stops)-1].Seconds())
	}
	if t.foreign > 0 {
		fmt.Fprintf(w, "foreign: %d new /dev/shm/pishm-* entries of other processes appeared (ignored)\n", t.foreign)
	}
	fmt.Fprintf(w, "elapsed %v\n", elapsed.Round(time.Second))
}

// runLine is one run in a line.
func runLine(r runResult) string {
	s := fmt.Sprintf("run %d %s: %s", r.Index, r.plan, r.class)
	if r.Index < 0 {
		s = fmt.Sprintf("calibration %s: %s", r.plan, r.class)
	}
	if r.gated {
		s += " (gated)"
	}
	s += fmt.Sprintf(" in %v", r.wall.Round(time.Millisecond))
	if r.firstWorker >= 0 {
		s += fmt.Sprintf(" (first worker at %v, polls %v apart at most)", r.firstWorker.Round(time.Millisecond/10), r.maxGap.Round(time.Millisecond/10))
	}
	if r.failures > 0 {
		s += fmt.Sprintf(", %d failures", r.failures)
	}
	if len(r.events) > 0 {
		var ev []string
		for _, e := range r.events {
			ev = append(ev, e.String())
		}
		s += "; " + strings.Join(ev, ", ")
	}
	if r.class != exact && r.detail != "" {
		s += "; " + r.detail
	}
	for _, l := range r.leaks {
		s += "; LEAK " + l
	}
	return s
}

func printRun(w io.Writer, r runResult) { fmt.Fprintln(w, runLine(r)) }

// runLog is the whole record of a run, for its log file.
func runLog(pishm, replay string, r runResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n\nreplay: go run ./bench/chaos %s -only %d -v\n", runLine(r), replay, r.Index)
	fmt.Fprintf(&b, "command: %s %s\nexit %d after %v\n", pishm, strings.Join(r.args(), " "), r.rc, r.wall)
	for _, e := range r.events {
		fmt.Fprintf(&b, "signal: %s\n", e)
	}
	for _, h := range r.hangInfo {
		fmt.Fprintf(&b, "at the limit: %s\n", h)
	}
	fmt.Fprintf(&b, "\n--- stdout\n%s\n--- stderr\n%s\n", r.stdout, r.stderr)
	return b.String()
}
