package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/shared"
)

// A shared array reaches the Func in every way a call runs: workers
// exec'd one-shot, a Pool's workers (the data changing between calls,
// and a new array in place of a closed one), goroutines in the caller;
// and a closed array is refused, never read.
func TestSharedArrayEveryWay(t *testing.T) {
	ctx := context.Background()
	const n = 1 << 21
	fill := func(a *shared.Array[float64], v float64) {
		for i := range a.Data() {
			a.Data()[i] = v
		}
	}
	a, err := shared.New[float64](n)
	if err != nil {
		t.Fatal(err)
	}
	fill(a, 0.25)
	for _, m := range []lab.Mode{lab.Slots, lab.CAS, lab.Goroutines, lab.Pipe} {
		r, err := engine.Reduce(ctx, "shared-sum", n, engine.WithParams([]byte(a.Handle())), engine.WithWorkers(2), lab.WithMode(m))
		if err != nil || r.Value != n/4 {
			t.Errorf("%s: %v, %v; want %v", m, r.Value, err, n/4)
		}
	}
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i, v := range []float64{1, -3, 0.5} {
		if i == 2 { // a new array where the closed one was
			a.Close()
			if a, err = shared.New[float64](n); err != nil {
				t.Fatal(err)
			}
		}
		fill(a, v)
		r, err := p.Reduce(ctx, "shared-sum", n, engine.WithParams([]byte(a.Handle())))
		if err != nil || r.Value != v*n {
			t.Errorf("pool call %d: %v, %v; want %v", i, r.Value, err, v*n)
		}
	}
	h := a.Handle()
	a.Close()
	if _, err := p.Reduce(ctx, "shared-sum", n, engine.WithParams([]byte(h))); err == nil || !strings.Contains(err.Error(), "is gone") {
		t.Errorf("a closed array: %v, want an error saying it is gone", err)
	}
}
