package layers

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/pishm/pishm/"

// ranks are the layers from the bottom up; a package is in the layer of
// the longest prefix that names it. A package may import its own layer
// and the layers below, never one above.
var ranks = []struct {
	prefix string
	rank   int
}{
	{"internal/", 0},
	{"sem", 1},
	{"shmem", 2},
	{"transport", 3},
	{"engine/internal/", 4},
	{"engine", 5},
	{"engine/lab", 6},
	{"engine/catalog", 6},
	{"shared", 6},
	{"engine/pi", 7},
	{"queue", 8},
	{"cmd/internal/", 9},
	{"cmd/", 10},
	{"examples/", 11},
	{"bench", 11},
}

func rankOf(pkg string) (int, bool) {
	rel, ok := strings.CutPrefix(pkg, module)
	if !ok {
		return 0, false
	}
	best, rank := -1, 0
	for _, r := range ranks {
		if (rel == strings.TrimSuffix(r.prefix, "/") || strings.HasPrefix(rel, strings.TrimSuffix(r.prefix, "/")+"/")) && len(r.prefix) > best {
			best, rank = len(r.prefix), r.rank
		}
	}
	return rank, best >= 0
}

// TestLayers: every package's own imports (not its tests') stay in its
// layer or below.
func TestLayers(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(gobin, "list", "-json=ImportPath,Imports", module+"...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		n++
		r, ok := rankOf(p.ImportPath)
		if !ok {
			t.Errorf("%s is in no layer: add it to ranks and to docs/layout.md", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			if ri, ok := rankOf(imp); ok && ri > r {
				t.Errorf("%s (layer %d) imports %s (layer %d, above it)", p.ImportPath, r, imp, ri)
			}
		}
	}
	if n < 30 {
		t.Errorf("go list gave %d packages: the test looked at too few", n)
	}
}

// TestFileSize: no source file but a test or a generated one runs past
// maxLines, so that each file holds one thing a reader can take in.
func TestFileSize(t *testing.T) {
	const maxLines = 400
	out, err := exec.Command("git", "-C", "../..", "ls-files", "*.go").Output()
	if err != nil {
		t.Skip("not a git checkout")
	}
	for _, f := range strings.Fields(string(out)) {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b[:min(len(b), 512)]), "Code generated") {
			continue
		}
		if n := strings.Count(string(b), "\n"); n > maxLines {
			t.Errorf("%s has %d lines, more than %d: split it by job", f, n, maxLines)
		}
	}
}
