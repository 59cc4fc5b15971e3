package engine_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
)

func init() {
	// exit-at-5000 ends its worker with exit status 3 on the piece that
	// holds term 5000.
	engine.Register("exit-at-5000", func(_ []byte, lo, hi uint64) float64 {
		if lo <= 5000 && 5000 < hi {
			os.Exit(3)
		}
		return float64(hi - lo)
	}, []partial.Op{partial.Sum})
}

// A worker that dies under the dynamic schedule is named with the chunk
// it was summing, as under the static one; before, the error had no range.
func TestDynamicDeathNamesTheChunk(t *testing.T) {
	_, err := engine.Reduce(context.Background(), "exit-at-5000", 1<<21, engine.WithRetries(0),
		engine.WithDynamic(4096), engine.WithWorkers(2), engine.WithGrain(4096))
	var we *engine.WorkerError
	if !errors.As(err, &we) {
		t.Fatalf("%v, want a WorkerError", err)
	}
	if !(we.Lo <= 5000 && 5000 < we.Hi) || we.Hi-we.Lo > 4096 {
		t.Errorf("the error names [%d, %d), want the chunk of term 5000: %v", we.Lo, we.Hi, err)
	}
}
