package queue

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/internal/redistest"
	"github.com/pishm/pishm/shmem"
	"github.com/redis/go-redis/v9"
)

// newClient starts a redis-server for t (skipping t when none is
// installed) and returns a client for it, closed at cleanup after checking
// that the test left no key behind but jobs' end markers, which expire.
func newClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	return newClientTB(t)
}

func newClientTB(t testing.TB) (*redis.Client, string) {
	t.Helper()
	url := redistest.Start(t)
	u, err := NewClient(ClientOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	c := u.(*redis.Client)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		checkKeys(ctx, t, c)
		c.Close()
		// Only names this test process made (pishm-PID-...), whatever
		// other programs keep in /dev/shm.
		if m, _ := filepath.Glob(filepath.Join(shmem.Dir, shmem.NamePrefix+strconv.Itoa(os.Getpid())+"-*")); len(m) > 0 {
			t.Errorf("segments left behind: %v", m)
		}
	})
	return c, url
}

// checkKeys fails t if any key is left but an end marker, or any has no
// TTL.
func checkKeys(ctx context.Context, t testing.TB, c redis.UniversalClient) {
	t.Helper()
	keys, err := c.Keys(ctx, "*").Result()
	if err != nil {
		t.Error(err)
	}
	for _, k := range keys {
		ttl, err := c.PTTL(ctx, k).Result()
		if err != nil || ttl < 0 || !strings.HasSuffix(k, ":end") {
			t.Errorf("key left behind: %q, TTL %v (%v)", k, ttl, err)
		}
	}
}

// TestCoordinateMatchesLocal: two workers in this process, a duplicate
// result and two bad records injected, a chunk leased by a worker that is
// never heard of again, and the distributed S bit-identical to Local's.
//
// Nothing in it waits on the clock but the ghost's lease: the context's
// bound only keeps a hang from running on, far past what a slow machine
// takes (the race detector on two busy cores took 30 s, with ten times
// the terms), and the engine reports progress every 2^16 terms, so a
// worker's lease (1 s) lapses only where it truly stops.
func TestCoordinateMatchesLocal(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	j := Job{Func: testFunc, N: 30_000_007, Chunks: 37, Workers: 2, Publish: 1 << 16, Lease: time.Second}.withDefaults()
	want, err := Local(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if rel := math.Abs(want.SumRelError); rel > 1e-15 {
		t.Fatalf("local sum %v, exact %v: relative error %g", want.Sum, want.SumExact, rel)
	}
	first1, _, err := ComputeChunk(ctx, j, 1, nil)
	if err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	stats := make([]WorkerStats, 2)
	errs := make([]error, 2)
	started := func(j Job, _ int) {
		// A result for chunk 1 before any worker's: the worker's becomes a
		// duplicate, and so does a second copy of this one.
		dup := asWorker(t, client, j, 1, first1, "test")
		k := keysOf(j.ID)
		bad := asWorker(t, client, j, j.Chunks, valueOf(0), "test")
		if err := client.RPush(ctx, k.results(), dup, dup, "short", bad).Err(); err != nil {
			t.Error(err)
		}
		// A ghost leases chunk 0 and is never heard of: its lease lapses
		// and a worker takes the chunk back.
		v, err := run(ctx, client, takeScript, j.ID, "ghost", j.Lease.Milliseconds(), j.MaxAttempts, 0, j.Chunks, 1)
		if err != nil || str(v, 0) != "lease" || str(v, 2) != "0" {
			t.Errorf("ghost take: %v %v", v, err)
		}
		for i := range stats {
			wg.Go(func() {
				stats[i], errs[i] = Work(ctx, client, WorkerOptions{Job: j.ID, Poll: 50 * time.Millisecond, NoSpeculate: true})
			})
		}
	}
	got, err := Coordinate(ctx, client, j, CoordinateOptions{Started: started})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i, err)
		}
	}
	if got.SumBits != want.SumBits {
		t.Errorf("distributed S = %v (%s), local %v (%s)", got.Sum, got.SumBits, want.Sum, want.SumBits)
	}
	if got.Duplicates < 2 || got.Mismatches != 0 || got.Rejected != 2 || got.Reclaimed != 1 {
		t.Errorf("duplicates %d, mismatches %d, rejected %d, reclaimed %d; want >= 2, 0, 2, 1",
			got.Duplicates, got.Mismatches, got.Rejected, got.Reclaimed)
	}
	var chunks int
	for _, s := range stats {
		chunks += s.Chunks
	}
	if chunks < j.Chunks-1 || got.ByWorker["test"] != 1 {
		t.Errorf("workers sent %d results, by worker %v; want %d", chunks, got.ByWorker, j.Chunks-1)
	}
}

