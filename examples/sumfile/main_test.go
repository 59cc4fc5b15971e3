package main

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"

	// The unix and tcp modes (the test runs every mode but redis).
	_ "github.com/pishm/pishm/transport/netsock"
)

// The test binary is re-executed as each worker, which must serve the
// parent instead of running the tests again.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	os.Exit(m.Run())
}

// The file holds 1, 2, ..., n with one -7.5 in the middle: every element
// of the one reduction is known exactly.
func TestReduceFile(t *testing.T) {
	const n = 1_000_001
	path := filepath.Join(t.TempDir(), "data.f64")
	buf := make([]byte, 0, 8*n)
	for i := range n {
		v := float64(i + 1)
		if i == n/2 {
			v = -7.5
		}
		buf = binary.NativeEndian.AppendUint64(buf, math.Float64bits(v))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	wantSum := float64(n)*(n+1)/2 - float64(n/2+1) - 7.5
	for _, mode := range []lab.Mode{lab.Slots, lab.CAS, lab.Mutex, lab.Goroutines, lab.Pipe, lab.Unix} {
		for _, sched := range []string{"static", "dynamic"} {
			opts := []engine.PoolOption{engine.WithWorkers(3)}
			if sched == "dynamic" {
				if lab.IsTransport(mode) {
					continue
				}
				opts = append(opts, engine.WithDynamic(0))
			}
			r, err := reduceFile(context.Background(), path, n, mode, opts...)
			if err != nil {
				t.Fatal(err)
			}
			if v := r.Values; v[0] != wantSum || v[1] != -7.5 || v[2] != n {
				t.Errorf("%s/%s: sum %v min %v max %v; want %v, -7.5, %v", mode, sched, v[0], v[1], v[2], wantSum, float64(n))
			}
		}
	}
}
