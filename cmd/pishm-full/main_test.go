package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
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

// segmentsOf counts the names in /dev/shm that this process or pids made
// (pishm-PID-...), whatever other programs keep there: a leak check looks
// only at what the test made.
func segmentsOf(t *testing.T, pids ...int) int {
	t.Helper()
	pids = append(pids, os.Getpid())
	m, _ := filepath.Glob(filepath.Join(shmem.Dir, shmem.NamePrefix+"*"))
	n := 0
	for _, p := range m {
		f := strings.SplitN(strings.TrimPrefix(filepath.Base(p), shmem.NamePrefix), "-", 2)
		if pid, err := strconv.Atoi(f[0]); err == nil && slices.Contains(pids, pid) {
			n++
		}
	}
	return n
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
	for _, k := range []string{"n", "workers", "mode", "kernel", "shm", "publish", "publishes", "pi", "pi_error", "sum",
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
	before := segmentsOf(t)
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
		{[]string{"-shm", "file"}, 2, "-shm file needs -path: the file to map"},
		{[]string{"-chunk", "1.5"}, 2, "-chunk: must be a whole number"},
		{[]string{"-publish", "0"}, 2, "-publish: must be in [1, 1e+15], got 0"},
		{[]string{"-retries", "-1"}, 2, "-retries must be in [0, 100], got -1"},
		{[]string{"gc", "now"}, 2, `gc takes no arguments`},
		{[]string{"-sched", "guided"}, 2, `-sched: unknown schedule "guided"`},
		{[]string{"-mode", "racy"}, 2, "add -allow-racy"},
		{[]string{"-pad", "12"}, 2, "-pad must be 0 or a power of two"},
		{[]string{"-mode", "pipe", "-sched", "dynamic"}, 2, "needs -sched static"},
		{[]string{"extra"}, 2, `unknown command "extra"`},
		{[]string{"-n", "100", "-shm", "file", "-path", existing}, 2, "-path " + existing + " already exists; -force replaces it"},
		{[]string{"-n", "100", "-shm", "file", "-path", filepath.Join(dir, "missing", "f")}, 2, "-path: stat " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{[]string{"-n", "100", "-shm", "file", "-path", filepath.Join(existing, "f")}, 2, "-path: lstat " + filepath.Join(existing, "f") + ": not a directory"},
		{[]string{"-n", "100", "-shm", "file", "-path", dir}, 2, "exists and is not a regular file"},
		{[]string{"-mode", "redis", "-redis", "bad url"}, 2, `-redis "bad url" has no scheme`},
		{[]string{"-redis", "http://u:secret@h:1/0"}, 2, `-redis "http://u:xxxxx@h:1/0": unknown scheme "http"`},
		{[]string{"-redis", "redis://h:x:y/0"}, 2, `-redis: not a URL: invalid port`},
		{[]string{"version", "-x"}, 2, `version takes no arguments`},
		{[]string{"help", "nope"}, 2, `help: unknown command "nope"`},
		{[]string{"help", "bench", "gc"}, 2, `help takes at most one command`},
	} {
		_, stderr, code := pishm(t, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("pishm %q: exit %d, stderr %q; want exit %d and %q", tc.args, code, stderr, tc.code, tc.want)
		}
		if strings.Contains(stderr, "goroutine ") {
			t.Errorf("pishm %q printed a panic trace", tc.args)
		}
		if strings.Contains(stderr, "secret") {
			t.Errorf("pishm %q printed a password: %s", tc.args, stderr)
		}
		if n := strings.Count(stderr, "\n"); n != 1 {
			t.Errorf("pishm %q printed %d lines, want 1:\n%s", tc.args, n, stderr)
		}
	}
	if segmentsOf(t) != before {
		t.Error("a bad command line left a segment in /dev/shm")
	}
}

func TestHelpAndInfo(t *testing.T) {
	usage, _, code := pishm(t, "-h")
	if code != 0 || !strings.Contains(usage, "usage: pishm") || !strings.Contains(usage, "-mode strategy") {
		t.Errorf("-h: exit %d\n%s", code, usage)
	}
	for _, want := range []string{"pishm version", "pishm help [command]", "2 bad input"} {
		if !strings.Contains(usage, want) {
			t.Errorf("-h lacks %q", want)
		}
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

// "pishm help" is -h, and "pishm help CMD" is "pishm CMD -h": the same
// bytes, exit 0, on stdout (so that pishm -h | less shows them; they went
// to stderr before), nothing on stderr.
func TestHelpCommand(t *testing.T) {
	for _, tc := range []struct{ help, flag []string }{
		{[]string{"help"}, []string{"-h"}},
		{[]string{"help", "gc"}, []string{"-help"}},
		{[]string{"help", "bench"}, []string{"bench", "-h"}},
		{[]string{"help", "coordinate"}, []string{"coordinate", "-h"}},
		{[]string{"help", "worker"}, []string{"worker", "--help"}},
	} {
		out, stderr, code := pishm(t, tc.help...)
		fout, fstderr, fcode := pishm(t, tc.flag...)
		if code != 0 || fcode != 0 || stderr != "" || fstderr != "" {
			t.Errorf("pishm %q: exit %d, stderr %q; pishm %q: exit %d, stderr %q", tc.help, code, stderr, tc.flag, fcode, fstderr)
		}
		if out != fout || !strings.HasPrefix(out, "usage: pishm") {
			t.Errorf("pishm %q printed\n%s\npishm %q printed\n%s", tc.help, out, tc.flag, fout)
		}
	}
}

// A command line the flag parser rejects gives one line and a pointer to
// -h, exit 2: not the usage, and not the error twice.
func TestFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-x"}, "pishm: flag provided but not defined: -x\nrun 'pishm -h' for usage\n"},
		{[]string{"-timeout", "abc"}, "pishm: invalid value \"abc\" for flag -timeout: parse error\nrun 'pishm -h' for usage\n"},
		{[]string{"-workers", "99999999999999999999"}, "pishm: invalid value \"99999999999999999999\" for flag -workers: value out of range\nrun 'pishm -h' for usage\n"},
		{[]string{"-json=maybe"}, "pishm: invalid boolean value \"maybe\" for -json: parse error\nrun 'pishm -h' for usage\n"},
		{[]string{"-n"}, "pishm: flag needs an argument: -n\nrun 'pishm -h' for usage\n"},
		{[]string{"bench", "-x"}, "pishm: flag provided but not defined: -x\nrun 'pishm bench -h' for usage\n"},
		{[]string{"coordinate", "-x"}, "pishm: flag provided but not defined: -x\nrun 'pishm coordinate -h' for usage\n"},
		{[]string{"worker", "-x"}, "pishm: flag provided but not defined: -x\nrun 'pishm worker -h' for usage\n"},
	} {
		out, stderr, code := pishm(t, tc.args...)
		if code != 2 || out != "" || stderr != tc.want {
			t.Errorf("pishm %q: exit %d, stdout %q, stderr\n%s\nwant exit 2 and stderr\n%s", tc.args, code, out, stderr, tc.want)
		}
	}
}

func TestKernelEnv(t *testing.T) {
	t.Setenv("PISHM_KERNEL", "bogus")
	_, stderr, code := pishm(t, "-n", "100", "-workers", "1")
	want := fmt.Sprintf("pishm: PISHM_KERNEL=\"bogus\": unknown kernel (want auto, %s)\n", kernelNames())
	if code != 2 || stderr != want {
		t.Errorf("exit %d, stderr %q; want 2, %q", code, stderr, want)
	}
	// -kernel, when given, wins over the variable, as in the engine.
	if _, stderr, code := pishm(t, "-n", "100", "-workers", "1", "-kernel", "generic"); code != 0 {
		t.Errorf("-kernel generic with PISHM_KERNEL=bogus: exit %d: %s", code, stderr)
	}
}

// The engine names the Config field in its validation errors; the command
// says them with the flag's name.
func TestEngineErrorsNameFlags(t *testing.T) {
	for _, tc := range []struct {
		cfg  pi.Config
		want string
	}{
		{pi.Config{Config: lab.Config{N: 0}}, "-n must be in [1, 1000000000000000], got 0"},
		{pi.Config{Config: lab.Config{N: 10, Workers: -1}}, "-workers must be in [1, 1024], got -1"},
		{pi.Config{Config: lab.Config{N: 10, Mode: "bogus"}}, `-mode: unknown mode "bogus"`},
		{pi.Config{Config: lab.Config{N: 10, Shm: shmem.File}}, "-shm file needs -path: the file to map"},
		{pi.Config{Config: lab.Config{N: 10, Path: "/tmp/x"}}, `-path "/tmp/x" is only for -shm file`},
		{pi.Config{Config: lab.Config{N: 10, Sched: "guided"}}, `-sched: unknown schedule "guided"`},
		{pi.Config{Config: lab.Config{N: 10, Mode: lab.Pipe, Sched: lab.Dynamic}}, "-mode pipe sends one message per worker range: it needs -sched static"},
		{pi.Config{Config: lab.Config{N: 10}, Kernel: "nosuch"}, `-kernel: unknown kernel "nosuch"`},
	} {
		_, err := pi.Run(context.Background(), tc.cfg)
		if err == nil {
			t.Fatalf("%+v: no error", tc.cfg)
		}
		err = asFlagError(err)
		var ue usageError
		if !errors.As(err, &ue) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%+v: %v (%T), want a usage error starting %q", tc.cfg, err, err, tc.want)
		}
	}
	// A field no flag sets keeps the engine's words.
	_, err := lab.Run(context.Background(), "pi", lab.Config{N: lab.MaxN, Offset: 1})
	if err == nil || asFlagError(err) != err || !strings.HasPrefix(err.Error(), "engine: Offset") {
		t.Errorf("Offset: %v", err)
	}
	t.Setenv("PISHM_KERNEL", "bogus")
	_, err = pi.Run(context.Background(), pi.Config{Config: lab.Config{N: 10}})
	if err == nil || !strings.HasPrefix(asFlagError(err).Error(), `PISHM_KERNEL="bogus": `) {
		t.Errorf("PISHM_KERNEL: %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, stderr, code := pishm(t, "version")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "pishm     ") ||
		!strings.HasPrefix(lines[1], "go        "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) ||
		!strings.HasPrefix(lines[2], "revision  ") || !strings.HasPrefix(lines[3], "build     CGO_ENABLED=") {
		t.Errorf("version:\n%s", out)
	}
}

// -json's publish is the most terms a static worker summed between two
// publishes; chunk is the dynamic schedule's terms per chunk.
func TestJSONPublishChunk(t *testing.T) {
	for _, tc := range []struct {
		args []string
		key  string
		want float64
	}{
		{nil, "publish", 333_335}, // one publish per share: ceil(1_000_003/3)
		{[]string{"-publish", "1000"}, "publish", 1000},
		{[]string{"-publish", "5e5"}, "publish", 333_335},
		{[]string{"-sched", "dynamic", "-chunk", "5e5"}, "chunk", 500_000},
		{[]string{"-mode", "pipe", "-publish", "1000"}, "publish", 333_335}, // one message per share
		// The default grid (8192 terms a piece here): whole pieces.
		{[]string{"-grain", "0", "-publish", "1000"}, "publish", 8192},
		{[]string{"-grain", "0"}, "publish", 41 * 8192},
		{[]string{"-grain", "0", "-sched", "dynamic", "-chunk", "5e5"}, "chunk", 62 * 8192},
	} {
		args := append([]string{"-n", "1_000_003", "-workers", "3", "-json", "-grain", "1"}, tc.args...)
		out, stderr, code := pishm(t, args...)
		if code != 0 {
			t.Fatalf("pishm %q: exit %d: %s", args, code, stderr)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatal(err)
		}
		if m[tc.key] != tc.want {
			t.Errorf("pishm %q: %s %v, want %v", args, tc.key, m[tc.key], tc.want)
		}
	}
	// Each flag belongs to its schedule.
	for _, args := range [][]string{{"-chunk", "10"}, {"-sched", "dynamic", "-publish", "10"}} {
		if _, stderr, code := pishm(t, append([]string{"-n", "1000"}, args...)...); code != 2 || !strings.Contains(stderr, "schedule") {
			t.Errorf("pishm %q: exit %d, %s; want a usage error naming the schedule", args, code, stderr)
		}
	}
}

// The example in the package doc and README's sample output are what
// printResult prints for that run.
func TestDocExample(t *testing.T) {
	n := uint64(1e9)
	sum := pi.ExactSum(n)
	p := math.Sqrt(8 * sum)
	elapsed := 45992 * time.Microsecond
	var b strings.Builder
	cli.PrintResult(&b, pi.Result{Result: lab.Result{Func: "pi/avx512", N: n, Workers: 2, Mode: lab.Slots, Shm: "posix",
		Sched: "static", Spawn: "fork", Sum: sum, SumExact: sum,
		Wall: 50862 * time.Microsecond, Elapsed: elapsed, TermsPerSec: float64(n) / elapsed.Seconds()},
		Kernel: "avx512", Pi: p, PiError: p - math.Pi})
	const cmd = "$ pishm -n 1e9 -mode=slots -workers 2"

	src, err := os.ReadFile("../pishm/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	_, ex, ok := strings.Cut(string(src), "// # Example\n//\n//\t"+cmd+"\n")
	if !ok {
		t.Fatalf("pishm's doc.go has no example of %q", cmd)
	}
	var doc strings.Builder
	for _, line := range strings.SplitAfter(ex, "\n") {
		text, ok := strings.CutPrefix(line, "//\t")
		if !ok {
			break
		}
		doc.WriteString(text)
	}
	if doc.String() != b.String() {
		t.Errorf("the package doc's example is\n%s\nprintResult prints\n%s", doc.String(), b.String())
	}

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sample, ok := strings.Cut(string(readme), "```\n"+cmd+"\n")
	sample, _, ok2 := strings.Cut(sample, "```")
	if !ok || !ok2 || sample != b.String() {
		t.Errorf("README's sample output (after %q) is\n%s\nprintResult prints\n%s", cmd, sample, b.String())
	}
}

// A failed run with -json still prints one object, with the error, and
// exits non-zero.
func TestJSONOnFailure(t *testing.T) {
	out, stderr, code := pishm(t, "-n", "1e12", "-workers", "1", "-timeout", "1ms", "-json")
	if code == 0 {
		t.Fatalf("a run timed out after 1ms exited 0; stderr %s", stderr)
	}
	var got struct {
		N     uint64 `json:"n"`
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.N != 1e12 || !strings.Contains(got.Error, "timed out") {
		t.Fatalf("stdout %q (%v), want an object with n and the error", out, err)
	}
}
