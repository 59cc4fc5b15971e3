package lab_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

func init() {
	engine.Register("lab-test-count", func(_ []byte, lo, hi uint64) float64 { return float64(hi - lo) }, []partial.Op{partial.Sum})
	engine.Register("lab-test-vector", func(_ []byte, lo, hi uint64, v *engine.Vector) { v.Add(0, float64(hi-lo)) }, []partial.Op{partial.Sum, partial.Max})
}

// TestLimits holds lab's limits to what the engine does: each is taken,
// and one past it is a *engine.ConfigError naming the setting. Validate
// starts nothing.
func TestLimits(t *testing.T) {
	for _, c := range []struct {
		field    string
		ok, over lab.Config
	}{
		{"N", lab.Config{N: lab.MaxN}, lab.Config{N: lab.MaxN + 1}},
		{"Workers", lab.Config{N: 10, Workers: lab.MaxWorkers}, lab.Config{N: 10, Workers: lab.MaxWorkers + 1}},
		{"Retries", lab.Config{N: 10, Retries: lab.MaxRetries}, lab.Config{N: 10, Retries: lab.MaxRetries + 1}},
		{"Grain", lab.Config{N: 10, Grain: lab.MaxGrain}, lab.Config{N: 10, Grain: lab.MaxGrain + 1}},
		{"Params", lab.Config{N: 10, Params: make([]byte, lab.MaxParams)}, lab.Config{N: 10, Params: make([]byte, lab.MaxParams+1)}},
	} {
		if err := c.ok.Validate("lab-test-count"); err != nil {
			t.Errorf("%s at its limit: %v", c.field, err)
		}
		var ce *engine.ConfigError
		if err := c.over.Validate("lab-test-count"); !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s past its limit: %v, want a ConfigError naming it", c.field, err)
		}
	}
	var ce *engine.ConfigError
	if _, err := engine.NewPool(context.Background(), engine.WithMaxK(lab.MaxK+1)); !errors.As(err, &ce) || ce.Field != "MaxK" {
		t.Errorf("WithMaxK(MaxK+1): %v, want a ConfigError naming MaxK", err)
	}
}

// Modes lists every mode: the shared-memory ones, goroutines, then every
// transport, each of which IsTransport; Racy is not listed.
func TestModes(t *testing.T) {
	m := lab.Modes()
	want := []lab.Mode{lab.Slots, lab.CAS, lab.Mutex, lab.Goroutines,
		lab.File, lab.Pipe, lab.FIFO, lab.Unix, lab.TCP, lab.Socketpair, lab.PosixMQ, lab.SysVMQ, lab.Redis}
	if len(m) != len(want) {
		t.Fatalf("Modes() = %v, want %v", m, want)
	}
	for i := range want {
		if m[i] != want[i] || lab.IsTransport(m[i]) != (i >= 4) {
			t.Errorf("Modes()[%d] = %s (transport %v), want %s", i, m[i], lab.IsTransport(m[i]), want[i])
		}
	}
	if lab.IsTransport(lab.Racy) {
		t.Error("Racy is no transport")
	}
	if err := (lab.Config{N: 10, Mode: lab.Racy}).Validate("lab-test-count"); err == nil {
		t.Error("Racy without AllowRacy was taken")
	}
	if err := (lab.Config{N: 10, Mode: lab.Racy, AllowRacy: true}).Validate("lab-test-count"); err != nil {
		t.Errorf("Racy with AllowRacy: %v", err)
	}
}

// Run sums a scalar Func: a vector one is refused before anything starts.
func TestRunRefusesAVector(t *testing.T) {
	if _, err := lab.Run(context.Background(), "lab-test-vector", lab.Config{N: 10}); err == nil {
		t.Error("lab.Run took a vector Func")
	}
}
