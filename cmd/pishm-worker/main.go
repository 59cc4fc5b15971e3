// Command pishm-worker is pishm's lean worker process. It links only the
// engine (no redis, no network stack, no progress bars), so each worker
// starts faster than a re-execution of pishm itself. pishm uses it when it
// lies beside the pishm binary and was built from the same source with the
// same settings (the workers check its build stamp); otherwise pishm
// re-executes itself. The stamp names the source only for a clean VCS
// checkout, a module version, or a build tag given to the linker: a build
// of a tree with uncommitted changes, or with -buildvcs=false, cannot tell
// a pishm-worker of its own code from one left by an earlier build, so
// pishm re-executes itself there unless both were built with the same tag.
// It is not meant to be run by hand.
//
//	CGO_ENABLED=0 go build -o bin/ ./cmd/...
//	CGO_ENABLED=0 go build -ldflags=-X=github.com/pishm/pishm/engine.buildTag=$(date +%s%N) -o bin/ ./cmd/...  # a dirty tree
package main

import (
	"fmt"
	"os"

	"github.com/pishm/pishm/engine"
)

func main() {
	if !engine.IsChild() {
		fmt.Fprintln(os.Stderr, "pishm-worker: started by pishm as a worker, not by hand (run pishm instead)")
		os.Exit(2)
	}
	os.Exit(engine.ChildMain())
}
