package queue

import (
	"context"
	"fmt"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// Environment of a worker process started by a test (see startWorker).
const (
	envTestRedis = "PISHM_QUEUE_TEST_REDIS"
	envTestJob   = "PISHM_QUEUE_TEST_JOB"
)

// TestMain makes the test binary an engine child when the engine
// re-executes it, and a queue worker when a test starts it with
// envTestRedis set.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if url := os.Getenv(envTestRedis); url != "" {
		if mode := os.Getenv(envBenchMode); mode != "" {
			os.Exit(benchWorkerMain(url, os.Getenv(envTestJob), mode))
		}
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

// valueOf is the exact state of one piece of value v.
func valueOf(v float64) partial.Partial {
	p := partial.New(partial.Sum)
	p.Add(0, v)
	return p
}

// TestBounds: the chunks are contiguous, cover [0, N), start on the grid
// of Grain terms, and hold floor or ceil of pieces/Chunks pieces each.
func TestBounds(t *testing.T) {
	for _, c := range []struct {
		n      uint64
		chunks int
		grain  uint64
	}{{1, 1, 0}, {10, 3, 0}, {1000, 1000, 0}, {1e12, 4096, 0}, {1e9 + 7, 37, 1 << 16}, {lab.MaxN, MaxChunks, 0}, {lab.MaxN - 7, 12345, 0}} {
		j := Job{Func: testFunc, N: c.n, Chunks: c.chunks, Grain: c.grain}.withDefaults()
		if err := j.Validate(); err != nil {
			t.Fatal(err)
		}
		if c.grain == 0 && j.Grain != catalog.DefaultGrain(c.n) && j.pieces() > uint64(2*c.chunks) {
			t.Errorf("n=%d chunks=%d: grain %d, want the engine's default %d", c.n, c.chunks, j.Grain, catalog.DefaultGrain(c.n))
		}
		// Every chunk of the small cases; the ends of the big ones.
		var idx []int
		for i := range c.chunks {
			if c.chunks < 5000 || i < 3 || i >= c.chunks-3 {
				idx = append(idx, i)
			}
		}
		size := j.pieces() / uint64(c.chunks)
		for _, i := range idx {
			lo, hi := j.Bounds(i)
			var prev uint64
			if i > 0 {
				_, prev = j.Bounds(i - 1)
			}
			if lo != prev || lo%j.Grain != 0 {
				t.Fatalf("n=%d chunks=%d: chunk %d starts at %d, the one before ends at %d (grain %d)", c.n, c.chunks, i, lo, prev, j.Grain)
			}
			if p := (hi - lo + j.Grain - 1) / j.Grain; p != size && p != size+1 {
				t.Fatalf("n=%d chunks=%d: chunk %d has %d pieces, want %d or %d", c.n, c.chunks, i, p, size, size+1)
			}
		}
		if _, hi := j.Bounds(c.chunks - 1); hi != c.n {
			t.Errorf("n=%d chunks=%d: the last chunk ends at %d", c.n, c.chunks, hi)
		}
	}
}

func TestRecord(t *testing.T) {
	j := Job{Func: testFunc, N: 1 << 20, Chunks: 4096}.withDefaults()
	p := valueOf(math.Nextafter(1.2337, 2))
	p.Add(0, 1e-300)
	r := newRecord(j, 4095, p, 1234567, "host-1", "17", nil)
	got, v, err := parseRecord(j, r.marshal())
	if err != nil || got.Bits != r.Bits || got.Worker != r.Worker || !v.Equal(p) {
		t.Fatalf("round trip: %+v %v, %v; want %+v", got, v, err, r)
	}
	other := j
	other.ID = "other"
	max := partial.New(partial.Max)
	for _, bad := range []string{
		"short",
		newRecord(j, 4096, p, 0, "w", "1", nil).marshal(),
		newRecord(j, -1, p, 0, "w", "1", nil).marshal(),
		newRecord(other, 1, p, 0, "w", "1", nil).marshal(),
		newRecord(j, 1, max, 0, "w", "1", nil).marshal(),
		strings.Replace(r.marshal(), fmt.Sprintf(`"v":%d`, Protocol), `"v":1`, 1),
		strings.Replace(r.marshal(), r.Bits, "7ff8000000000000", 1),
		strings.Replace(r.marshal(), `"partial":"`, `"partial":"AA`, 1),
	} {
		if _, _, err := parseRecord(j, bad); err == nil {
			t.Errorf("%s was accepted", bad)
		}
	}
}

func TestCheckChunk(t *testing.T) {
	for _, j := range []Job{{Func: testFunc, N: 1000, Chunks: 10}, {Func: testFunc, N: 1e12, Chunks: 4096}, {Func: testFunc, N: lab.MaxN, Chunks: MaxChunks}} {
		for _, i := range []int{0, 1, j.Chunks / 2, j.Chunks - 1} {
			want, tol := j.Exact(i)
			if why := j.checkChunk(i, want); why != "" {
				t.Errorf("n=%d chunks=%d: the exact value: %s", j.N, j.Chunks, why)
			}
			other, _ := j.Exact((i + 1) % j.Chunks)
			for _, bad := range []float64{math.NaN(), math.Inf(1), 0.25, want + 2*tol, want - 2*tol, other, -want} {
				if why := j.checkChunk(i, bad); why == "" {
					t.Errorf("n=%d chunks=%d chunk %d: %v accepted (exact %v ± %v)", j.N, j.Chunks, i, bad, want, tol)
				}
			}
		}
	}
}

func TestValidate(t *testing.T) {
	ok := NewJob(testFunc, 1000)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	if ok.Chunks != 1000 || ok.Workers != 1 || ok.Mode != lab.Slots || len(ok.ID) != 16 {
		t.Errorf("defaults: %+v", ok)
	}
	if again := NewJob(testFunc, 1000); again.ID != ok.ID {
		t.Errorf("the same settings give IDs %s and %s", ok.ID, again.ID)
	}
	if other := NewJob(testFunc, 1001); other.ID == ok.ID {
		t.Errorf("other settings give the same ID %s", ok.ID)
	}
	for _, c := range []struct {
		field string
		edit  func(*Job)
	}{
		{"ID", func(j *Job) { j.ID = "a:b" }},
		{"N", func(j *Job) { j.N = 0 }},
		{"Chunks", func(j *Job) { j.Chunks = 1001 }},
		{"Workers", func(j *Job) { j.Workers = -1 }},
		{"Mode", func(j *Job) { j.Mode = lab.Goroutines }},
		{"Lease", func(j *Job) { j.Lease = time.Millisecond }},
		{"Retain", func(j *Job) { j.Retain = j.Lease }},
		{"Protocol", func(j *Job) { j.Protocol = 1 }},
	} {
		j := ok
		c.edit(&j)
		if err := j.Validate(); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: %v", c.field, err)
		}
	}
}
