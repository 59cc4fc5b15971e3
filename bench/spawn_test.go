package bench

import (
	"fmt"
	"testing"

	"github.com/pishm/pishm/engine/lab"
)

// BenchmarkSpawn times whole runs (segment, processes, work and tear-down)
// with workers started by exec and by fork, at a size where starting them
// is most of the cost. Fork needs linux/amd64 and an assembly kernel: its
// arm is skipped where Config.Validate refuses it.
//
//	go test -run '^$' -bench Spawn -count 10 ./bench | benchstat -col /spawn -
func BenchmarkSpawn(b *testing.B) {
	for _, spawn := range []string{lab.SpawnExec, lab.SpawnFork} {
		for _, n := range []struct {
			name string
			n    uint64
		}{{"1e6", 1e6}} {
			for _, workers := range []int{2} {
				b.Run(fmt.Sprintf("spawn=%s/n=%s/workers=%d", spawn, n.name, workers), func(b *testing.B) {
					cfg := lab.Config{N: n.n, Workers: workers, Spawn: spawn}
					if err := cfg.Validate("pi"); err != nil {
						b.Skip(err)
					}
					runEach(b, cfg)
				})
			}
		}
	}
}
