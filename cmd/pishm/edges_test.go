package main

import (
	"runtime"
	"strings"
	"testing"
)

// A flag combination the engine refuses is a usage error (exit 2) in the
// CLI's flags; before, -spawn fork with a small -grain exited 1 with
// "Config.Grain".
func TestForkGrainIsUsageError(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("fork runs on linux/amd64 only")
	}
	_, stderr, code := pishm(t, "-spawn", "fork", "-n", "1e15", "-grain", "512")
	if code != 2 || !strings.Contains(stderr, "-grain 512") || !strings.Contains(stderr, "-n 1000000000000000") || strings.Contains(stderr, "Config.") {
		t.Errorf("exit %d, %q: want exit 2 naming -n and -grain", code, stderr)
	}
}
