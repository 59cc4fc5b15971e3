package main

import (
	"math"
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
	if code == 2 && strings.Contains(stderr, "needs linux/amd64 and the assembly kernels") {
		t.Skip("no fork here (purego or noasm build)")
	}
	if code != 2 || !strings.Contains(stderr, "-grain 512") || !strings.Contains(stderr, "-n 1000000000000000") || strings.Contains(stderr, "Config.") {
		t.Errorf("exit %d, %q: want exit 2 naming -n and -grain", code, stderr)
	}
}

// A file of -0.0 has sum -0 and mean -0 (the mean printed 0 before: the
// exact quotient lost the zero's sign).
func TestStatsNegativeZero(t *testing.T) {
	out, stderr, code := pishm(t, "stats", "-workers", "2", writeF64(t, []float64{math.Copysign(0, -1), math.Copysign(0, -1)}))
	if code != 0 || !strings.Contains(out, "sum       -0 ") || !strings.Contains(out, "mean      -0\n") {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
}

// An error about a path with a newline in it is still one line.
func TestErrorIsOneLine(t *testing.T) {
	for _, args := range [][]string{{"-shm", "file", "-path", "/nonexistent/a\nb/c", "-n", "1e3"}, {"stats", "/nonexistent/a\nb"}} {
		_, stderr, code := pishm(t, args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, `a\nb`) {
			t.Errorf("%q: exit %d, %q: want exit 2 and one line", args, code, stderr)
		}
	}
}

// --version and -version print the version; a failed -json run prints no
// result fields (it printed "sum": 0 beside the error before).
func TestVersionFlagAndFailedJSON(t *testing.T) {
	for _, f := range []string{"--version", "-version"} {
		out, stderr, code := pishm(t, f)
		if code != 0 || !strings.Contains(out, "github.com/pishm/pishm") {
			t.Errorf("%s: exit %d, %q %q", f, code, out, stderr)
		}
	}
	out, _, code := pishm(t, "-n", "1e12", "-timeout", "1ms", "-json")
	if code != 1 || !strings.Contains(out, `"error"`) || strings.Contains(out, `"sum"`) || strings.Contains(out, `"pi"`) {
		t.Errorf("a failed -json run: exit %d\n%s", code, out)
	}
}
