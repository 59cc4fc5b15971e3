package queue

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
	"github.com/redis/go-redis/v9"
)

// The measurements of the queue itself, for docs/queue.md. They take minutes
// and print figures rather than assert them, so they run only when asked:
//
//	PISHM_QUEUE_BENCH=1 go test -run 'TestThroughput|TestOverhead' -v ./queue/
const envBench = "PISHM_QUEUE_BENCH"

// envBenchMode makes a worker process of this test binary a benchmark
// worker: "queue" (Work with a chunk computed in no time) or "streams"
// (the Redis Streams consumer-group anchor).
const envBenchMode = "PISHM_QUEUE_BENCH_MODE"

func benchOnly(t *testing.T) {
	if os.Getenv(envBench) == "" {
		t.Skip("a measurement: set " + envBench + "=1")
	}
}

// benchWorkerMain is one worker process of the throughput measurement.
func benchWorkerMain(url, job, mode string) int {
	ctx := context.Background()
	client, err := NewClient(ClientOptions{URL: url})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer client.Close()
	switch mode {
	case "queue":
		// The chunk's work is nothing: what is timed is the protocol.
		computeChunk = func(_ context.Context, _ Job, i int, _ func(uint64), _ *engine.Pool) (partial.Partial, time.Duration, error) {
			return valueOf(float64(i)), 0, nil
		}
		if _, err := Work(ctx, client, WorkerOptions{Job: job, NoSpeculate: true, Poll: 20 * time.Millisecond}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	case "streams":
		// The anchor: XREADGROUP one entry, then XACK it and push its
		// result in one MULTI, the same two round trips as take and ack.
		me := strconv.Itoa(os.Getpid())
		for {
			s, err := client.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: me, Streams: []string{job, ">"}, Count: 1, Block: time.Second}).Result()
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			m := s[0].Messages[0]
			if m.Values["chunk"] == "stop" {
				client.XAck(ctx, job, "g", m.ID)
				return 0
			}
			p := client.TxPipeline()
			p.XAck(ctx, job, "g", m.ID)
			p.RPush(ctx, job+":results", m.Values["chunk"])
			if _, err := p.Exec(ctx); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
	return 0
}

// startBenchWorkers starts n worker processes in mode for job.
func startBenchWorkers(t *testing.T, url, job, mode string, n int) []*exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	for range n {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envTestRedis+"="+url, envTestJob+"="+job, envBenchMode+"="+mode)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	return cmds
}