// TestWorkerRefuses: a worker told other bit-changing settings than the
// job's does not take its chunks.
func TestWorkerRefuses(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	j := Job{Func: testFunc, N: 1000, Chunks: 4, Workers: 2}.withDefaults()
	_, err := Coordinate(ctx, client, j, CoordinateOptions{Timeout: 2 * time.Second, Started: func(j Job, _ int) {
		for _, o := range []WorkerOptions{{Workers: 3}, {Mode: lab.CAS}} {
			o.Job = j.ID
			if _, err := Work(ctx, client, o); !errors.Is(err, ErrRefused) {
				t.Errorf("Work(%+v) = %v, want ErrRefused", o, err)
			}
		}
		cancel() // nobody will do the job
	}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Coordinate = %v, want context.Canceled", err)
	}
}

// TestWorkerWaitsForJob: a worker started before the coordinator finds the
// job, and one with a deadline and no job gives up.
func TestWorkerWaitsForJob(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := Work(ctx, client, WorkerOptions{Wait: 100 * time.Millisecond, Poll: 20 * time.Millisecond}); !errors.Is(err, ErrNoJob) {
		t.Errorf("Work with no job = %v, want ErrNoJob", err)
	}
	done := make(chan error, 1)
	// The worker says it waits before each look for a job: its second
	// line comes after a look that found none, so the job below appears
	// while it waits.
	looked := &lineSignal{n: 2, reached: make(chan struct{})}
	go func() {
		_, err := Work(ctx, client, WorkerOptions{Poll: 20 * time.Millisecond, WaitNote: time.Nanosecond, Status: looked})
		done <- err
	}()
	select {
	case <-looked.reached:
	case err := <-done:
		t.Fatalf("worker ended before the job: %v", err)
	}
	res, err := Coordinate(ctx, client, Job{Func: testFunc, N: 10_000, Chunks: 3}, CoordinateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Errorf("worker: %v", err)
	}
	if math.Abs(res.SumRelError) > 1e-15 {
		t.Errorf("S = %v, exact %v", res.Sum, res.SumExact)
	}
}

// TestDeadLetter (fault 7): a chunk that fails on every attempt goes to
// the dead letters after Job.MaxAttempts, and the job fails with a clear
// error instead of hanging; the worker learns that the job ended
// unfinished.
func TestDeadLetter(t *testing.T) {
	client, _ := newClient(t)
	defer func(f func(context.Context, Job, int, func(uint64), *engine.Pool) (partial.Partial, time.Duration, error)) {
		computeChunk = f
	}(computeChunk)
	computeChunk = func(ctx context.Context, j Job, i int, p func(uint64), _ *engine.Pool) (partial.Partial, time.Duration, error) {
		if i == 3 {
			return partial.Partial{}, 0, errors.New("this chunk always fails")
		}
		v, _ := j.Exact(i)
		return valueOf(v), 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j := Job{Func: testFunc, N: 1000, Chunks: 8, Lease: time.Second, MaxAttempts: 2}.withDefaults()
	done := make(chan error, 1)
	_, err := Coordinate(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
		// Two workers, so that neither gives up for failing in a row.
		for range 2 {
			go func() {
				_, err := Work(ctx, client, WorkerOptions{Job: j.ID, Poll: 20 * time.Millisecond, NoSpeculate: true})
				done <- err
			}()
		}
	}})
	if !errors.Is(err, ErrDeadLetter) || !strings.Contains(err.Error(), "chunk 3") || !strings.Contains(err.Error(), "always fails") {
		t.Errorf("Coordinate = %v, want ErrDeadLetter for chunk 3", err)
	}
	for range 2 {
		if err := <-done; !errors.Is(err, ErrJobEnded) && !errors.Is(err, errFailing) {
			t.Errorf("worker: %v, want ErrJobEnded", err)
		}
	}
}

