// Command chaos runs pishm many times with random kills and stops of its
// worker processes and counts how each run ended: exact, clean error,
// wrong or hung. It exits 1 when any run was wrong or hung or left
// something behind.
//
// Usage:
//
//	go run ./bench/chaos [-runs K] [-seed S] [-only I] [-pishm PATH] [-modes LIST] [-scheds LIST] [-hang D] [-logs DIR] [-v]
//	scripts/chaos.sh [flags]
//
// Without -pishm it builds ./cmd/pishm and ./cmd/pishm-worker into a
// temporary directory, removed at the end. Each run draws, from its own
// stream of -seed (so -only I replays run I alone, given the same -modes
// and -scheds), a mode (slots, cas,
// mutex), a schedule (static, dynamic), a chunk (1, 1000 or none: the
// whole share), n (log-uniform over a range per chunk that takes ~50-300
// ms on 2 cores), 2 to 4 workers, and a plan:
//
//	none      nothing (the control)
//	kill      SIGKILL one worker after a delay
//	early     SIGKILL the first worker 0-3 ms after it appears (attaching)
//	kill2     SIGKILL two workers at once
//	killseq   SIGKILL one worker, then another (maybe its retry) later
//	holder    mutex: SIGKILL a running worker while another sleeps on the
//	          lock (likely the holder), or any worker if none is seen
//	          asleep within 30 ms; kill in the other modes
//	stop      SIGSTOP one worker and leave it: pishm must notice it
//	stopcont  SIGSTOP one worker and SIGCONT it 0.2-3 s later
//
// The delay is uniform over 0 to 0.9 times the run's expected time, which
// chaos measures on first use of each mode, schedule and chunk (two runs
// without kills, which must be exact too). Workers are the children of the
// pishm process named "pishm worker N" (/proc/PID/task/*/children), which
// chaos looks at every millisecond until its plan is done: a replay repeats
// the flags and the plan exactly but the timing only roughly, since the
// delay scales with the calibration and a busy machine can stretch the
// looks to tens of milliseconds apart (-v prints the widest gap).
//
// A run is
//
//	exact  exit 0, valid JSON, n as asked, sum_exact within 1e-15 of an
//	       independent asymptotic form, |sum - sum_exact| <= 1e-15 sum_exact
//	clean  non-zero exit with one line "pishm: ..." on stderr; "gated"
//	       counts those that are pishm's own exact check (ErrInexact)
//	wrong  exit 0 with S outside the tolerance or without valid JSON, a
//	       crash dump on stderr, or any other non-zero exit
//	hung   no exit within -hang plus 10 times the expected time: chaos
//	       records the processes' states, sends SIGQUIT (pishm prints its
//	       goroutines) and then SIGKILL
//
// After every run chaos checks that no worker outlived pishm (chaos is a
// child subreaper, so an orphaned worker becomes its child) and that no
// new /dev/shm/pishm-PID-* segment of that pishm remains; a new entry of
// another process is counted as foreign and ignored. The output is a table
// per mode and schedule, one per plan, the distinct clean errors, and the
// seed; -v prints every run. The log of each wrong, hung or leaking run
// (flags, signals with their times, stdout, stderr) goes to -logs.
//
// Exit status: 0 when nothing was wrong, hung or left behind; 1 otherwise;
// 2 for bad flags.
//
// # Example
//
//	$ go run ./bench/chaos -runs 500
//	seed 1207 (replay: -seed 1207; one run: -seed 1207 -only I -v)
//	cpu AMD EPYC, 2 cores; pishm kernel auto=avx2
//
//	mode     sched    runs signalled  exact  clean  gated  wrong  hung  leaks  retried
//	slots    static     74        51     74      0      0      0     0      0       50
//	...
//	total              500       366    493      7      0      0     0      0      337
//
// signalled counts the runs in which a signal reached a worker before
// pishm exited (a delay past the run's end signals nothing); retried, the
// exact runs whose JSON lists failures (workers killed and redone).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "chaos: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type options struct {
	runs    int
	seed    uint64
	only    int
	pishm   string
	modes   []string
	scheds  []string
	hang    time.Duration
	logs    string
	verbose bool
}

