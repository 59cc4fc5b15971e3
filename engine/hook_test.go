package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestForgottenHook builds a program of another module that calls Reduce
// without the child hook at the top of main. Its workers reach Reduce
// instead of ChildMain: they must fail at once, naming the fix, and the
// program must end with an error, not fork a tree of processes.
func TestForgottenHook(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program")
	}
	checkClean(t)
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH to build the outside program")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"go.mod": "module forgetful\n\ngo 1.26\n\nrequire github.com/pishm/pishm v0.0.0\n\nreplace github.com/pishm/pishm => " + root + "\n",
		"go.sum": string(sum),
		"main.go": `package main

import (
	"context"
	"fmt"
	"os"

	"github.com/pishm/pishm/engine"
)

func init() {
	engine.Register("ones", func(_ []byte, lo, hi uint64) float64 { return float64(hi - lo) }, []partial.Op{partial.Sum})
}

func main() {
	r, err := engine.Reduce(context.Background(), "ones", 1000, engine.WithWorkers(2))
	if err != nil && os.Getenv("FORGETFUL_PRINTLN") != "" {
		fmt.Println("forgetful:", err) // to stdout, and exit 0: the worker says nothing the parent sees
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "forgetful:", err)
		os.Exit(1)
	}
	fmt.Println(r.Value)
}
`,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	build := exec.Command(goBin, "build", "-mod=mod", "-o", "forgetful", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	if out, err := build.CombinedOutput(); err != nil {
		t.Skipf("cannot build the outside program here: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "forgetful")).CombinedOutput()
	if err == nil {
		t.Fatalf("the program succeeded: %s", out)
	}
	if !strings.Contains(string(out), "ChildMain") {
		t.Fatalf("the error does not name ChildMain:\n%s", out)
	}
	// A program that prints its errors to stdout and exits 0: its workers
	// end silently before attaching, and the parent's error names the fix.
	cmd := exec.Command(filepath.Join(dir, "forgetful"))
	cmd.Env = append(os.Environ(), "FORGETFUL_PRINTLN=1")
	out, _ = cmd.CombinedOutput()
	if !strings.Contains(string(out), "engine.IsChild()") || !strings.Contains(string(out), "before attaching") ||
		strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
		t.Fatalf("a worker that exits 0 before attaching: the error does not give the hint on one line:\n%s", out)
	}
}