// TestDisagreement (fault 3): a result within a chunk's bounds but with
// other bits than the honest run's sends the chunk to a third run, which
// settles it, and S is bit-identical to Local's; three different values
// fail the job.
func TestDisagreement(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	j := Job{Func: testFunc, N: 10_000_000, Chunks: 6, Lease: time.Second}.withDefaults()
	want, err := Local(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	honest, _, err := ComputeChunk(ctx, j, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	off := valueOf(math.Nextafter(honest.Value(), 2)) // one ulp off: inside the bounds
	var wg sync.WaitGroup
	got, err := Coordinate(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
		if err := client.RPush(ctx, keysOf(j.ID).results(), asWorker(t, client, j, 2, off, "liar")).Err(); err != nil {
			t.Error(err)
		}
		wg.Go(func() {
			if _, err := Work(ctx, client, WorkerOptions{Job: j.ID, Poll: 20 * time.Millisecond, NoSpeculate: true}); err != nil {
				t.Error(err)
			}
		})
	}})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got.SumBits != want.SumBits || got.Disputes != 1 || got.ByWorker["liar"] != 0 {
		t.Errorf("S %s (local %s), disputes %d, by worker %v", got.SumBits, want.SumBits, got.Disputes, got.ByWorker)
	}

	j.ID = randomID()
	off2 := valueOf(math.Nextafter(off.Value(), 2))
	_, err = Coordinate(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
		k := keysOf(j.ID)
		if err := client.RPush(ctx, k.results(), asWorker(t, client, j, 2, off, "liar"), asWorker(t, client, j, 2, off2, "liar2"),
			asWorker(t, client, j, 2, honest, "honest")).Err(); err != nil {
			t.Error(err)
		}
	}})
	if !errors.Is(err, ErrDisagree) {
		t.Errorf("three values: %v, want ErrDisagree", err)
	}
}

// lineSignal closes reached once n writes have come in.
type lineSignal struct {
	mu      sync.Mutex
	n       int
	reached chan struct{}
}

func (l *lineSignal) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n--; l.n == 0 {
		close(l.reached)
	}
	return len(p), nil
}

// A server that may evict keys is refused before the job starts, naming
// the setting; with noeviction the same job runs.
func TestEvictionRefused(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	if err := client.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Skipf("cannot set maxmemory-policy: %v", err)
	}
	j := Job{Func: testFunc, N: 1000, Chunks: 2}
	if _, err := Coordinate(ctx, client, j, CoordinateOptions{}); !errors.Is(err, ErrEviction) || !strings.Contains(err.Error(), "allkeys-lru") {
		t.Errorf("Coordinate on allkeys-lru: %v, want ErrEviction naming the policy", err)
	}
	if err := client.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := Local(ctx, j); err != nil {
		t.Fatal(err)
	}
}

// One coordinator per job, ever: a coordinator that comes after the job
// ended done reports the recorded outcome, bit for bit, and queues no
// chunk; after a failure it reports the failure; after a cancel the job
// may run anew.
func TestLateCoordinatorReportsTheOutcome(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	j := Job{ID: "late", Func: testFunc, N: 200_000, Chunks: 4}
	runWith := func(j Job) (Result, error) {
		var wg sync.WaitGroup
		defer wg.Wait()
		sub, err := Submit(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
			wg.Go(func() { Work(ctx, client, WorkerOptions{ID: "w", Job: j.ID, Poll: 10 * time.Millisecond}) })
		}})
		if err != nil {
			return Result{}, err
		}
		_, err = sub.Wait(ctx)
		return sub.Result(), err
	}
	first, err := runWith(j)
	if err != nil || first.Replayed {
		t.Fatalf("first coordinator: %v (replayed %v)", err, first.Replayed)
	}
	sub, err := Submit(ctx, client, j, CoordinateOptions{Started: func(Job, int) { t.Error("the ended job was queued again") }})
	if err != nil {
		t.Fatal(err)
	}
	red, err := sub.Wait(ctx)
	late := sub.Result()
	if err != nil || !late.Replayed || late.SumBits != first.SumBits || math.Float64bits(red.Value) != math.Float64bits(first.Sum) ||
		late.ByWorker["w"] != j.Chunks {
		t.Errorf("late coordinator: %v, replayed %v, bits %s (first %s), value %v, by worker %v", err, late.Replayed, late.SumBits, first.SumBits, red.Value, late.ByWorker)
	}
	if n, _ := client.Exists(ctx, keysOf(j.ID).queue(), keysOf(j.ID).job()).Result(); n != 0 {
		t.Errorf("the late coordinator left %d of the job's keys", n)
	}

	// A job that failed: its closed form refutes every chunk of a liar.
	bad := Job{ID: "late-bad", Func: "queue-test-tele-liar", N: 10_000, Chunks: 2, MaxAttempts: 1}
	if _, err := runWith(bad); err == nil {
		t.Fatal("the liar's job did not fail")
	}
	if _, err := Coordinate(ctx, client, bad, CoordinateOptions{}); !errors.Is(err, ErrJobEnded) || !strings.Contains(err.Error(), "not run again") {
		t.Errorf("late coordinator of a failed job: %v, want ErrJobEnded", err)
	}

	// A cancelled job is no outcome: the same job runs anew.
	short, stop := context.WithCancel(ctx)
	c := Job{ID: "late-cancelled", Func: testFunc, N: 10_000, Chunks: 2}
	go func() { time.Sleep(100 * time.Millisecond); stop() }()
	if _, err := Coordinate(short, client, c, CoordinateOptions{}); err == nil {
		t.Fatal("the coordinator without workers ended without its context")
	}
	if r, err := runWith(c); err != nil || r.Replayed {
		t.Errorf("after a cancel: %v (replayed %v), want a new run", err, r.Replayed)
	}
}

