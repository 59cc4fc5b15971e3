package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/internal/redistest"
	"github.com/pishm/pishm/internal/syncbuf"
	"github.com/redis/go-redis/v9"
)

// envMain makes this test binary the example program: the workers and the
// submitter of the test are real processes of the same build.
const envMain = "QUEUE_EXAMPLE_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(envMain) != "" {
		main() // exits on an error
		os.Exit(0)
	}
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	os.Exit(m.Run())
}

// proc is one process of the example program.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr syncbuf.Buffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, args ...string) *proc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startExe(t, exe, args...)
}

// startExe starts exe, this test binary (as the example) or a build of
// the example.
func startExe(t *testing.T, exe string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(exe, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), envMain+"=1")
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait waits for the process's exit (the test's own timeout bounds it).
func (p *proc) wait() error { <-p.done; return p.err }

// waitFor polls cond, which looks at real state, until it holds.
func waitFor(t *testing.T, what string, cond func() bool, give ...*proc) {
	t.Helper()
	for !cond() {
		for _, p := range give {
			select {
			case <-p.done:
				t.Fatalf("waiting for %s: %v exited: %v\n%s", what, p.cmd.Args, p.err, p.stderr.String())
			default:
			}
		}
		time.Sleep(10 * time.Millisecond) // polls a condition
	}
}

func decode(t *testing.T, s string) output {
	t.Helper()
	var o output
	if err := json.Unmarshal([]byte(s), &o); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, s)
	}
	return o
}

// TestSubmitMatchesLocal: three workers serve a submitted job on a
// redis-server that persists; one is SIGKILLed while it holds a chunk, and
// the server is restarted mid-job. The submitter prints the sum of -local
// bit for bit, the killed worker's chunk is done by another, the other
// workers stop cleanly, and no key is left but the job's end marker.
func TestSubmitMatchesLocal(t *testing.T) {
	srv := redistest.Server(t, "--appendonly", "yes", "--appendfsync", "always")
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()

	const chunks = 40
	job := []string{"-n", "4e8", "-chunks", strconv.Itoa(chunks), "-json"}
	var out, errb bytes.Buffer
	if err := run(&out, &errb, append(job, "-local")); err != nil {
		t.Fatalf("-local: %v\n%s", err, errb.String())
	}
	local := decode(t, out.String())

	var workers []*proc
	for i := 1; i <= 3; i++ {
		workers = append(workers, start(t, "-redis", srv.URL, "-work", "-id", "w"+strconv.Itoa(i)))
	}
	submit := start(t, append([]string{"-redis", srv.URL}, job...)...)

	id := jobID(t, c, submit)
	key := func(name string) string { return "pishm:queue:{" + id + "}:" + name }
	// SIGKILL w1 while it holds a chunk.
	waitFor(t, "w1 to hold a chunk", func() bool {
		leases, _ := c.HVals(ctx, key("lease")).Result()
		for _, l := range leases {
			if strings.HasSuffix(l, " w1") {
				return true
			}
		}
		return false
	}, submit)
	workers[0].cmd.Process.Signal(syscall.SIGKILL)
	if err := workers[0].wait(); err == nil {
		t.Fatal("the SIGKILLed worker exited 0")
	}
	// Restart redis-server once a third of the chunks have results; it
	// keeps them (appendonly), and everyone rides out the outage.
	waitFor(t, "a third of the results", func() bool {
		n, _ := c.LLen(ctx, key("results")).Result()
		return n >= chunks/3
	}, submit)
	if n, _ := c.LLen(ctx, key("results")).Result(); n >= chunks {
		t.Fatalf("the job was over (%d results) before the restart", n)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}

	if err := submit.wait(); err != nil {
		t.Fatalf("submit: %v\n%s", err, submit.stderr.String())
	}
	got := decode(t, submit.stdout.String())
	if got.SumBits != local.SumBits || got.Sum != local.Sum || got.N != local.N || got.Chunks != chunks {
		t.Errorf("submitted %+v\nlocal %+v", got, local)
	}
	var byWorker int
	for w, n := range got.ByWorker {
		if w != "w1" && w != "w2" && w != "w3" {
			t.Errorf("chunks by %q", w)
		}
		byWorker += n
	}
	if byWorker != chunks {
		t.Errorf("by worker %v: %d chunks, want %d", got.ByWorker, byWorker, chunks)
	}
	if !strings.Contains(submit.stderr.String(), "of 40 chunks done") {
		t.Errorf("the submitter's stderr has no progress line:\n%s", submit.stderr.String())
	}
	for _, w := range workers[1:] {
		w.cmd.Process.Signal(syscall.SIGTERM)
		if err := w.wait(); err != nil {
			t.Errorf("%v: %v\n%s", w.cmd.Args, err, w.stderr.String())
		}
	}
	keys, _ := c.Keys(ctx, "*").Result()
	for _, k := range keys {
		if ttl, _ := c.PTTL(ctx, k).Result(); k != key("end") || ttl <= 0 {
			t.Errorf("key left: %s (TTL %v)", k, ttl)
		}
	}
	// The end marker says "done" and keeps the outcome, for a late
	// submitter of the same job to report.
	if v, _ := c.Get(ctx, key("end")).Result(); !strings.HasPrefix(v, "done\n{") || !strings.Contains(v, got.SumBits) {
		t.Errorf("end marker %q", v)
	}
}

