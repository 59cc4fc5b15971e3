package kernel

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGenerated checks that the avo generator in _asm reproduces the
// committed kernel_amd64.s and stubs_amd64.go byte for byte (as
// _asm/check.sh does). It runs only where the generator can: with the go
// tool on PATH and avo in the module cache (GOPROXY=off, no downloads).
func TestGenerated(t *testing.T) {
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
	gen := exec.Command(goTool, "run", ".", "-out", "../kernel_amd64.s", "-stubs", "../stubs_amd64.go", "-pkg", "kernel")
	gen.Dir, gen.Env = asmDir, env
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("generator failed: %v\n%s", err, out)
	}
	for _, f := range []string{"kernel_amd64.s", "stubs_amd64.go"} {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(tmp, f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what _asm generates; run go generate ./engine/internal/kernel/", f)
		}
	}
}
