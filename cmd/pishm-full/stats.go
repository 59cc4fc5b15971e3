package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/cmd/internal/filestats"
	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/cmd/internal/stats"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// statsCmd is "pishm stats [flags] FILE": count, exact sum, mean, sample
// variance, extremes and histogram of a file of numbers, on the engine's
// workers (see internal/filestats).
func statsCmd(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm stats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm stats [flags] FILE|-

pishm stats reads FILE (or stdin, given as -; a FIFO; gzip or zstd
compressed) and prints the count, the correctly rounded sum (math.fsum's),
mean, sample variance (n-1) and standard deviation, the extremes and a
histogram. It recognises what FILE holds before it reads it:
  - text (CSV, TSV, one number per line): the statistics of each column
    (-col picks some), with the fields that hold no number counted and
    their first line shown;
  - a NumPy .npy array of float64 or float32;
  - raw little-endian float64 (or float32 with -type f32), when the file
    is not text and its size is a whole number of elements.
Anything else (a .npz or zip, an image, JSON...) is refused with what it
looks like. NaNs are counted apart and take no part in the rest; the
histogram counts values outside its range as below and above. The output
is the same bits for any -workers and -mode, and for the same numbers
read from text, .npy or raw.

Flags (before FILE):
`)
		fs.PrintDefaults()
	}
	workers := fs.Int("workers", runtime.NumCPU(), "number of worker `processes`")
	mode := fs.String("mode", "slots", "publishing `strategy`: "+strings.Replace(cli.ModeNames(), ", racy", "", 1))
	asJSON := fs.Bool("json", false, "print the result as one JSON object (non-finite numbers as \"NaN\", \"+Inf\", \"-Inf\")")
	bins := fs.Int("bins", 10, fmt.Sprintf("histogram `bins`, 1 to %d", stats.MaxBins))
	rng := fs.String("range", "", "histogram range `LO:HI` (default: the finite values' min:max, which takes a second read of FILE)")
	typ := fs.String("type", "f64", "element `type` of a raw file: f64 or f32 (a .npy file says its own); given, FILE is read as raw even if it looks like text")
	cols := fs.String("col", "", "text: the `columns` to read, by header name or number from 1, comma-separated (default: all)")
	sepFlag := fs.String("sep", "", "text: the field `separator`: one character, tab or blanks (default: detected)")
	header := fs.Bool("header", false, "text: the first line names the columns (default: guessed)")
	noHeader := fs.Bool("no-header", false, "text: the first line is data")
	strict := fs.Bool("strict", false, "text: a field that is not a number (nor empty or NA) fails the run")
	writerWait := fs.Duration("writer-wait", 5*time.Second, "how long a FIFO may have no writer before it is refused")
	verbose := fs.Bool("v", false, "on a worker's failure, also print what it wrote to stderr")
	quiet := fs.Bool("quiet", false, "no progress bars (they show only on a terminal, for passes over a second)")
	read := fs.String("read", "auto", "how the workers read FILE: `mmap` (in place), pread (copied), or auto (whichever a probe of FILE finds faster here; pread for files under 32 MiB)")
	if err := cli.ParseFlagsArgs(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch fs.NArg() {
	case 0:
		return cli.Usagef("stats: no FILE (usage: pishm stats [flags] FILE, or - for stdin)")
	case 1:
	default:
		return cli.Usagef("stats: one FILE, and flags before it: got %q", fs.Args())
	}
	path := fs.Arg(0)
	elem, err := floatfile.ParseElem(*typ)
	if err != nil {
		return cli.Usagef("-type: %v", err)
	}
	if *workers < 1 || *workers > lab.MaxWorkers {
		return cli.Usagef("-workers must be in [1, %d], got %d", lab.MaxWorkers, *workers)
	}
	if *bins < 1 || *bins > stats.MaxBins {
		return cli.Usagef("-bins must be in [1, %d], got %d", stats.MaxBins, *bins)
	}
	var histRange *[2]float64
	if *rng != "" {
		r, err := parseRange(*rng)
		if err != nil {
			return cli.Usagef("-range: %v", err)
		}
		histRange = &r
	}
	readMethod, ok := filestats.ReadMethods[*read]
	if !ok {
		return cli.Usagef("-read must be auto, mmap or pread, got %q", *read)
	}
	m := lab.Mode(*mode)
	if m == lab.Racy {
		return cli.Usagef("-mode racy loses updates on purpose: stats has no use for it")
	}
	if err := (lab.Config{N: 1, Workers: *workers, Mode: m}).Validate(""); err != nil {
		return cli.AsFlagError(err)
	}
	topt, err := textOptions(*cols, *sepFlag, *header, *noHeader, *strict)
	if err != nil {
		return err
	}
	src, err := source.Open(ctx, path, source.Options{WriterWait: *writerWait, IsStdinTerminal: func() bool { return cli.IsTerminal(os.Stdin) }})
	if err != nil {
		return inputError(err)
	}
	defer func() { src.Close() }()
	format, err := sniff(ctx, &src, set["type"])
	if err != nil {
		return inputError(err)
	}
	textFlags := set["col"] || set["sep"] || set["header"] || set["no-header"] || set["strict"]
	var layout floatfile.Layout
	switch {
	case format == floatfile.Text && set["type"]:
		return cli.Usagef("-type applies to raw files: %s is text (leave -type out to read its columns)", path)
	case format != floatfile.Text && textFlags:
		return cli.Usagef("-col, -sep, -header, -no-header and -strict apply to text: %s is %s", path, format)
	case format != floatfile.Text:
		layout, err = floatfile.Inspect(src.Path, elem)
		if err != nil {
			return cli.UsageError{Msg: strings.Replace(err.Error(), src.Path, path, 1) + rawHint(format, set["type"])}
		}
	}
	opt := filestats.Options{Workers: *workers, Mode: m, Bins: *bins, Range: histRange, Read: readMethod}
	if m != lab.Goroutines {
		opt.WorkerBinary = cli.LeanWorker(m)
	}
	if !*asJSON && !*quiet && cli.IsTerminal(stdout) {
		var view *cli.ProgressView
		last := 0
		opt.Progress = func(pass int, p engine.Progress) {
			if pass != last {
				if view != nil {
					view.Close()
				}
				view, last = cli.NewProgressView(stdout), pass
			}
			view.Update(p)
		}
		defer func() {
			if view != nil {
				view.Close()
			}
		}()
	}
	start := time.Now()
	var res any
	if format == floatfile.Text {
		res, err = filestats.ComputeText(ctx, src, opt, topt)
	} else {
		res, err = filestats.Compute(ctx, src.Path, layout, opt)
	}
	if err != nil {
		var we *engine.WorkerError
		if *verbose && errors.As(err, &we) {
			cli.PrintWorkerDetail(stderr, we)
		}
		var ue *filestats.UsageError
		if errors.As(err, &ue) {
			return cli.UsageError{Msg: ue.Msg}
		}
		return err
	}
	if *asJSON {
		b, err := json.Marshal(res)
		if tr, ok := res.(filestats.TextResult); ok && err == nil {
			b, err = json.Marshal(textJSON{File: path, Format: "text", Via: src.Via, TextResult: tr})
		}
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	switch r := res.(type) {
	case filestats.TextResult:
		printText(stdout, path, src.Via, r)
	case stats.Result:
		printStats(stdout, path, src.Via, layout, r)
	}
	fmt.Fprintf(stdout, "time      %v, %d workers, mode %s\n", time.Since(start).Round(time.Millisecond), *workers, m)
	return nil
}

// textJSON is the -json object of a text file.
type textJSON struct {
	File   string `json:"file"`
	Format string `json:"format"`
	Via    string `json:"via,omitempty"`
	filestats.TextResult
}

// parseRange reads LO:HI, two finite numbers with LO <= HI.
func parseRange(s string) ([2]float64, error) {
	lo, hi, ok := strings.Cut(s, ":")
	if !ok {
		return [2]float64{}, fmt.Errorf("want LO:HI, got %q", s)
	}
	var r [2]float64
	for i, t := range []string{lo, hi} {
		f, err := strconv.ParseFloat(strings.TrimSpace(t), 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return r, fmt.Errorf("%q is not a finite number", t)
		}
		r[i] = f
	}
	if r[0] > r[1] {
		return r, fmt.Errorf("LO %v is above HI %v", r[0], r[1])
	}
	return r, nil
}

// sumNote says what the printed sum is: the exact sum rounded once, or
// why it is not a number.
func sumNote(r stats.Result) string {
	infinite := math.IsInf(r.Min, -1) || math.IsInf(r.Max, 1)
	switch {
	case math.IsNaN(r.Sum): // NaN values are counted apart: only +Inf meeting -Inf makes one
		return "+Inf and -Inf both occur"
	case math.IsInf(r.Sum, 0) && infinite:
		return "an infinite value occurs"
	case math.IsInf(r.Sum, 0):
		return "correctly rounded: the exact sum is beyond float64"
	}
	return "correctly rounded"
}

func printStats(w io.Writer, path, via string, l floatfile.Layout, r stats.Result) {
	kind := "raw " + l.Elem.String()
	if l.NPY {
		kind = ".npy " + l.Elem.String()
	}
	if via != "" {
		kind = via + ", " + kind
	}
	fmt.Fprintf(w, "file      %s (%s, %d values)\n", path, kind, l.Count)
	printStatsResult(w, r)
}

// printStatsResult prints the statistics of one array or column.
func printStatsResult(w io.Writer, r stats.Result) {
	fmt.Fprintf(w, "count     %d (and %d NaN)\n", r.Count, r.NaN)
	fmt.Fprintf(w, "sum       %v  (%s)\n", r.Sum, sumNote(r))
	fmt.Fprintf(w, "mean      %v\n", r.Mean)
	fmt.Fprintf(w, "variance  %v  (sample, n-1)\n", r.Variance)
	fmt.Fprintf(w, "std       %v\n", r.Std)
	fmt.Fprintf(w, "min       %v\n", r.Min)
	fmt.Fprintf(w, "max       %v\n", r.Max)
	h := r.Histogram
	fmt.Fprintf(w, "histogram %d bins over [%.6g, %.6g]\n", len(h.Counts), h.Edges[0], h.Edges[len(h.Edges)-1])
	var most uint64
	for _, c := range h.Counts {
		most = max(most, c)
	}
	for k, c := range h.Counts {
		closing := ")"
		if k == len(h.Counts)-1 {
			closing = "]"
		}
		bar := 0
		if most > 0 {
			bar = int(40 * c / most)
		}
		fmt.Fprintf(w, "  [%12.6g, %12.6g%s %12d %s\n", h.Edges[k], h.Edges[k+1], closing, c, strings.Repeat("#", bar))
	}
	if h.Below > 0 || h.Above > 0 {
		fmt.Fprintf(w, "  below %d, above %d (outside the range)\n", h.Below, h.Above)
	}
}