// asWorker is the record of chunk's state p as worker would send it: on a
// lease the job's keys say was issued for the chunk to that worker (the
// test writes it where takeScript would), so that the coordinator weighs
// it as a worker's result, a faulty one's if p is wrong.
func asWorker(t *testing.T, client *redis.Client, j Job, chunk int, p partial.Partial, worker string) string {
	t.Helper()
	tok := "test-" + randomID()
	if err := client.HSet(context.Background(), keysOf(j.ID).issued(), tok, fmt.Sprintf("%d %s", chunk, worker)).Err(); err != nil {
		t.Error(err)
	}
	return newRecord(j, chunk, p, 0, worker, tok, nil).marshal()
}

// TestForgedRecordsAreNotSummed: records pushed into a keyed job's
// results by anything but its workers (well-formed and plausible, on no
// lease, on a lease never issued, on another worker's lease, of another
// job, and on a lease the forger wrote into redis itself but without the
// key) are rejected, each named, and the job ends with Local's bits;
// workers without the key, or with another, refuse the job.
func TestForgedRecordsAreNotSummed(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := []byte("0123456789abcdef-the-job-key")
	j := Job{Func: testFunc, N: 1_000_000, Chunks: 8}
	want, err := Local(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	plausible := func(j Job, chunk int) partial.Partial {
		v, _ := j.Exact(chunk)
		return valueOf(v * (1 + 5e-14)) // inside a chunk's bounds (1e-12)
	}
	forge := func(j Job, chunk int, lease, worker string) string {
		return newRecord(j, chunk, plausible(j, chunk), 0, worker, lease, nil).marshal()
	}
	var wg sync.WaitGroup
	got, err := Coordinate(ctx, client, j, CoordinateOptions{Key: key, Started: func(j Job, _ int) {
		k := keysOf(j.ID)
		other := j
		other.ID = "another-job"
		client.HSet(ctx, k.issued(), "forged", "3 forger") // a lease the forger wrote itself
		recs := []any{
			forge(j, 0, "", "forger"),        // no lease
			forge(j, 1, "999999", "forger"),  // a lease never issued
			forge(j, 2, "forged", "forger"),  // a lease for another chunk
			forge(j, 3, "forged", "someone"), // another worker's lease
			forge(other, 4, "", "forger"),    // another job's
			forge(j, 3, "forged", "forger"),  // on its lease, without the key
		}
		if err := client.RPush(ctx, k.results(), recs...).Err(); err != nil {
			t.Error(err)
		}
		// A forger that calls the ack script itself, on a token never issued.
		if v, err := run(ctx, client, ackScript, j.ID, forge(j, 5, "424242", "forger"), "424242", 5, 1, "forger"); err != nil || str(v, 0) != "refused" {
			t.Errorf("the ack script took a result on a lease never issued: %v, %v", v, err)
		}
		for _, o := range []WorkerOptions{{ID: "keyless"}, {ID: "other-key", Key: []byte("another key, 16 bytes or more")}} {
			o.Job, o.Poll = j.ID, 10*time.Millisecond
			if _, err := Work(ctx, client, o); !errors.Is(err, ErrRefused) {
				t.Errorf("worker %s: %v, want it to refuse the job", o.ID, err)
			}
		}
		wg.Go(func() {
			if _, err := Work(ctx, client, WorkerOptions{ID: "honest", Key: key, Job: j.ID, Poll: 10 * time.Millisecond}); err != nil {
				t.Error(err)
			}
		})
	}})
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got.SumBits != want.SumBits || got.ByWorker["honest"] != j.Chunks || len(got.ByWorker) != 1 {
		t.Errorf("bits %s (local %s), by worker %v", got.SumBits, want.SumBits, got.ByWorker)
	}
	if got.Rejected != 6 {
		t.Errorf("rejected %d records, want the 6 forged: %q", got.Rejected, got.RejectReasons)
	}
	reasons := strings.Join(got.RejectReasons, "\n")
	for _, why := range []string{"not sent through the queue", "another-job"} {
		if !strings.Contains(reasons, why) {
			t.Errorf("no reason says %q:\n%s", why, reasons)
		}
	}
}