// TestUsage: bad flags exit 2 with one line.
func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-n", "0"}, {"-p", "0"}, {"-work", "-local"}, {"-chunks", "0"}, {"stray"}} {
		var out, errb bytes.Buffer
		err := run(&out, &errb, args)
		if !errors.As(err, new(usageError)) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: %v", args, err)
		}
	}
	var out, errb bytes.Buffer
	if err := run(&out, &errb, []string{"-n", "1000", "-redis", "redis://127.0.0.1:1/0"}); err == nil || errors.As(err, new(usageError)) {
		t.Errorf("unreachable redis: %v", err)
	}
}

// TestSubmitInterrupted: a submitter stopped by SIGINT while its chunks
// wait ends its job: it exits 1 saying so, and leaves only the end marker.
func TestSubmitInterrupted(t *testing.T) {
	srv := redistest.Server(t)
	ctx := context.Background()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	submit := start(t, "-redis", srv.URL, "-n", "1e9")
	waitFor(t, "the job", func() bool { return c.Exists(ctx, "pishm:queue:jobs").Val() == 1 }, submit)
	submit.cmd.Process.Signal(syscall.SIGINT)
	if err := submit.wait(); err == nil || !strings.Contains(submit.stderr.String(), "cancelled") && !strings.Contains(submit.stderr.String(), "interrupt") {
		t.Errorf("exit %v; stderr:\n%s", err, submit.stderr.String())
	}
	keys, _ := c.Keys(ctx, "*").Result()
	if len(keys) != 1 || !strings.HasSuffix(keys[0], ":end") || c.PTTL(ctx, keys[0]).Val() <= 0 {
		t.Errorf("keys left: %v", keys)
	}
}

// TestChangedCodeRefused: a worker built from this example with its Func
// changed (1.000001/t for 1/t: the bits a wrong sum would carry) never
// sends a result for the original's job, and says why it refused:
//   - built with -buildvcs=false, like the test binary that submits (no
//     VCS state names their code), its stamp names its own executable,
//     and the job is refused as another build's;
//   - built with the same link-time build tag as the original (the same
//     stamp: only the code differs), the known-answer check refuses it.
//
// An unchanged worker then computes each job to the local bits.
func TestChangedCodeRefused(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	src, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(src), "s += 1 / t", "s += 1.000001 / t", 1)
	if changed == string(src) {
		t.Fatal("main.go no longer has the line this test changes")
	}
	// Folders inside the module, so that they build against this tree;
	// testdata keeps them out of ./... .
	if _, err := os.Stat("testdata"); os.IsNotExist(err) {
		if err := os.Mkdir("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		defer os.Remove("testdata")
	}
	bins := t.TempDir()
	build := func(name, code string, flags ...string) string {
		dir, err := os.MkdirTemp("testdata", name+"-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		// Built as this test binary was (its tags, the race detector).
		bin := filepath.Join(bins, name)
		args := append([]string{"build", "-o", bin}, flags...)
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, st := range bi.Settings {
				switch {
				case st.Key == "-tags":
					args = append(args, "-tags", st.Value)
				case st.Key == "-race" && st.Value == "true":
					args = append(args, "-race")
				}
			}
		}
		if out, err := exec.Command(gobin, append(args, "./"+dir)...).CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		return bin
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tag := "-ldflags=-X=github.com/pishm/pishm/engine.buildTag=changed-code-test"
	for _, c := range []struct {
		name        string
		submit, bad string
		why         string
	}{
		{"another executable", self, build("changed-plain", changed, "-buildvcs=false"), "comes from another build"},
		{"same stamp", build("tagged", string(src), tag), build("changed-tagged", changed, tag), "computes other bits"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := redistest.Server(t)
			job := []string{"-n", "1e6", "-chunks", "4", "-json"}
			var out, errb bytes.Buffer
			if err := run(&out, &errb, append(job, "-local")); err != nil {
				t.Fatalf("-local: %v\n%s", err, errb.String())
			}
			local := decode(t, out.String())
			submit := startExe(t, c.submit, append([]string{"-redis", srv.URL}, job...)...)
			rc := redis.NewClient(&redis.Options{Addr: srv.Addr})
			defer rc.Close()
			id := jobID(t, rc, submit)
			bad := startExe(t, c.bad, "-redis", srv.URL, "-work", "-id", "changed")
			// The refusal is both the job's dead letter and the worker's
			// message, which it may print after the letter is seen: wait
			// for both before it is stopped.
			waitFor(t, "the changed worker's refusal", func() bool {
				n, _ := rc.LLen(context.Background(), "pishm:queue:{"+id+"}:dead").Result()
				return n > 0 && strings.Contains(bad.stderr.String(), c.why)
			}, submit, bad)
			bad.cmd.Process.Kill()
			bad.wait()
			if n, _ := rc.LLen(context.Background(), "pishm:queue:{"+id+"}:results").Result(); n != 0 {
				t.Errorf("the changed worker sent %d results", n)
			}
			good := startExe(t, c.submit, "-redis", srv.URL, "-work", "-id", "good")
			if err := submit.wait(); err != nil {
				t.Fatalf("submitter: %v\n%s", err, submit.stderr.String())
			}
			got := decode(t, submit.stdout.String())
			if got.SumBits != local.SumBits || got.ByWorker["changed"] != 0 {
				t.Errorf("bits %s (local %s), by worker %v", got.SumBits, local.SumBits, got.ByWorker)
			}
			good.cmd.Process.Signal(syscall.SIGTERM)
			good.wait()
		})
	}
}

// jobID waits for the one job a submitter announces and returns its ID.
func jobID(t *testing.T, c *redis.Client, submit *proc) string {
	t.Helper()
	var id string
	waitFor(t, "the job", func() bool {
		ids, _ := c.SMembers(context.Background(), "pishm:queue:jobs").Result()
		if len(ids) == 1 {
			id = ids[0]
		}
		return id != ""
	}, submit)
	return id
}
