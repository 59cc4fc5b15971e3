package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

var update = flag.Bool("update", false, "rewrite testdata/cli.golden from this build's output")

// TestGoldenOutput holds the command's output as users and their scripts
// read it: the text lines with every number masked, and the -json keys in
// order (nested objects' keys too). A change to either is a change users
// see, and shows in this file's diff; run with -update to accept it.
func TestGoldenOutput(t *testing.T) {
	dir := t.TempDir()
	csv := filepath.Join(dir, "d.csv")
	if err := os.WriteFile(csv, []byte("id,price\n1,2.5\n2,x\n3,\n4,-1e3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runs := [][]string{
		{"-n", "1e6", "-workers", "2"},
		{"-n", "1e6", "-workers", "2", "-json"},
		{"-n", "1e6", "-workers", "2", "-mode", "pipe", "-extrapolate"},
		{"-n", "1e6", "-workers", "2", "-mode", "pipe", "-extrapolate", "-json"},
		{"-n", "1e6", "-workers", "2", "-mode", "cas", "-sched", "dynamic", "-json"},
		{"-n", "1e6", "-workers", "2", "-mode", "goroutines", "-json"},
		{"stats", "-workers", "2", "-col", "price", csv},
		{"stats", "-workers", "2", "-col", "price", "-json", csv},
	}
	var got bytes.Buffer
	for _, args := range runs {
		out, stderr, code := pishm(t, args...)
		if code != 0 {
			t.Fatalf("pishm %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		fmt.Fprintf(&got, "$ pishm %s\n", strings.ReplaceAll(strings.Join(args, " "), csv, "d.csv"))
		if strings.Contains(strings.Join(args, " "), "-json") {
			var v any
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("pishm %s: not JSON: %v", strings.Join(args, " "), err)
			}
			for _, k := range jsonKeys(out) {
				fmt.Fprintln(&got, k)
			}
			continue
		}
		got.WriteString(maskText(strings.ReplaceAll(out, csv, "d.csv")))
	}
	golden := filepath.Join("testdata", "cli.golden")
	if *update {
		if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if g := got.String(); g != string(want) {
		t.Errorf("the command's output changed (run go test -run TestGoldenOutput -update to accept it):\n--- got\n%s\n--- want\n%s", g, want)
	}
}

// jsonKeys lists an object's keys in the order the encoder wrote them,
// a nested one's as parent.key; an array's entries are one entry's keys
// ([] in the path), listed once.
func jsonKeys(doc string) []string {
	dec := json.NewDecoder(strings.NewReader(doc))
	var keys []string
	seen := map[string]bool{}
	var walk func(prefix string)
	walk = func(prefix string) {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch tok {
		case json.Delim('{'):
			for dec.More() {
				k, _ := dec.Token()
				p := prefix + k.(string)
				if !seen[p] {
					seen[p] = true
					keys = append(keys, p)
				}
				walk(p + ".")
			}
			dec.Token() // }
		case json.Delim('['):
			for dec.More() {
				walk(strings.TrimSuffix(prefix, ".") + "[].")
			}
			dec.Token() // ]
		}
	}
	walk("")
	return keys
}

var (
	// A number, with the unit of a duration or a rate after it.
	numberRE = regexp.MustCompile(`[-+]?[0-9][0-9.]*(e[-+]?[0-9]+)?(ns|µs|ms|s\b|%)?`)
	// What depends on this machine's CPU: the kernel auto picks, and
	// whether the workers could fork.
	machineRE = regexp.MustCompile(`(kernel|spawn) [a-z0-9]+|pi/[a-z0-9]+`)
)

// maskText is the command's text output with every number and each
// machine-dependent word as #: its lines and words, not its values.
func maskText(s string) string {
	return numberRE.ReplaceAllString(machineRE.ReplaceAllString(s, "$1 #"), "#")
}

// TestJSONFieldsDocumented: docs/running.md lists every top-level -json
// key the runs of TestGoldenOutput print, and names no key that pishm
// does not have.
func TestJSONFieldsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/running.md")
	if err != nil {
		t.Fatal(err)
	}
	_, para, _ := strings.Cut(string(doc), "`-json` prints the same as one object:")
	para, _, ok := strings.Cut(para, "when they apply.")
	if !ok {
		t.Fatal("docs/running.md no longer lists the -json fields")
	}
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		for _, k := range strings.Split(m[1], ",") {
			if k = strings.TrimSpace(k); !strings.HasPrefix(k, "-") {
				documented[k] = true
			}
		}
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "cli.golden"))
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]bool{}
	run := ""
	for _, line := range strings.Split(string(golden), "\n") {
		if strings.HasPrefix(line, "$ ") {
			run = line
			continue
		}
		if strings.Contains(run, "-json") && !strings.Contains(run, " stats ") && line != "" && !strings.ContainsAny(line, ".[ ") {
			printed[line] = true
		}
	}
	for k := range printed {
		if !documented[k] {
			t.Errorf("-json prints %q, which docs/running.md does not list", k)
		}
	}
	tags := map[string]bool{}
	for _, typ := range []reflect.Type{reflect.TypeFor[pi.Result](), reflect.TypeFor[lab.Result]()} {
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			tags[name] = true
		}
	}
	for k := range documented {
		if !tags[k] {
			t.Errorf("docs/running.md lists %q, which -json never prints", k)
		}
	}
}
