package engine

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every worker process initialises every package linked into its binary,
// so engine must not link the heavy ones: the transports that need them
// register from transport/netsock and transport/redis, which programs
// import. The pishm command must not link testing.

// goList returns the packages that pkg depends on, itself included.
func goList(t *testing.T, pkg string) []string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot list dependencies")
	}
	out, err := exec.Command(gobin, "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderrOf(err))
	}
	return strings.Fields(string(out))
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

func TestEngineDeps(t *testing.T) {
	deps := goList(t, "github.com/pishm/pishm/engine")
	for _, bad := range []string{"net", "crypto/tls", "testing"} {
		if slices.Contains(deps, bad) {
			t.Errorf("engine depends on %s", bad)
		}
	}
	for _, bad := range []string{"github.com/redis/go-redis/", "github.com/vbauerster/mpb/"} {
		for _, d := range deps {
			if strings.HasPrefix(d+"/", bad) {
				t.Errorf("engine depends on %s", d)
			}
		}
	}
	t.Logf("engine links %d packages", len(deps))
}

func TestCommandDoesNotLinkTesting(t *testing.T) {
	for _, cmd := range []string{"pishm", "pishm-full"} {
		if slices.Contains(goList(t, "github.com/pishm/pishm/cmd/"+cmd), "testing") {
			t.Errorf("the %s binary links testing", cmd)
		}
	}
}

// The plain run's binary links neither the network, Redis, nor the file
// formats and statistics of pishm stats: each would cost every run its
// packages' initialization (on a 2-core Xeon VM, 1.45x the Go floor at
// n=1e6 with them, 0.94x without). pishm-full has them. The lean worker
// binary, which an exec'd worker of the plain run is, links stats' passes
// (a stats run's workers are pishm-worker too) but not the decompressors,
// which only the parent of a stats run uses.
func TestPlainRunIsLean(t *testing.T) {
	worker := goList(t, "github.com/pishm/pishm/cmd/pishm-worker")
	for _, heavy := range []string{"net", "crypto/tls", "github.com/redis/go-redis/v9", "github.com/klauspost/compress/zstd", "compress/gzip"} {
		if slices.Contains(worker, heavy) {
			t.Errorf("cmd/pishm-worker links %s", heavy)
		}
	}
	deps := goList(t, "github.com/pishm/pishm/cmd/pishm")
	for _, heavy := range []string{"net", "crypto/tls", "github.com/redis/go-redis/v9", "github.com/klauspost/compress/zstd",
		"github.com/pishm/pishm/cmd/internal/filestats", "github.com/pishm/pishm/queue", "github.com/pishm/pishm/cmd/internal/report"} {
		if slices.Contains(deps, heavy) {
			t.Errorf("cmd/pishm links %s", heavy)
		}
	}
	full := goList(t, "github.com/pishm/pishm/cmd/pishm-full")
	for _, want := range []string{"github.com/redis/go-redis/v9", "github.com/pishm/pishm/cmd/internal/filestats"} {
		if !slices.Contains(full, want) {
			t.Errorf("cmd/pishm-full does not link %s", want)
		}
	}
}

// A program that links engine alone runs its workers, and a transport mode
// it did not link in fails at once with an error naming the import.
func TestLeanProgram(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH: cannot build testdata/lean")
	}
	bin := filepath.Join(t.TempDir(), "lean")
	if out, err := exec.Command(gobin, "build", "-o", bin, "./testdata/lean").CombinedOutput(); err != nil {
		t.Fatalf("go build ./testdata/lean: %v\n%s", err, out)
	}
	run := func(mode string) (string, error) {
		cmd := exec.Command(bin, mode)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, mode := range []strategy{modeSlots, Pipe, File} {
		if out, err := run(string(mode)); err != nil {
			t.Errorf("lean %s: %v\n%s", mode, err, out)
		}
	}
	for mode, pkg := range map[strategy]string{
		Unix:  "github.com/pishm/pishm/transport/netsock",
		TCP:   "github.com/pishm/pishm/transport/netsock",
		Redis: "github.com/pishm/pishm/transport/redis",
	} {
		out, err := run(string(mode))
		want := "engine: Mode " + string(mode) + ` needs its transport linked in: import _ "` + pkg + `"`
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("lean %s: %v, %q; want the error %q", mode, err, out, want)
		}
	}
}