func parse(stderr io.Writer, args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: go run ./bench/chaos [flags]

chaos runs pishm -runs times with random SIGKILLs and SIGSTOPs of its
workers over the modes and both schedules, and counts the runs that were
exact, ended in a clean error, were wrong or hung; it exits 1 if any was
wrong or hung or left a worker or a segment behind.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.IntVar(&o.runs, "runs", 500, "number of `runs`")
	seed := fs.String("seed", "", "random `seed` (default: from the clock; printed)")
	fs.IntVar(&o.only, "only", -1, "run only run `I` of the seed (with -seed: replays it)")
	fs.StringVar(&o.pishm, "pishm", "", "pishm `binary` to test (default: build ./cmd/pishm and ./cmd/pishm-worker)")
	ms := fs.String("modes", strings.Join(modes, ","), "comma-separated `modes` to draw from")
	ss := fs.String("scheds", strings.Join(scheds, ","), "comma-separated `schedules` to draw from")
	fs.DurationVar(&o.hang, "hang", 120*time.Second, "a run is hung after `duration` plus 10 times its expected time")
	fs.StringVar(&o.logs, "logs", "", "`dir` for the logs of wrong, hung and leaking runs (default: a new temporary directory)")
	fs.BoolVar(&o.verbose, "v", false, "print every run")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return o, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if o.runs < 1 {
		return o, usageError{fmt.Sprintf("-runs must be >= 1, got %d", o.runs)}
	}
	if *seed == "" {
		o.seed = uint64(time.Now().UnixNano())
	} else {
		s, err := strconv.ParseUint(*seed, 10, 64)
		if err != nil {
			return o, usageError{fmt.Sprintf("-seed must be an unsigned integer, got %q", *seed)}
		}
		o.seed = s
	}
	if o.only >= 0 && *seed == "" {
		return o, usageError{"-only needs -seed"}
	}
	var err error
	if o.modes, err = subset("-modes", *ms, modes); err != nil {
		return o, err
	}
	if o.scheds, err = subset("-scheds", *ss, scheds); err != nil {
		return o, err
	}
	if o.hang <= 0 {
		return o, usageError{fmt.Sprintf("-hang must be > 0, got %v", o.hang)}
	}
	return o, nil
}

