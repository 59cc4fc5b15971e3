package engine

import (
	"errors"
	"strings"
	"testing"
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
		{Config{N: 10, Spawn: SpawnFork, Mode: CAS}, "Spawn", "<Spawn> fork "},
	} {
		err := c.cfg.Validate("")
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: %v, want a *ConfigError for %s", c.cfg, err, c.field)
			continue
		}
		got := ce.Explain(func(f string) string { return "<" + f + ">" })
		if !strings.HasPrefix(got, c.flags) || strings.Contains(got, "{") {
			t.Errorf("%+v: Explain = %q, want it to start %q", c.cfg, got, c.flags)
		}
		if !strings.HasPrefix(err.Error(), "engine: Config."+c.field) || strings.Contains(err.Error(), "{") {
			t.Errorf("%+v: Error = %q", c.cfg, err)
		}
	}
}
