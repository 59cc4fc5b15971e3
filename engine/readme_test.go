package engine_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeEmbedding builds and runs the program in README.md's
// Embedding section, as written, and checks what it prints.
func TestReadmeEmbedding(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if _, after, ok := strings.Cut(section, "## Embedding"); ok {
		section = after
	}
	_, code, ok := strings.Cut(section, "```go\n")
	code, _, ok2 := strings.Cut(code, "```")
	if !ok || !ok2 || !strings.HasPrefix(code, "package main") {
		t.Fatal("README.md's Embedding section has no complete Go program")
	}
	// A folder inside the module, so that the program imports this tree's
	// engine; testdata keeps it out of ./... .
	dir, err := os.MkdirTemp("testdata", "readme-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "readme")
	if out, err := exec.Command(gobin, "build", "-o", bin, "./"+dir).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if got, want := string(out), "333328333350000\n285\n332833500\n"; got != want {
		t.Errorf("the README's program printed\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(string(readme), "It prints 333328333350000, 285 and 332833500.") {
		t.Error("README.md no longer says what the program prints")
	}
}
