package main

// pishm bench: the comparison report (package internal/report does the work).
//
// Usage:
//
//	pishm bench [-sweep contention,fixed,scaling] [-count K] [-quick] [-compare]
//	            [-json | -csv] [-svg FILE] [-png FILE]
//
// The charts (-svg, -png) are drawn by pishm-chart (cmd/pishm-chart, with
// gonum.org/v1/plot), found in $PISHM_CHART, beside pishm or on $PATH: kept
// out of this binary, the plotting library's start-up (0.7 ms of package
// init and 8 MB, paid by every process, workers included) stays out of the
// fixed cost the bench measures.
//
// # Example
//
//	$ pishm bench -compare -count 5 -svg docs/bench.svg -png docs/bench.png
//	pishm bench: kernel avx512, cpu AMD EPYC (2 cores), cache line 64 B, slot stride 128 B, ...
//
//	== contention: work ns/term as each worker publishes every chunk terms
//	       series  workers    n  chunk  ns/term  min-max  wall ms  cpu ms
//	slots pad=128        2  1e7      1     ...

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/cmd/internal/report"
)

// benchOptions are the parsed flags of pishm bench.
type benchOptions struct {
	cfg      report.Config
	json     bool
	csv      bool
	svg, png string
	chart    string // the pishm-chart command, when -svg or -png asks for it
}

func benchCmd(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	opt, err := parseBench(stderr, args)
	if err != nil {
		return err
	}
	opt.cfg.Progress = benchProgress(stderr, time.Now())
	rep, err := report.Run(ctx, opt.cfg)
	if cli.IsTerminal(stderr) {
		fmt.Fprint(stderr, "\r\033[K")
	}
	if err != nil {
		return err
	}
	switch {
	case opt.json:
		err = report.WriteJSON(stdout, rep)
	case opt.csv:
		err = report.WriteCSV(stdout, rep)
	default:
		err = report.WriteTable(stdout, rep)
	}
	if err != nil {
		return err
	}
	if opt.chart != "" {
		return drawCharts(ctx, stderr, opt, rep)
	}
	return nil
}

// drawCharts runs pishm-chart with the report as JSON on its stdin.
func drawCharts(ctx context.Context, stderr io.Writer, opt benchOptions, rep report.Report) error {
	var js bytes.Buffer
	if err := report.WriteJSON(&js, rep); err != nil {
		return err
	}
	var args []string
	if opt.svg != "" {
		args = append(args, "-svg", opt.svg)
	}
	if opt.png != "" {
		args = append(args, "-png", opt.png)
	}
	cmd := exec.CommandContext(ctx, opt.chart, append(args, "-")...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &js, stderr, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("drawing the charts with %s: %w", opt.chart, err)
	}
	for _, f := range []string{opt.svg, opt.png} {
		if f != "" {
			fmt.Fprintf(stderr, "bench: wrote %s\n", f)
		}
	}
	return nil
}

// chartCommand finds pishm-chart: $PISHM_CHART, beside this executable,
// then on $PATH.
func chartCommand() (string, error) {
	if p := os.Getenv("PISHM_CHART"); p != "" {
		return p, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "pishm-chart")
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath("pishm-chart"); err == nil {
		return p, nil
	}
	dir := "bin"
	if exe, err := os.Executable(); err == nil {
		dir = filepath.Dir(exe)
	}
	return "", fmt.Errorf("-svg and -png need pishm-chart beside pishm: from the checkout, CGO_ENABLED=0 go build -o %s/ ./cmd/pishm-chart "+
		"(the set-up command builds it; it draws the charts outside pishm so that the plotting library stays out of pishm and its workers)", dir)
}

