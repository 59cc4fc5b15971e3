package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/shmem"
)

// TestMain makes the test binary a pishm worker when the engine re-executes
// it, and pishm itself when a test starts it with PISHM_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if os.Getenv("PISHM_TEST_MAIN") == "1" {
		main()
	}
	// Race-built children otherwise sleep 1 s at exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// pishm runs the command in process and returns stdout, stderr and the
// exit status main would use.
func pishm(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := context.Background()
	err := run(ctx, &out, &errb, args)
	code := exitCode(ctx, &errb, err)
	return out.String(), errb.String(), code
}

func segments(t *testing.T) int {
	m, _ := filepath.Glob(filepath.Join(shmem.Dir, shmem.NamePrefix+"*"))
	return len(m)
}

func TestJSON(t *testing.T) {
	out, stderr, code := pishm(t, "-n", "1_000_003", "-workers", "3", "-mode", "cas", "-json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"n", "workers", "mode", "kernel", "shm", "chunk", "pi", "pi_error", "sum",
		"sum_exact", "sum_rel_error", "elapsed_ns", "terms_per_sec", "workers_detail"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q", k)
		}
	}
	if m["n"].(float64) != 1000003 || m["mode"] != "cas" || m["workers"].(float64) != 3 {
		t.Errorf("wrong config echoed: %v %v %v", m["n"], m["mode"], m["workers"])
	}
	if rel := math.Abs(m["sum_rel_error"].(float64)); rel > 1e-15 {
		t.Errorf("sum_rel_error %g", rel)
	}
	detail := m["workers_detail"].([]any)
	if len(detail) != 3 {
		t.Fatalf("workers_detail has %d entries", len(detail))
	}
	for _, k := range []string{"index", "lo", "hi", "elapsed_ns", "partial"} {
		if _, ok := detail[2].(map[string]any)[k]; !ok {
			t.Errorf("workers_detail entry lacks %q", k)
		}
	}
}

func TestText(t *testing.T) {
	out, stderr, code := pishm(t, "-n", "2.5e6", "-workers", "2", "-mode=mutex")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"pi        3.14159", "S_n", "2500000 terms, 2 workers, mode mutex", "terms/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	before := segments(t)
	dir := t.TempDir()
	existing := filepath.Join(dir, "f")
	os.WriteFile(existing, nil, 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"-n", "0"}, 2, "-n: must be in [1, 1e+15]"},
		{[]string{"-n", "-5"}, 2, "-n: "},
		{[]string{"-n", "abc"}, 2, `-n: not a number: "abc"`},
		{[]string{"-n", "1.5"}, 2, "-n: must be a whole number"},
		{[]string{"-n", "1e30"}, 2, "-n: must be in"},
		{[]string{"-n", "1e16"}, 2, "-n: must be in"},
		{[]string{"-workers", "0"}, 2, "-workers must be in [1, 1024], got 0"},
		{[]string{"-workers", "-3"}, 2, "-workers must be in"},
		{[]string{"-workers", "100000"}, 2, "-workers must be in"},
		{[]string{"-mode", "nope"}, 2, `-mode: unknown mode "nope"`},
		{[]string{"-kernel", "sse9"}, 2, `-kernel: unknown kernel "sse9"`},
		{[]string{"-shm", "tmpfs"}, 2, `-shm: unknown backing "tmpfs"`},
		{[]string{"-shm", "file"}, 2, "-shm=file needs -path"},
		{[]string{"-chunk", "1.5"}, 2, "-chunk: must be a whole number"},
		{[]string{"-chunk", "0"}, 2, "-chunk: must be in [1, 1e+15], got 0"},
		{[]string{"-retries", "-1"}, 2, "-retries must be in [0, 100], got -1"},
		{[]string{"gc", "now"}, 2, `gc takes no arguments`},
		{[]string{"-sched", "guided"}, 2, `-sched: unknown schedule "guided"`},
		{[]string{"-mode", "racy"}, 2, "add -allow-racy"},
		{[]string{"-pad", "12"}, 2, "-pad must be 0 or a power of two"},
		{[]string{"-mode", "pipe", "-sched", "dynamic"}, 2, "needs -sched=static"},
		{[]string{"-bogus"}, 2, "flag provided but not defined: -bogus"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-n", "100", "-shm", "file", "-path", existing}, 1, "already exists"},
		{[]string{"-n", "100", "-shm", "file", "-path", filepath.Join(dir, "missing", "f")}, 1, "no such file or directory"},
	} {
		_, stderr, code := pishm(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("pishm %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if strings.Contains(stderr, "goroutine ") {
			t.Errorf("pishm %q printed a panic trace", tc.args)
		}
	}
	if segments(t) != before {
		t.Error("a bad command line left a segment in /dev/shm")
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]uint64{
		"1000000": 1e6, "1e9": 1e9, "1_000_000_000": 1e9, "2.5e8": 2.5e8, "1e15": 1e15, "7": 7,
	} {
		if got, err := parseCount(in, engine.MaxN); err != nil || got != want {
			t.Errorf("parseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestHelpAndInfo(t *testing.T) {
	_, stderr, code := pishm(t, "-h")
	if code != 0 || !strings.Contains(stderr, "usage: pishm") || !strings.Contains(stderr, "-mode strategy") {
		t.Errorf("-h: exit %d\n%s", code, stderr)
	}
	out, _, code := pishm(t, "info")
	if code != 0 || !strings.Contains(out, "generic") || !strings.Contains(out, "cache line") || !strings.Contains(out, "/dev/shm") || !strings.Contains(out, "auto picks") {
		t.Errorf("info: exit %d\n%s", code, out)
	}
}

func TestExtrapolate(t *testing.T) {
	out, stderr, code := pishm(t, "-n", "1e6", "-workers", "2", "-extrapolate", "-sched", "dynamic")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "pi+tail   3.14159265358979") || !strings.Contains(out, "sched dynamic") {
		t.Errorf("output:\n%s", out)
	}
}

// The bars draw from progress snapshots once a run passes a second, and
// close cleanly.
func TestProgressView(t *testing.T) {
	var buf bytes.Buffer
	v := newProgressView(&buf)
	v.update(engine.Progress{N: 100, Worker: []uint64{10, 0}, Share: []uint64{50, 50}, Done: 10, Elapsed: progressDelay / 2})
	if v.p != nil {
		t.Fatal("bars drawn before the delay")
	}
	v.update(engine.Progress{N: 100, Worker: []uint64{30, 20}, Share: []uint64{50, 50}, Done: 50, Elapsed: 2 * progressDelay})
	v.update(engine.Progress{N: 100, Worker: []uint64{50, 50}, Share: []uint64{50, 50}, Done: 100, Elapsed: 3 * progressDelay, Final: true})
	v.close()
	for _, want := range []string{"worker 0", "worker 1", "total", "100 %", "terms/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("bars lack %q:\n%s", want, buf.String())
		}
	}
}
