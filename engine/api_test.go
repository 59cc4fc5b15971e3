package engine

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// maxExports bounds what package engine shows an embedder: its exported
// consts, vars, funcs, types and the methods of its exported types. The
// benchmark lab's knobs (the strategies, the transports, per-worker
// detail) live in engine/lab, the exact state and its ops in
// engine/partial, so that what is left here is the API a user reads. The
// bound only goes down.
const maxExports = 45

// exportedNames lists package engine's exported identifiers, declared in
// its non-test files (each name once, whatever the build constraints).
func exportedNames(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					seen[d.Name.Name] = true
					continue
				}
				recv := d.Recv.List[0].Type
				if s, ok := recv.(*ast.StarExpr); ok {
					recv = s.X
				}
				if id, ok := recv.(*ast.Ident); ok && id.IsExported() {
					seen[id.Name+"."+d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						if s.Name.IsExported() {
							seen[s.Name.Name] = true
						}
					case *ast.ValueSpec:
						for _, n := range s.Names {
							if n.IsExported() {
								seen[n.Name] = true
							}
						}
					}
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestExportCount(t *testing.T) {
	names := exportedNames(t)
	if len(names) > maxExports {
		t.Fatalf("package engine exports %d identifiers, more than %d: %s", len(names), maxExports, strings.Join(names, " "))
	}
	t.Logf("%d exported identifiers (bound %d): %s", len(names), maxExports, strings.Join(names, " "))
}