// benchProgress says on stderr which configuration runs and how many are
// left: one line rewritten in place on a terminal, a line a run otherwise.
func benchProgress(stderr io.Writer, start time.Time) func(report.Step) {
	tty := cli.IsTerminal(stderr)
	return func(s report.Step) {
		eta := ""
		if s.Done > 0 {
			left := time.Duration(float64(time.Since(start)) * float64(s.Total-s.Done) / float64(s.Done))
			eta = fmt.Sprintf(", ~%v", left.Round(time.Second))
		}
		line := fmt.Sprintf("bench: pass %d/%d, run %d/%d (%d left%s): %s", s.Pass, s.Passes, s.Done+1, s.Total, s.Total-s.Done, eta, s.Case.Label())
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", line)
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
}

func parseBench(stderr io.Writer, args []string) (benchOptions, error) {
	var opt benchOptions
	fs := flag.NewFlagSet("pishm bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm bench [flags]

pishm bench runs a matrix of configurations and prints the median time per
term of each, with its spread: how the publishing strategies part as workers
publish more often (contention), the fixed cost and the throughput of every
mode, and scaling with n and with workers. Repeats run round-robin, so drift
on a noisy machine hits every configuration alike. Progress goes to stderr.

Flags:
`)
		fs.PrintDefaults()
	}
	sweep := fs.String("sweep", "all", "`parts` to run, comma-separated: contention, fixed (fixed cost and throughput), scaling (scaling-n, scaling-workers), all")
	fs.IntVar(&opt.cfg.Count, "count", 0, "runs of each configuration, `K` (default 5, 1 with -quick)")
	fs.BoolVar(&opt.cfg.Quick, "quick", false, "a small matrix that finishes in seconds (for tests and a first look)")
	fs.BoolVar(&opt.cfg.Compare, "compare", false, "add the anchors: the C OpenMP program (built with gcc) and the in-process goroutines baseline")
	fs.BoolVar(&opt.json, "json", false, "print the report as JSON, every run included")
	fs.BoolVar(&opt.csv, "csv", false, "print the report as CSV, one record per configuration")
	fs.StringVar(&opt.svg, "svg", "", "draw the charts into `file` as SVG (runs pishm-chart)")
	fs.StringVar(&opt.png, "png", "", "draw the charts into `file` as PNG (runs pishm-chart)")
	fs.StringVar(&opt.cfg.Kernel, "kernel", "auto", "inner `loop` of every run: auto or "+cli.KernelNames())
	fs.StringVar(&opt.cfg.RedisURL, "redis", "", "redis-server `URL` for the redis mode (default: start a throwaway one if redis-server is installed)")
	fs.StringVar(&opt.cfg.AnchorSource, "anchor", "", "`file` pi_omp.c for -compare (default: "+report.AnchorPath+" here or above)")
	fs.DurationVar(&opt.cfg.Timeout, "timeout", 5*time.Minute, "give up on one run after `duration` (0: never); the bench goes on")
	if err := cli.ParseFlags(fs, args); err != nil {
		return opt, err
	}
	parts, err := report.ParseParts(*sweep)
	if err != nil {
		return opt, cli.Usagef("-sweep: %v", err)
	}
	opt.cfg.Parts = parts
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["count"] && (opt.cfg.Count < 1 || opt.cfg.Count > 1000) {
		return opt, cli.Usagef("-count must be in [1, 1000], got %d", opt.cfg.Count)
	}
	if opt.json && opt.csv {
		return opt, cli.Usagef("-json and -csv both ask for stdout: give one")
	}
	if !cli.ValidKernel(opt.cfg.Kernel) {
		return opt, cli.Usagef("-kernel: unknown kernel %q (want auto, %s)", opt.cfg.Kernel, cli.KernelNames())
	}
	if opt.cfg.Timeout < 0 {
		return opt, cli.Usagef("-timeout must be >= 0, got %v", opt.cfg.Timeout)
	}
	if opt.svg != "" || opt.png != "" {
		// Before a long bench, not after it.
		if opt.chart, err = chartCommand(); err != nil {
			return opt, err
		}
		for _, f := range []string{opt.svg, opt.png} {
			if f == "" {
				continue
			}
			if st, err := os.Stat(filepath.Dir(f)); err != nil || !st.IsDir() {
				return opt, cli.Usagef("-svg/-png: no directory for %q", f)
			}
		}
	}
	return opt, nil
}
