// Package avocheck checks that a package's committed assembly is what its
// avo generator writes: the generator lives in the package's _asm folder,
// a module of its own, and is run on a copy laid out like the package, so
// that the command line in the "Code generated" header is the same.
package avocheck

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Check runs the generator in the package's _asm folder with args (paths
// relative to _asm, such as "-out", "../x_amd64.s") and fails t unless
// each of files (in the package's folder) comes out byte for byte as
// committed. It skips where the generator cannot run offline: under
// -short, without the go tool, or without avo in the module cache.
func Check(t *testing.T, files []string, args ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the generator; skipped under -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	tmp := t.TempDir()
	asmDir := filepath.Join(tmp, "_asm")
	if err := os.Mkdir(asmDir, 0o755); err != nil {
		t.Fatal(err)
	}
	srcs, _ := filepath.Glob(filepath.Join("_asm", "*.go"))
	for _, src := range append(srcs, "_asm/go.mod", "_asm/go.sum") {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(asmDir, filepath.Base(src)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod", "GOWORK=off")
	probe := exec.Command(goTool, "list", "-deps", ".")
	probe.Dir, probe.Env = asmDir, env
	if out, err := probe.CombinedOutput(); err != nil {
		t.Skipf("generator not runnable offline (avo not in module cache?): %v\n%s", err, out)
	}
	gen := exec.Command(goTool, append([]string{"run", "."}, args...)...)
	gen.Dir, gen.Env = asmDir, env
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generator failed: %v\n%s", err, out)
	}
	for _, f := range files {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(tmp, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what _asm generates; run go generate in this package", f)
		}
	}
}
