package main

import (
	"context"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/pishm/pishm/engine"

	// The unix and tcp modes (the test runs every mode but redis).
	_ "github.com/pishm/pishm/transport/netsock"
)

func TestMain(m *testing.M) { engine.RunTests(m) }

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
	for _, mode := range []engine.Mode{engine.Slots, engine.CAS, engine.Mutex, engine.Goroutines, engine.Pipe, engine.Unix} {
		for _, sched := range []engine.Schedule{engine.Static, engine.Dynamic} {
			if sched == engine.Dynamic && mode.IsTransport() {
				continue
			}
			r, err := reduceFile(context.Background(), path, n, mode, engine.WithWorkers(3), engine.WithSchedule(sched))
			if err != nil {
				t.Fatal(err)
			}
			if v := r.Values; v[0] != wantSum || v[1] != -7.5 || v[2] != n {
				t.Errorf("%s/%s: sum %v min %v max %v; want %v, -7.5, %v", mode, sched, v[0], v[1], v[2], wantSum, float64(n))
			}
		}
	}
}
