// Command pishm-full is pishm with every command linked: stats, bench,
// coordinate, worker and the unix, tcp and redis modes beside the plain
// run. pishm runs it in its place for those, with the same arguments; run
// directly, it behaves as pishm does.
package main

import "github.com/pishm/pishm/cmd/internal/cli"

func init() {
	cli.Register("stats", statsCmd)
	cli.Register("bench", benchCmd)
	cli.Register("coordinate", coordinate)
	cli.Register("worker", work)
}

func main() { cli.Main() }
