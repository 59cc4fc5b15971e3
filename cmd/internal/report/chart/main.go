package chart

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/pishm/pishm/cmd/internal/report"
)

// ErrUsage is wrapped by Main's errors about its command line: exit 2.
var ErrUsage = errors.New("usage")

// Main is the pishm-chart command: it reads a report that `pishm bench
// -json` wrote (from the file its argument names, or stdin) and draws it
// into the -svg and -png files.
func Main(stdin io.Reader, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm-chart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm-chart [-svg file] [-png file] [report.json]

pishm-chart draws the charts of a pishm bench report (pishm bench -json)
read from report.json or stdin: a panel per part of the matrix, medians with
min-max bars. pishm bench -svg and -png run it.

Flags:
`)
		fs.PrintDefaults()
	}
	svg := fs.String("svg", "", "write the charts to `file` as SVG")
	png := fs.String("png", "", "write the charts to `file` as PNG")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	if *svg == "" && *png == "" {
		return fmt.Errorf("%w: give -svg or -png (or both)", ErrUsage)
	}
	if fs.NArg() > 1 {
		return fmt.Errorf("%w: one report at most, got %q", ErrUsage, fs.Args())
	}
	in := stdin
	if name := fs.Arg(0); name != "" && name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	var rep report.Report
	if err := json.NewDecoder(in).Decode(&rep); err != nil {
		return fmt.Errorf("reading the report: %w", err)
	}
	for _, out := range []struct {
		path  string
		write func(io.Writer, report.Report) error
	}{{*svg, WriteSVG}, {*png, WritePNG}} {
		if out.path == "" {
			continue
		}
		if err := writeFile(out.path, rep, out.write); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes a chart to path through a temporary file beside it, so
// that a failure leaves no half-written image.
func writeFile(path string, rep report.Report, write func(io.Writer, report.Report) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".pishm-chart-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if err := write(f, rep); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
