//go:build linux

package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParsePrograms(t *testing.T) {
	progs, err := parsePrograms([]string{"a", "prog", "x", "--", "b", "other", "--", "c", "third", "-n", "1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []program{{name: "a", argv: []string{"prog", "x"}}, {name: "b", argv: []string{"other"}},
		{name: "c", argv: []string{"third", "-n", "1"}}}
	if len(progs) != len(want) {
		t.Fatalf("got %d programs, want %d", len(progs), len(want))
	}
	for i := range want {
		if progs[i].name != want[i].name || !slices.Equal(progs[i].argv, want[i].argv) {
			t.Errorf("program %d: got %q %q, want %q %q", i, progs[i].name, progs[i].argv, want[i].name, want[i].argv)
		}
	}
	for _, bad := range [][]string{nil, {"name-only"}, {"a", "prog", "--", "b"}, {"a", "prog", "--", "--", "b", "x"}} {
		if _, err := parsePrograms(bad); err == nil {
			t.Errorf("parsePrograms(%q) accepted it", bad)
		}
	}
}

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		v    []float64
		want float64
	}{{[]float64{3}, 3}, {[]float64{5, 1, 3}, 3}, {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(c.v); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.v, got, c.want)
		}
	}
}

// TestOnce runs a real child: its output comes back, a failure is an
// error naming the command and carrying its output, and the faults are
// counted (every process touches some pages).
func TestOnce(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	wall, faults, out, err := once([]string{sh, "-c", "echo hello"})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "hello\n" || wall <= 0 || faults <= 0 {
		t.Errorf("got output %q, wall %v, faults %v", out, wall, faults)
	}
	_, _, _, err = once([]string{sh, "-c", "echo broken >&2; exit 3"})
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || !strings.Contains(err.Error(), "broken") {
		t.Errorf("a failing command gave %v", err)
	}
}

// TestRun checks the whole table: one row per program, a ratio column per
// anchor, and the anchor's ratio to itself 1.00x.
func TestRun(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	var b strings.Builder
	err = run(&b, []string{"-runs", "3", "-anchors", "1", "--", "first", sh, "-c", "true", "--", "second", sh, "-c", "echo two"})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"median of 3 rounds", "| program | wall | minor faults | vs first |", "| first |", "| second |", "second: two"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, " 1.00x |") {
		t.Errorf("the anchor's ratio to itself is not 1.00x:\n%s", out)
	}
}