// subset parses a comma-separated list of names out of all.
func subset(flagName, list string, all []string) ([]string, error) {
	var out []string
	for _, s := range strings.Split(list, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(all, s) {
			return nil, usageError{fmt.Sprintf("%s: unknown %q (want some of %s)", flagName, s, strings.Join(all, ","))}
		}
		out = append(out, s)
	}
	return out, nil
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	o, err := parse(stderr, args)
	if err != nil {
		return err
	}
	if err := becomeSubreaper(); err != nil {
		return err
	}
	pishm := o.pishm
	if pishm == "" {
		dir, err := os.MkdirTemp("", "chaos-pishm-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		build := exec.CommandContext(ctx, "go", "build", "-o", dir+"/",
			"github.com/pishm/pishm/cmd/pishm", "github.com/pishm/pishm/cmd/pishm-worker")
		build.Stdout, build.Stderr = stderr, stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("go build: %v", err)
		}
		pishm = filepath.Join(dir, "pishm")
	} else if _, err := os.Stat(pishm); err != nil {
		return usageError{fmt.Sprintf("-pishm: %v", err)}
	}

	replay := fmt.Sprintf("-seed %d", o.seed)
	if !slices.Equal(o.modes, modes) {
		replay += " -modes " + strings.Join(o.modes, ",")
	}
	if !slices.Equal(o.scheds, scheds) {
		replay += " -scheds " + strings.Join(o.scheds, ",")
	}
	fmt.Fprintf(stdout, "seed %d (replay: %s; one run: %s -only I -v)\n", o.seed, replay, replay)
	fmt.Fprintf(stdout, "cpu %s, %d cores; pishm %s\n", cpuName(), runtime.NumCPU(), kernelInfo(pishm))

	cal := newCalibration(ctx, pishm, o.hang)
	t := newTally()
	var bad []runResult
	started := time.Now()
	first, last := 0, o.runs
	if o.only >= 0 {
		first, last = o.only, o.only+1
	}
	for i := first; i < last && ctx.Err() == nil; i++ {
		p := draw(o.seed, i, o.modes, o.scheds, cal.estimate)
		if ctx.Err() != nil {
			break
		}
		r := execute(ctx, pishm, p, o.seed, o.hang+10*cal.estimate(p.Mode, p.Sched, p.Chunk, p.N))
		if ctx.Err() != nil {
			break
		}
		t.add(r)
		if o.verbose {
			printRun(stdout, r)
		}
		if r.class == wrong || r.class == hung || len(r.leaks) > 0 {
			bad = append(bad, r)
		}
	}
	for _, r := range cal.results {
		t.addCalibration(r)
		if r.class != exact || len(r.leaks) > 0 {
			bad = append(bad, r)
		}
	}
	t.print(stdout, time.Since(started))

	if len(bad) > 0 {
		dir := o.logs
		if dir == "" {
			dir, err = os.MkdirTemp("", "chaos-logs-")
			if err != nil {
				return err
			}
		} else if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "\nproblem runs (logs in %s):\n", dir)
		for _, r := range bad {
			fmt.Fprintf(stdout, "  %s\n", runLine(r))
			name := filepath.Join(dir, fmt.Sprintf("run-%d.log", r.Index))
			if r.Index < 0 {
				name = filepath.Join(dir, fmt.Sprintf("calibration-%s-%s-%s-%d.log", r.Mode, r.Sched, r.Chunk, r.N))
			}
			if err := os.WriteFile(name, []byte(runLog(pishm, replay, r)), 0o644); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d runs", t.total.runs)
	}
	if w, h, l := t.total.n[wrong], t.total.n[hung], t.total.leaks; w+h+l > 0 {
		return fmt.Errorf("%d wrong, %d hung, %d leaking runs", w, h, l)
	}
	if c := t.cal.runs - t.cal.n[exact] + t.cal.leaks; c > 0 {
		return fmt.Errorf("%d calibration runs (no kills) were not exact or left something behind", c)
	}
	return nil
}

// calibration measures, on first use of a mode, schedule and chunk, two
// runs without kills (at the ends of its n range) and estimates a run's
// time by the line through them; 200 ms if either was not exact.
type calibration struct {
	ctx     context.Context
	pishm   string
	hang    time.Duration
	fits    map[string][2]float64 // seconds = a + b n
	results []runResult
}

func newCalibration(ctx context.Context, pishm string, hang time.Duration) *calibration {
	return &calibration{ctx: ctx, pishm: pishm, hang: hang, fits: map[string][2]float64{}}
}

func (c *calibration) estimate(mode, sched string, ch chunkClass, n uint64) time.Duration {
	key := mode + "/" + sched + "/" + ch.String()
	fit, ok := c.fits[key]
	if !ok {
		var pts [2][2]float64
		bad := false
		for i, x := range nRange[ch] {
			p := plan{Index: -1, Mode: mode, Sched: sched, Chunk: ch, N: uint64(x), Workers: 2, Kind: none}
			r := execute(c.ctx, c.pishm, p, 0, c.hang+10*time.Second)
			c.results = append(c.results, r)
			pts[i] = [2]float64{x, r.wall.Seconds()}
			bad = bad || r.class != exact
		}
		b := max(0, (pts[1][1]-pts[0][1])/(pts[1][0]-pts[0][0]))
		fit = [2]float64{max(0, pts[0][1]-b*pts[0][0]), b}
		if bad { // a run that was not exact measured nothing (a hung one: the limit)
			fit = [2]float64{0.2, 0}
		}
		c.fits[key] = fit
	}
	return max(10*time.Millisecond, time.Duration((fit[0]+fit[1]*float64(n))*1e9))
}

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

// cpuName is the model name in /proc/cpuinfo.
func cpuName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// kernelInfo is the kernel pishm's auto picks, from pishm info.
func kernelInfo(pishm string) string {
	out, _ := exec.Command(pishm, "info").Output()
	if m := regexp.MustCompile(`auto picks (\w+)`).FindSubmatch(out); m != nil {
		return "kernel auto=" + string(m[1])
	}
	return "kernel unknown"
}
