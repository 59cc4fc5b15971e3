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
			"github.com/pishm/pishm/cmd/pishm", "github.com/pishm/pishm/cmd/pishm-full", "github.com/pishm/pishm/cmd/pishm-worker")
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