// TestThroughput: chunk claims per second of 1e5 chunks by 16 worker
// processes on a local redis-server, the chunks computed in no time, so
// that the figure is the queue's: take, ack, and the coordinator's gather
// and checks; against the same work through a Redis Streams consumer
// group.
func TestThroughput(t *testing.T) {
	benchOnly(t)
	const chunks, procs = 100_000, 16
	client, url := newClient(t)
	ctx := context.Background()
	for _, k := range []int{1, 2} {
		j := Job{ID: "bench-k" + strconv.Itoa(k), Func: "queue-test-harmonic", N: 1e12, Chunks: chunks, Redundancy: k, Lease: time.Minute}
		cmds := startBenchWorkers(t, url, j.ID, "queue", procs)
		cpu0 := serverCPU(ctx, client)
		start := time.Now()
		res, err := Coordinate(ctx, client, j, CoordinateOptions{})
		d := time.Since(start)
		for _, c := range cmds {
			if err := c.Wait(); err != nil {
				t.Error(err)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
		var rss runtime.MemStats
		runtime.ReadMemStats(&rss)
		t.Logf("queue, redundancy %d: %d chunks (%d claims) by %d processes in %v: %.0f chunks/s, %.0f claims/s (duplicates %d); coordinator heap in use %d MiB; redis-server CPU %.1f s, %.0f µs per claim",
			k, chunks, k*chunks, procs, d.Round(time.Millisecond), chunks/d.Seconds(), float64(k*chunks)/d.Seconds(), res.Duplicates, rss.HeapInuse>>20,
			serverCPU(ctx, client)-cpu0, 1e6*(serverCPU(ctx, client)-cpu0)/float64(k*chunks))
	}

	// The anchor.
	stream := "bench-stream"
	if err := client.XGroupCreateMkStream(ctx, stream, "g", "$").Err(); err != nil {
		t.Fatal(err)
	}
	cmds := startBenchWorkers(t, url, stream, "streams", procs)
	cpu0 := serverCPU(ctx, client)
	start := time.Now()
	for lo := 0; lo < chunks; lo += 1000 {
		p := client.Pipeline()
		for i := lo; i < lo+1000; i++ {
			p.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"chunk", strconv.Itoa(i)}})
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for range procs {
		client.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{"chunk", "stop"}})
	}
	var wg sync.WaitGroup
	for _, c := range cmds {
		wg.Go(func() {
			if err := c.Wait(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	d := time.Since(start)
	if n, _ := client.LLen(ctx, stream+":results").Result(); n != chunks {
		t.Errorf("streams: %d results, want %d", n, chunks)
	}
	cpu := serverCPU(ctx, client) - cpu0
	t.Logf("streams anchor: %d entries by %d processes in %v: %.0f claims/s; redis-server CPU %.1f s, %.0f µs per claim", chunks, procs, d.Round(time.Millisecond), chunks/d.Seconds(), cpu, 1e6*cpu/chunks)
	client.Del(ctx, stream, stream+":results")
}

// serverCPU is the CPU time redis-server has used, in seconds.
func serverCPU(ctx context.Context, c *redis.Client) float64 {
	info, _ := c.Info(ctx, "cpu").Result()
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(line), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// TestOverhead: the same reduction through the queue (one worker, chunks
// of about 10 ms, 100 ms and 1 s of engine time) and with engine.Reduce on
// this machine, both on one engine process: the difference per chunk is
// the queue's cost (two scripts, a record, and the chunk's engine start).
func TestOverhead(t *testing.T) {
	benchOnly(t)
	client, _ := newClient(t)
	ctx := context.Background()
	// Terms per second of one engine process on this Func, measured.
	const probe = 300_000_000
	r, err := engine.Reduce(ctx, "queue-test-harmonic", probe, engine.WithWorkers(1))
	if err != nil {
		t.Fatal(err)
	}
	rate := probe / r.Elapsed.Seconds()
	for _, c := range []struct {
		chunk  time.Duration
		chunks int
	}{{10 * time.Millisecond, 200}, {100 * time.Millisecond, 30}, {time.Second, 6}} {
		n := uint64(rate * c.chunk.Seconds() * float64(c.chunks))
		// The best of three of each, interleaved: the machine is shared.
		var localWall, queueWall time.Duration
		for range 3 {
			start := time.Now()
			local, err := engine.Reduce(ctx, "queue-test-harmonic", n, engine.WithWorkers(1))
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); localWall == 0 || d < localWall {
				localWall = d
			}
			var wg sync.WaitGroup
			start = time.Now()
			res, err := Coordinate(ctx, client, Job{ID: randomID(), Func: "queue-test-harmonic", N: n, Chunks: c.chunks, Grain: local.Grain}, CoordinateOptions{Started: func(j Job, _ int) {
				wg.Go(func() {
					if _, err := Work(ctx, client, WorkerOptions{Job: j.ID, NoSpeculate: true, Poll: 20 * time.Millisecond}); err != nil {
						t.Error(err)
					}
				})
			}})
			if d := time.Since(start); queueWall == 0 || d < queueWall {
				queueWall = d
			}
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			if res.Sum != local.Value {
				t.Errorf("queue %v, local %v", res.Sum, local.Value)
			}
		}
		per := (queueWall - localWall) / time.Duration(c.chunks)
		t.Logf("chunks of ~%v (%v measured): %d chunks, %d terms: local %v, queue %v: %+.1f%%, %v per chunk",
			c.chunk, (localWall / time.Duration(c.chunks)).Round(100*time.Microsecond), c.chunks, n, localWall.Round(time.Millisecond), queueWall.Round(time.Millisecond),
			100*(queueWall.Seconds()/localWall.Seconds()-1), per.Round(10*time.Microsecond))
	}
}
