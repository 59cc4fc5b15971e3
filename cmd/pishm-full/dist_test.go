package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/internal/redistest"
	"github.com/pishm/pishm/queue"
	"github.com/redis/go-redis/v9"
)

func TestDistUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"coordinate", "-chunks", "0"}, "-chunks"},
		{[]string{"coordinate", "-n", "10", "-chunks", "11"}, "-chunks"},
		{[]string{"coordinate", "-workers", "0"}, "-workers"},
		{[]string{"coordinate", "-mode", "goroutines"}, "-mode"},
		{[]string{"coordinate", "-kernel", "sse9"}, "-kernel"},
		{[]string{"coordinate", "-lease", "1ms"}, "-lease"},
		{[]string{"coordinate", "-retain", "1s"}, "-retain"},
		{[]string{"coordinate", "-resume", "a:b"}, "-resume"},
		{[]string{"coordinate", "-outage", "0s"}, "-outage"},
		{[]string{"worker", "-redis-password-file", "/nonexistent"}, "-redis-password-file"},
		{[]string{"coordinate", "-n", "x"}, "-n"},
		{[]string{"coordinate", "extra"}, "unexpected argument"},
		{[]string{"coordinate", "-redis", "http://x"}, "-redis"},
		{[]string{"worker", "-workers", "-1"}, "-workers"},
		{[]string{"worker", "-mode", "pipe"}, "-mode"},
		{[]string{"worker", "-job", "a:b"}, "-job"},
		{[]string{"worker", "-redis", "redis://x", "-redis-tls-cert", "c.pem"}, "-redis"},
	} {
		_, stderr, code := pishm(t, c.args...)
		if code != 2 || !strings.Contains(stderr, c.want) {
			t.Errorf("pishm %q: exit %d, stderr %q; want 2 and %q", c.args, code, stderr, c.want)
		}
	}
}

func decodeResult(t *testing.T, out string) queue.Result {
	t.Helper()
	var r queue.Result
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return r
}

// TestCoordinateWorker: pishm coordinate with two pishm workers gives the
// bits of pishm coordinate -local, and leaves no key behind.
func TestCoordinateWorker(t *testing.T) {
	url := redistest.Start(t)
	// Many chunks, so that both workers usually take some; one that looks
	// only after the job is over finds no job, and that is allowed below.
	const chunks = 120
	job := []string{"-n", "123456789", "-chunks", strconv.Itoa(chunks), "-workers", "2", "-json"}
	out, stderr, code := pishm(t, append([]string{"coordinate", "-local"}, job...)...)
	if code != 0 {
		t.Fatalf("coordinate -local: exit %d: %s", code, stderr)
	}
	local := decodeResult(t, out)

	type res struct {
		out, stderr string
		code        int
	}
	workers := make(chan res, 2)
	for range 2 {
		go func() {
			out, stderr, code := pishm(t, "worker", "-redis", url, "-wait", "20s", "-quiet", "-json")
			workers <- res{out, stderr, code}
		}()
	}
	// The timeout guards against a hang, not a slow machine: 120 chunks
	// under the race detector beside other work took over 30 s.
	out, stderr, code = pishm(t, append([]string{"coordinate", "-redis", url, "-timeout", "5m"}, job...)...)
	if code != 0 {
		t.Fatalf("coordinate: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "start workers with: pishm worker -redis "+url+" -job ") {
		t.Errorf("stderr does not say how to start workers with this server: %q", stderr)
	}
	got := decodeResult(t, out)
	if got.SumBits != local.SumBits || got.Sum != local.Sum {
		t.Errorf("distributed S %v (%s), local %v (%s)", got.Sum, got.SumBits, local.Sum, local.SumBits)
	}
	sent, idle := 0, 0
	for range 2 {
		w := <-workers
		if w.code != 0 && strings.Contains(w.stderr, "no job appeared") {
			idle++ // it looked only after the job was over: the other did all
			continue
		}
		if w.code != 0 {
			t.Errorf("worker: exit %d: %s", w.code, w.stderr)
			continue
		}
		var st queue.WorkerStats
		if err := json.Unmarshal([]byte(w.out), &st); err != nil {
			t.Errorf("worker output not JSON: %v\n%s", err, w.out)
		}
		// A speculative copy of a slow chunk may finish after the first
		// one: it is sent and counted late, not as a result.
		sent += st.Chunks - st.Late
	}
	if sent != chunks || idle > 1 {
		t.Errorf("the workers sent %d results (%d found no job), want %d", sent, idle, chunks)
	}
	assertNoKeys(t, url)
}

// assertNoKeys fails t if a key is left but a job's end marker, or a key
// has no TTL.
func assertNoKeys(t *testing.T, url string) {
	t.Helper()
	c := client(t, url)
	ctx := context.Background()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Error(err)
	}
	for _, k := range keys {
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl < 0 || !strings.HasSuffix(k, ":end") {
			t.Errorf("key left behind: %q, TTL %v (%v)", k, ttl, err)
		}
	}
}

func client(t *testing.T, url string) *redis.Client {
	t.Helper()
	c, err := queue.NewClient(queue.ClientOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*redis.Client)
}

// TestCoordinateSIGINT: a coordinator stopped by SIGINT while its chunks
// wait for workers deletes its keys and exits 130.
func TestCoordinateSIGINT(t *testing.T) {
	url := redistest.Start(t)
	c := client(t, url)
	cmd := exec.Command(os.Args[0], "coordinate", "-redis", url, "-n", "1e12", "-chunks", "4096")
	cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	ctx := context.Background()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if n, _ := c.Exists(ctx, "pishm:queue:jobs").Result(); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job appeared; stderr: %s", stderr.String())
		}
	}
	if n, _ := c.DBSize(ctx).Result(); n < 3 {
		t.Errorf("only %d keys while the job runs", n)
	}
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Errorf("exit: %v, want status 130; stderr: %s", err, stderr.String())
	}
	assertNoKeys(t, url)
}

// The coordinator's hint is a command that works as printed: the
// server's URL without its password (the worker reads it where this
// coordinator did), and the TLS files.
func TestWorkerCommand(t *testing.T) {
	var rf redisFlags
	rf.o.URL, rf.o.TLSCA = "rediss://pishm:s3cret@queue.example:6380/0", "ca.pem"
	got := workerCommand(rf, "ab12")
	if want := "pishm worker -redis rediss://pishm@queue.example:6380/0 -redis-tls-ca ca.pem -job ab12"; got != want {
		t.Errorf("workerCommand = %q, want %q", got, want)
	}
}
