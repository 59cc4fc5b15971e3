package engine_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadmeEmbedding does what README.md's Embedding section tells a
// newcomer to do, as written: the program pasted as main.go into a new
// module outside this one, the section's sh lines run with PISHM set to
// this clone, and what it prints checked against what the section says.
// Offline (GOPROXY=off, GOSUMDB=off): every module it needs is in the
// once this repository has built.
func TestReadmeEmbedding(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module of its own; skipped under -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "## Embedding")
	section, _, _ = strings.Cut(section, "\n## ")
	block := func(lang string) string {
		_, b, ok := strings.Cut(section, "```"+lang+"\n")
		b, _, ok2 := strings.Cut(b, "```")
		if !ok || !ok2 {
			t.Fatalf("README.md's Embedding section has no %s block", lang)
		}
		return b
	}
	program, script := block("go"), block("sh")
	if !strings.HasPrefix(program, "package main") {
		t.Fatal("the Embedding section's Go block is not a whole program")
	}
	clone, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(program), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PISHM="+clone, "PATH="+filepath.Dir(gobin)+":"+os.Getenv("PATH"),
		"GOPROXY=off", "GOSUMDB=off", "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("the section's commands: %v\n%s%s", err, out, stderr)
	}
	if got, want := string(out), "333328333350000\n285\n332833500\n"; got != want {
		t.Errorf("the README's program printed\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(section, "It prints 333328333350000, 285 and 332833500.") {
		t.Error("README.md no longer says what the program prints")
	}
}
