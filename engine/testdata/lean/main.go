// Command lean links engine and nothing else of pishm: no transport/netsock,
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
)

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	mode := engine.Slots
	if len(os.Args) > 1 {
		mode = engine.Mode(os.Args[1])
	}
	res, err := engine.Run(context.Background(), "pi", engine.Config{N: 1_000_000, Workers: 2, Mode: mode})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("%.17g\n", res.Sum)
}
