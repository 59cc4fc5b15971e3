// Command lean links engine and nothing else of pishm (not even the pi
// series: it registers a Func of its own): no transport/netsock,
// no transport/redis, no command line. deps_test.go builds it to check that
// a worker of such a program works, and that a mode whose transport is not
// linked in fails with an error naming the import. Run as
// PISHM_SEGMENT=x:1 lean, it exits at once as a worker that cannot attach:
// the start-up cost of a process that links only engine.
//
//	lean [mode]   run n = 1e6 on 2 workers in the mode (default slots)
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

func init() {
	engine.Register("inverse-squares", func(_ []byte, lo, hi uint64) float64 {
		var s float64
		for k := lo; k < hi; k++ {
			s += 1 / (float64(k+1) * float64(k+1))
		}
		return s
	}, []partial.Op{partial.Sum})
}

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	mode := lab.Slots
	if len(os.Args) > 1 {
		mode = lab.Mode(os.Args[1])
	}
	res, err := engine.Reduce(context.Background(), "inverse-squares", 1_000_000, engine.WithWorkers(2), lab.WithMode(mode))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%.17g\n", res.Value)
}
