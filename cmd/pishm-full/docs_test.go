package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDocs runs the command blocks of README.md and docs/*.md, so that a
// claim that stops being true fails the suite:
//
//   - a fenced sh block is a script, run with bash -euo pipefail in a
//     scratch folder with this tree's pishm and pishm-worker first on
//     PATH, and it must succeed;
//   - a plain fenced block whose first line starts with "$ " is a
//     transcript: each command runs, and its output must read as shown
//     with the numbers and the CPU's words masked (maskText);
//   - a fenced go block that is not a whole program (README.md's is built
//     and run by engine's TestReadmeEmbedding) is a fragment: it must
//     compile as the body of a function, beside the declarations its
//     <!-- doctest: go DECLS --> comment gives for what it leaves out.
//
// An HTML comment on the line before a block changes that:
// <!-- doctest: skip REASON --> leaves it out (a reason is required: it
// needs remote hosts, takes minutes, or another test runs it);
// <!-- doctest: repo lines=N REASON --> runs its first N lines in the
// repository's root instead (the set-up commands). Indented blocks are
// synopses with placeholders, not commands, and are not run.
func TestDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the documentation's commands; skipped under -short")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	build := exec.Command(gobin, "build", "-o", bin+"/", "./cmd/pishm", "./cmd/pishm-full", "./cmd/pishm-worker")
	build.Dir, build.Env = root, append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md")}, files...)
	env := append(os.Environ(), "PATH="+bin+":"+filepath.Dir(gobin)+":"+os.Getenv("PATH"), "PISHM="+root)
	ran := 0
	for _, file := range files {
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for _, b := range docBlocks(string(text)) {
			name := rel + ":" + strconv.Itoa(b.line)
			switch {
			case b.skip != "":
				t.Logf("%s: not run: %s", name, b.skip)
				continue
			case b.lang == "go":
				if !strings.HasPrefix(b.body, "package main") {
					ran++
					compileFragment(t, gobin, root, name, b)
				}
				continue
			case b.directive != "" && !b.repo:
				t.Errorf("%s: the doctest comment %q says neither skip nor repo", name, b.directive)
				continue
			}
			dir := t.TempDir()
			if b.repo {
				dir = root
			}
			switch b.lang {
			case "sh":
				ran++
				script, ports := freePorts(t, b.body)
				cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
				cmd.Dir, cmd.Env = dir, env
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Errorf("%s: %v\n%s\n--- output\n%s", name, err, b.body, out)
				}
				// A recipe that failed half-way may leave its daemonized
				// redis-server behind: nothing of a test may outlive it.
				for _, port := range ports {
					// A server told to shut down may take a moment to go.
					deadline := time.Now().Add(30 * time.Second)
					for err == nil && redisOn(port) != 0 && time.Now().Before(deadline) {
						time.Sleep(20 * time.Millisecond) // polls the process table
					}
					if pid := redisOn(port); pid != 0 {
						syscall.Kill(pid, syscall.SIGKILL)
						if err == nil {
							t.Errorf("%s: its redis-server on port %s was left running", name, port)
						}
					}
				}
			case "":
				if !strings.HasPrefix(b.body, "$ ") {
					continue // not a transcript: a tree, a message, a table
				}
				for _, step := range transcript(b.body) {
					ran++
					cmd := exec.Command("bash", "-euo", "pipefail", "-c", step.cmd)
					cmd.Dir, cmd.Env = dir, env
					out, err := cmd.Output()
					if err != nil {
						t.Errorf("%s: $ %s: %v\n%s", name, step.cmd, err, out)
						continue
					}
					if got, want := maskText(string(out)), maskText(step.out); got != want {
						t.Errorf("%s: $ %s printed (masked)\n%s\nthe doc shows (masked)\n%s", name, step.cmd, got, want)
					}
				}
			}
		}
	}
	if ran == 0 {
		t.Error("no command block ran")
	}
}

// docBlock is one fenced block of a markdown file.
type docBlock struct {
	lang, body string
	line       int    // of the opening fence, from 1
	directive  string // the doctest comment before it, if any
	skip       string // the reason it is not run
	repo       bool   // run in the repository's root
}

var (
	directiveRE = regexp.MustCompile(`^<!-- doctest: (.*?) -->$`)
	linesRE     = regexp.MustCompile(`\blines=(\d+)`)
)

// docBlocks finds the fenced blocks of a markdown text, with the doctest
// comment on the line before each.
func docBlocks(text string) []docBlock {
	lines := strings.Split(text, "\n")
	var out []docBlock
	for i := 0; i < len(lines); i++ {
		lang, ok := strings.CutPrefix(lines[i], "```")
		if !ok {
			continue
		}
		b := docBlock{lang: lang, line: i + 1}
		if i > 0 {
			if m := directiveRE.FindStringSubmatch(lines[i-1]); m != nil {
				b.directive = m[1]
				if reason, ok := strings.CutPrefix(m[1], "skip "); ok {
					b.skip = reason
				}
				b.repo = strings.HasPrefix(m[1], "repo ")
			}
		}
		var body []string
		for i++; i < len(lines) && !strings.HasPrefix(lines[i], "```"); i++ {
			body = append(body, lines[i])
		}
		if m := linesRE.FindStringSubmatch(b.directive); b.repo && m != nil {
			n, _ := strconv.Atoi(m[1])
			body = body[:min(n, len(body))]
		}
		b.body = strings.Join(body, "\n") + "\n"
		out = append(out, b)
	}
	return out
}

// step is one command of a transcript and what the doc shows it print.
type step struct{ cmd, out string }

// transcript cuts a transcript block into its "$ command" lines and the
// output shown under each.
func transcript(body string) []step {
	var steps []step
	for _, line := range strings.SplitAfter(body, "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			steps = append(steps, step{cmd: strings.TrimSuffix(cmd, "\n")})
			continue
		}
		if len(steps) > 0 && line != "" {
			steps[len(steps)-1].out += line
		}
	}
	return steps
}

// fragmentImports are what the docs' Go fragments may use; each is used
// once in the wrapper, so that a fragment need not use them all.
var fragmentImports = map[string]string{
	"context": "context.Background", "math/big": "big.NewFloat",
	"github.com/pishm/pishm/engine": "engine.Reduce", "github.com/pishm/pishm/engine/partial": "partial.Sum",
	"github.com/pishm/pishm/engine/lab": "lab.WithMode", "github.com/pishm/pishm/queue": "queue.NewJob",
}

// compileFragment builds b, a Go fragment of a doc, as the body of a
// function in a main package inside this module (so that it imports this
// tree's packages), with the declarations of its doctest comment.
func compileFragment(t *testing.T, gobin, root, name string, b docBlock) {
	t.Helper()
	decls, ok := strings.CutPrefix(b.directive, "go ")
	if !ok {
		t.Errorf("%s: a Go fragment needs <!-- doctest: go DECLS --> for what it leaves out", name)
		return
	}
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	for path := range fragmentImports {
		fmt.Fprintf(&src, "\t%q\n", path)
	}
	src.WriteString(")\n\n")
	for _, use := range fragmentImports {
		fmt.Fprintf(&src, "var _ = %s\n", use)
	}
	fmt.Fprintf(&src, "\n%s\n\nfunc main() {\n%s}\n", decls, b.body)
	dir, err := os.MkdirTemp(filepath.Join(root, "cmd", "pishm-full", "testdata"), "docfragment-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gobin, "vet", "./"+filepath.Base(dir))
	cmd.Dir = filepath.Join(root, "cmd", "pishm-full", "testdata")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("%s: the Go fragment does not compile: %v\n%s\n--- as compiled\n%s", name, err, out, src.String())
	}
}

// docPortRE is a local redis-server port in a recipe (63xx).
var docPortRE = regexp.MustCompile(`\b63\d\d\b`)

// freePorts gives each local port a recipe names a free one of this
// machine's, so that a server already on it (or the suite run twice at
// once) cannot fail the recipe; it returns the script and the ports.
func freePorts(t *testing.T, script string) (string, []string) {
	t.Helper()
	free := map[string]string{}
	script = docPortRE.ReplaceAllStringFunc(script, func(port string) string {
		if p, ok := free[port]; ok {
			return p
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		free[port] = strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		return free[port]
	})
	var ports []string
	for _, p := range free {
		ports = append(ports, p)
	}
	return script, ports
}

// redisOn is the pid of a redis-server listening on port (its process
// title names it, "redis-server 127.0.0.1:PORT"), or 0.
func redisOn(port string) int {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.HasPrefix(string(b), "redis-server") || !strings.Contains(string(b), ":"+port) {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		return pid
	}
	return 0
}
