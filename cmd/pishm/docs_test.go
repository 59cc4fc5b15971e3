package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDocs runs the command blocks of README.md and docs/*.md, so that a
// claim that stops being true fails the suite:
//
//   - a fenced sh block is a script, run with bash -euo pipefail in a
//     scratch folder with this tree's pishm and pishm-worker first on
//     PATH, and it must succeed;
//   - a plain fenced block whose first line starts with "$ " is a
//     transcript: each command runs, and its output must read as shown
//     with the numbers and the CPU's words masked (maskText).
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
	build := exec.Command(gobin, "build", "-o", bin+"/", "./cmd/pishm", "./cmd/pishm-worker")
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
				cmd := exec.Command("bash", "-euo", "pipefail", "-c", b.body)
				cmd.Dir, cmd.Env = dir, env
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("%s: %v\n%s\n--- output\n%s", name, err, b.body, out)
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
