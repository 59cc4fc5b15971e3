// Command pishm-chart draws the charts of a pishm bench report with
// gonum.org/v1/plot.
//
// Usage:
//
//	pishm-chart [-svg file] [-png file] [report.json]
//
// It reads the report from report.json, or stdin, as `pishm bench -json`
// writes it. `pishm bench -svg FILE` runs it for you: it looks for
// pishm-chart in $PISHM_CHART, beside pishm, then on $PATH. The charts live
// in this separate command so that the plotting library, whose start-up
// every process of a binary pays, stays out of pishm and its workers.
//
// Exit status: 0 on success, 1 on a failure, 2 on a usage error.
//
// # Example
//
//	$ pishm bench -compare -json > bench.json
//	$ pishm-chart -svg docs/bench.svg -png docs/bench.png bench.json
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/pishm/pishm/cmd/internal/report/chart"
)

func main() {
	err := chart.Main(os.Stdin, os.Stderr, os.Args[1:])
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return
	case errors.Is(err, chart.ErrUsage):
		fmt.Fprintf(os.Stderr, "pishm-chart: %v\n", err)
		os.Exit(2)
	}
	fmt.Fprintf(os.Stderr, "pishm-chart: %v\n", err)
	os.Exit(1)
}
