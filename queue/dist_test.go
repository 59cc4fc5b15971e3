package queue

import (
	"context"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
)

// Environment of a worker process started by a test (see startWorker).
const (
	envTestRedis = "PISHM_DIST_TEST_REDIS"
	envTestJob   = "PISHM_DIST_TEST_JOB"
)

// TestMain makes the test binary an engine child when the engine
// re-executes it, and a dist worker when a test starts it with
// envTestRedis set.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if url := os.Getenv(envTestRedis); url != "" {
		os.Exit(testWorkerMain(url, os.Getenv(envTestJob)))
	}
	// Race-built children otherwise sleep 1 s at exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	os.Exit(m.Run())
}

// testWorkerMain is a worker process: Work until the job is done or a
// signal comes, logging to stdout.
func testWorkerMain(url, job string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	client, err := NewClient(ClientOptions{URL: url})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	defer client.Close()
	_, err = Work(ctx, client, WorkerOptions{Job: job, Log: os.Stdout})
	if err != nil {
		os.Stdout.WriteString("error: " + err.Error() + "\n")
		if ctx.Err() != nil {
			return 3
		}
		return 1
	}
	return 0
}

func TestBounds(t *testing.T) {
	for _, c := range []struct {
		n      uint64
		chunks int
	}{{1, 1}, {10, 3}, {1000, 1000}, {1e12, 4096}, {engine.MaxN, MaxChunks}, {engine.MaxN - 7, 12345}} {
		j := Job{N: c.n, Chunks: c.chunks}
		// Every chunk of the small cases; the ends of the big ones.
		var idx []int
		for i := range c.chunks {
			if c.chunks < 5000 || i < 3 || i >= c.chunks-3 {
				idx = append(idx, i)
			}
		}
		size := c.n / uint64(c.chunks)
		for _, i := range idx {
			lo, hi := j.Bounds(i)
			var prev uint64
			if i > 0 {
				_, prev = j.Bounds(i - 1)
			}
			if lo != prev {
				t.Fatalf("n=%d chunks=%d: chunk %d starts at %d, the one before ends at %d", c.n, c.chunks, i, lo, prev)
			}
			if hi-lo != size && hi-lo != size+1 {
				t.Fatalf("n=%d chunks=%d: chunk %d has %d terms, want %d or %d", c.n, c.chunks, i, hi-lo, size, size+1)
			}
		}
		if _, hi := j.Bounds(c.chunks - 1); hi != c.n {
			t.Errorf("n=%d chunks=%d: the last chunk ends at %d", c.n, c.chunks, hi)
		}
	}
}

func TestRecord(t *testing.T) {
	r := record{Chunk: 4095, Sum: math.Nextafter(1.2337, 2), Elapsed: 1234567, Worker: "host-1-abcdef"}
	got, err := unmarshalRecord(r.marshal())
	if err != nil || got != r || math.Float64bits(got.Sum) != math.Float64bits(r.Sum) {
		t.Fatalf("round trip: %+v, %v; want %+v", got, err, r)
	}
	if _, err := unmarshalRecord(make([]byte, recordHeader-1)); err == nil {
		t.Error("a short record was accepted")
	}
}

func TestValidate(t *testing.T) {
	ok := NewJob(1000)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Chunks != 1000 || ok.Workers != 1 || ok.Mode != engine.Slots || ok.Kernel == "auto" || len(ok.ID) != 16 {
		t.Errorf("defaults: %+v", ok)
	}
	for _, c := range []struct {
		field string
		edit  func(*Job)
	}{
		{"ID", func(j *Job) { j.ID = "a:b" }},
		{"N", func(j *Job) { j.N = 0 }},
		{"Chunks", func(j *Job) { j.Chunks = 1001 }},
		{"Workers", func(j *Job) { j.Workers = -1 }},
		{"Mode", func(j *Job) { j.Mode = engine.Goroutines }},
		{"Kernel", func(j *Job) { j.Kernel = "sse9" }},
		{"Heartbeat", func(j *Job) { j.Heartbeat = time.Millisecond }},
	} {
		j := ok
		c.edit(&j)
		if err := j.Validate(); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v", c.field, err)
		}
	}
}

func TestFoldIsCompensated(t *testing.T) {
	var f fold
	for _, x := range []float64{1, 1e-16, 1e-16, -1} {
		f.add(x)
	}
	if got := f.value(); got != 2e-16 {
		t.Errorf("fold = %g, want 2e-16", got)
	}
}
