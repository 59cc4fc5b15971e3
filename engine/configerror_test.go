package engine

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine/internal/opt"
)

// TestConfigError: validation errors are *ConfigErrors that name their
// field, and Explain renders every field they mention as the caller says.
func TestConfigError(t *testing.T) {
	for _, c := range []struct {
		cfg          Config
		field, flags string
	}{
		{Config{N: 10, Workers: -1}, "Workers", "<Workers> must be in [1, "},
		{Config{N: 10, Sched: Static, Chunk: 5}, "Chunk", "<Chunk> is the dynamic schedule's unit of work: the static schedule publishes every <Publish> terms"},
		{Config{N: 10, Spawn: SpawnFork, Mode: modeCAS}, "Spawn", "<Spawn> fork "},
	} {
		err := c.cfg.Validate("")
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: %v, want a *ConfigError for %s", c.cfg, err, c.field)
			continue
		}
		got := opt.Explain(ce.Field, ce.Reason, func(f string) string { return "<" + f + ">" })
		if !strings.HasPrefix(got, c.flags) || strings.Contains(got, "{") {
			t.Errorf("%+v: Explain = %q, want it to start %q", c.cfg, got, c.flags)
		}
		if !strings.HasPrefix(err.Error(), "engine: "+c.field) || strings.Contains(err.Error(), "{") {
			t.Errorf("%+v: Error = %q", c.cfg, err)
		}
	}
}

// Every *ConfigError wraps ErrConfig, and its cause beside it.
func TestConfigErrorIsErrConfig(t *testing.T) {
	cause := errors.New("cause")
	for _, err := range []error{
		&ConfigError{Field: "Workers", Reason: " bad"},
		&ConfigError{Reason: "bad", Err: cause},
	} {
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%v does not wrap ErrConfig", err)
		}
	}
	if !errors.Is(&ConfigError{Err: cause}, cause) {
		t.Error("a ConfigError hides its cause")
	}
	if _, err := NewPool(context.Background(), WithMaxK(maxK+1)); !errors.Is(err, ErrConfig) {
		t.Errorf("NewPool with too wide a WithMaxK: %v, want an ErrConfig", err)
	}
}
