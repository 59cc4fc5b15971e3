package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/internal/redisserver"
	"github.com/pishm/pishm/internal/redistest"
	"github.com/pishm/pishm/internal/syncbuf"
	"github.com/pishm/pishm/queue"
	"github.com/redis/go-redis/v9"
)

// The fault tests in this file run pishm coordinate and pishm worker as
// real processes against a real redis-server, and inject each fault of the
// queue's design: a restarted or stopped redis-server, a stopped or killed
// coordinator, a stopped engine child, workers of one name, forged results
// and queue entries. Each ends exact (and bit-identical to -local), or
// with a clear error and exit 1. They wait for events (a result in the
// list, a key gone), not for the clock; the limits are generous.

// proc is a pishm process: this test binary with PISHM_TEST_MAIN=1.
type proc struct {
	cmd         *exec.Cmd
	out, stderr syncbuf.Buffer
	done        chan struct{}
	code        int
}

func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(os.Args[0], args...), done: make(chan struct{})}
	p.cmd.Env = append(append(os.Environ(), "PISHM_TEST_MAIN=1"), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

// wait returns p's exit status, or fails t after d.
func (p *proc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(d):
		t.Fatalf("pishm %q still running after %v\nstdout: %s\nstderr: %s", p.cmd.Args[1:], d, p.out.String(), p.stderr.String())
		return -1
	}
}

// expectFail checks that p exits 1 with want in its stderr, and that
// every line of its stderr is pishm's own (none from go-redis's logger).
func (p *proc) expectFail(t *testing.T, want string) {
	t.Helper()
	code := p.wait(t, 90*time.Second)
	errs := p.stderr.String()
	if code != 1 || !strings.Contains(errs, want) {
		t.Errorf("pishm %q: exit %d, stderr %q; want exit 1 and %q", p.cmd.Args[1:3], code, errs, want)
	}
	ownLines(t, errs)
}

func ownLines(t *testing.T, stderr string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "pishm: ") && !strings.HasPrefix(l, "worker ") {
			t.Errorf("a line on stderr that is not pishm's: %q", l)
		}
	}
}

// expectExact checks that p exits 0 with a JSON result bit-identical to
// want, and returns the result.
func (p *proc) expectExact(t *testing.T, want queue.Result) queue.Result {
	t.Helper()
	if code := p.wait(t, 90*time.Second); code != 0 {
		t.Fatalf("pishm %q: exit %d\nstdout: %s\nstderr: %s", p.cmd.Args[1:3], code, p.out.String(), p.stderr.String())
	}
	got := decodeResult(t, p.out.String())
	if got.SumBits != want.SumBits || got.SumRelError != want.SumRelError {
		t.Errorf("S %v (%s), -local %v (%s)", got.Sum, got.SumBits, want.Sum, want.SumBits)
	}
	ownLines(t, p.stderr.String())
	return got
}

// redisServer is a redis-server without persistence (internal/redisserver)
// that a test can freeze and restart on the same port.
type redisServer struct {
	*redisserver.Server
	url string
}

func newRedis(t *testing.T) *redisServer {
	t.Helper()
	s := redistest.Server(t)
	r := &redisServer{Server: s, url: s.URL}
	// Before the Stop that Server set up (cleanups run last first): a
	// test that failed with the server frozen.
	t.Cleanup(func() { r.signal(syscall.SIGCONT) })
	return r
}

// restart stops the server and starts a fresh one on the same port: its
// data are gone.
func (r *redisServer) restart(t *testing.T) {
	t.Helper()
	if err := r.Restart(); err != nil {
		t.Fatal(err)
	}
}

// signal sends sig to the server: SIGSTOP freezes it, SIGCONT thaws it.
func (r *redisServer) signal(sig syscall.Signal) { syscall.Kill(r.Pid(), sig) }

// waitFor polls cond every 10 ms, failing t after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within a minute", what)
		}
	}
}

// jobOf waits for the job a coordinator announces and returns it.
func jobOf(t *testing.T, c redis.UniversalClient, coord *proc) queue.Job {
	t.Helper()
	ctx := context.Background()
	var id string
	waitFor(t, "job", func() bool {
		select {
		case <-coord.done:
			t.Fatalf("coordinator exited %d: %s", coord.code, coord.stderr.String())
		default:
		}
		ids, _ := c.SMembers(ctx, "pishm:queue:jobs").Result()
		if len(ids) == 1 {
			id = ids[0]
		}
		return id != ""
	})
	s, err := c.Get(ctx, "pishm:queue:{"+id+"}:job").Result()
	if err != nil {
		t.Fatal(err)
	}
	var j queue.Job
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		t.Fatal(err)
	}
	return j
}

func key(j queue.Job, name string) string { return "pishm:queue:{" + j.ID + "}:" + name }

// waitResults waits until job j has at least n results.
func waitResults(t *testing.T, c *redis.Client, j queue.Job, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d results", n), func() bool {
		l, _ := c.LLen(context.Background(), key(j, "results")).Result()
		return l >= n
	})
}

func localResult(t *testing.T, job []string) queue.Result {
	t.Helper()
	out, stderr, code := pishm(t, append([]string{"coordinate", "-local", "-json"}, job...)...)
	if code != 0 {
		t.Fatalf("coordinate -local: exit %d: %s", code, stderr)
	}
	return decodeResult(t, out)
}

// TestQueueRedisRestart (fault 1): redis-server restarted without
// persistence mid-job. Both the coordinator and the worker notice that the
// job's keys vanished and exit 1 saying so; neither hangs or exits 0.
func TestQueueRedisRestart(t *testing.T) {
	r := newRedis(t)
	c := client(t, r.url)
	coord := startProc(t, nil, "coordinate", "-redis", r.url, "-n", "1e9", "-chunks", "1000", "-lease", "1s")
	j := jobOf(t, c, coord)
	w := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet")
	waitResults(t, c, j, 2)
	r.restart(t)
	coord.expectFail(t, "the job's keys vanished")
	w.expectFail(t, "the job's keys vanished")
}

// TestQueueCoordinatorStopped (fault 1): the coordinator SIGSTOPped until
// the job's keys expire (-retain 3s). The worker exits 1 saying the job is
// gone; the coordinator, continued, exits 1 the same way.
func TestQueueCoordinatorStopped(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	r := newRedis(t)
	c := client(t, r.url)
	coord := startProc(t, nil, "coordinate", "-redis", r.url, "-n", "1e9", "-chunks", "1000", "-lease", "500ms", "-retain", "3s")
	j := jobOf(t, c, coord)
	w := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet")
	waitResults(t, c, j, 2)
	coord.cmd.Process.Signal(syscall.SIGSTOP)
	w.expectFail(t, "the job's keys vanished")
	waitFor(t, "job key to expire", func() bool {
		n, _ := c.Exists(context.Background(), key(j, "job")).Result()
		return n == 0
	})
	coord.cmd.Process.Signal(syscall.SIGCONT)
	coord.expectFail(t, "the job's keys vanished")
}

// TestQueueCoordinatorRestart (faults 4 and 5): the coordinator SIGKILLed
// mid-job leaves only keys that expire; a worker without -job does not
// join the orphan; the same command started again resumes the job with
// the results kept and ends bit-identical to -local.
func TestQueueCoordinatorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	r := newRedis(t)
	c := client(t, r.url)
	ctx := context.Background()
	job := []string{"-n", "2e9", "-chunks", "120", "-lease", "500ms"}
	local := localResult(t, job)
	args := append([]string{"coordinate", "-redis", r.url, "-json"}, job...)
	coord := startProc(t, nil, args...)
	j := jobOf(t, c, coord)
	w := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet", "-json")
	waitResults(t, c, j, 3)
	coord.cmd.Process.Kill()
	coord.wait(t, time.Minute)

	keys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(keys) < 4 {
		t.Fatalf("keys after the kill: %q (%v)", keys, err)
	}
	for _, k := range keys {
		if ttl, err := c.PTTL(ctx, k).Result(); err != nil || ttl == -time.Nanosecond { // -1: no TTL; -2 (gone since KEYS) is fine
			t.Errorf("key %s has PTTL %v (%v): it would never expire", k, ttl, err)
		}
	}
	waitFor(t, "the dead coordinator's presence to lapse", func() bool {
		n, _ := c.Exists(ctx, key(j, "coord")).Result()
		return n == 0
	})
	orphan := startProc(t, nil, "worker", "-redis", r.url, "-wait", "1s", "-quiet")
	orphan.expectFail(t, "no job appeared")

	again := startProc(t, nil, args...)
	got := again.expectExact(t, local)
	if !got.Resumed || !strings.Contains(again.stderr.String(), "resumed") {
		t.Errorf("the second coordinator did not resume: %s", again.stderr.String())
	}
	if code := w.wait(t, time.Minute); code != 0 {
		t.Errorf("worker: exit %d: %s", code, w.stderr.String())
	}
	assertNoKeys(t, r.url)
}

// engineChild returns the pid of a child process of pid, or 0.
func engineChild(pid int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		if fs := strings.Fields(string(b)); len(fs) > 0 {
			n, _ := strconv.Atoi(fs[0])
			return n
		}
	}
	return 0
}

// TestQueueStoppedWorker (fault 2): one worker's engine child is
// SIGSTOPped mid-chunk (the worker process itself still answers), and a
// second worker of the same -id is SIGKILLed while it holds a chunk. The
// stuck chunk is given up when its progress stalls for -lease (or the
// engine kills its stopped process and redoes its share), the killed
// one's lease lapses, a third worker finishes, and S is exact.
func TestQueueStoppedWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	r := newRedis(t)
	c := client(t, r.url)
	job := []string{"-n", "6e9", "-chunks", "12", "-lease", "1s"}
	local := localResult(t, job)
	coord := startProc(t, nil, append([]string{"coordinate", "-redis", r.url, "-json"}, job...)...)
	j := jobOf(t, c, coord)
	a := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-id", "twin")
	b := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-id", "twin")
	var stopped int
	waitFor(t, "an engine child to stop", func() bool {
		if pid := engineChild(a.cmd.Process.Pid); pid != 0 && syscall.Kill(pid, syscall.SIGSTOP) == nil {
			stopped = pid
		}
		return stopped != 0
	})
	t.Cleanup(func() { syscall.Kill(stopped, syscall.SIGKILL) })
	waitFor(t, "the second twin to take a chunk", func() bool { return strings.Contains(b.stderr.String(), " taken (") })
	b.cmd.Process.Kill()
	startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID)
	got := coord.expectExact(t, local)
	// Either the queue gave the chunk up, or the engine itself killed its
	// stopped worker process and redid its share (it does after 2 s). The
	// worker says which once it has exited.
	a.wait(t, time.Minute)
	if errs := a.stderr.String(); !strings.Contains(errs, "no progress") && !strings.Contains(errs, "reclaimed by another worker") &&
		syscall.Kill(stopped, 0) == nil {
		t.Errorf("the stopped chunk was not given up, and the stopped process %d lives:\n%s", stopped, errs)
	}
	if got.Reclaimed+got.Speculative == 0 {
		t.Errorf("reclaimed %d, speculative %d: the killed twin's chunk never came back", got.Reclaimed, got.Speculative)
	}
}

// TestQueueForgedResults (fault 3, and 7): records pushed into the results
// list as redis-cli would (chunk 2 NaN, four chunks 0.25) are rejected and
// their chunks computed, a garbage queue entry goes to the dead letters
// without stopping the worker, and S is exact. Then forged records nudged
// within every chunk's bounds but together beyond the exact check: they
// answer no lease, are rejected, and the job is exact.
func TestQueueForgedResults(t *testing.T) {
	r := newRedis(t)
	c := client(t, r.url)
	ctx := context.Background()
	job := []string{"-n", "1e8", "-chunks", "16", "-lease", "1s"}
	local := localResult(t, job)
	coord := startProc(t, nil, append([]string{"coordinate", "-redis", r.url, "-json"}, job...)...)
	j := jobOf(t, c, coord)
	// A forged record: an exact state of one piece of value v.
	forged := func(chunk int, v float64) string {
		p := partial.New(partial.Sum)
		p.Add(0, v)
		b, _ := p.MarshalBinary()
		rec, _ := json.Marshal(map[string]any{"v": queue.Protocol, "job": j.ID, "chunk": chunk, "partial": b,
			"bits": fmt.Sprintf("%016x", math.Float64bits(p.Value())), "worker": "forger"})
		return string(rec)
	}
	if err := c.RPush(ctx, key(j, "results"), forged(2, math.NaN()), forged(0, 0.25), forged(1, 0.25), forged(3, 0.25), forged(4, 0.25)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.LPush(ctx, key(j, "queue"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	w := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet")
	got := coord.expectExact(t, local)
	if got.Rejected != 5 || len(got.DeadLetters) != 1 {
		t.Errorf("rejected %d (%q), dead letters %q; want 5 and the entry x", got.Rejected, got.RejectReasons, got.DeadLetters)
	}
	w.wait(t, time.Minute)
	// The same flags again name the same job, which ended: the command
	// reports its outcome, and no chunk is queued again.
	out, stderr, code := pishm(t, append([]string{"coordinate", "-redis", r.url, "-json"}, job...)...)
	var again struct {
		Replayed bool   `json:"replayed"`
		SumBits  string `json:"sum_bits"`
	}
	if err := json.Unmarshal([]byte(out), &again); code != 0 || err != nil || !again.Replayed || again.SumBits != got.SumBits {
		t.Errorf("the same job again: exit %d, %+v (%v), want its outcome replayed: %s", code, again, err, stderr)
	}
	if n, _ := c.LLen(ctx, key(j, "queue")).Result(); n != 0 {
		t.Errorf("the ended job's chunks were queued again: %d", n)
	}

	// Every chunk 5e-13 high: each within its bounds (1e-12), the sum not
	// (another chunk count: another job). Such records once passed every
	// chunk's check; now they answer no lease the queue issued, and are
	// rejected before any check: a worker computes the job exactly.
	job = []string{"-n", "1e8", "-chunks", "15", "-lease", "1s"}
	local = localResult(t, job)
	coord = startProc(t, nil, append([]string{"coordinate", "-redis", r.url, "-json"}, job...)...)
	j = jobOf(t, c, coord)
	var recs []any
	for i := range j.Chunks {
		v, _ := j.Exact(i)
		recs = append(recs, forged(i, v*(1+5e-13)))
	}
	if err := c.RPush(ctx, key(j, "results"), recs...).Err(); err != nil {
		t.Fatal(err)
	}
	startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet")
	if got := coord.expectExact(t, local); got.Rejected != j.Chunks || got.ByWorker["forger"] != 0 {
		t.Errorf("rejected %d of the %d forged records, by worker %v", got.Rejected, j.Chunks, got.ByWorker)
	}
	assertNoKeys(t, r.url)
}

// TestQueueRedisOutage (fault 6): redis-server SIGSTOPped for 2 s
// mid-job: coordinator and worker wait it out (-outage 30s) and S is
// exact. Then a coordinator with -outage 1s facing a frozen server exits 1
// saying how to resume; the results survive, and the same command resumes
// the job to the exact S.
func TestQueueRedisOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	r := newRedis(t)
	c := client(t, r.url)
	job := []string{"-n", "1e9", "-chunks", "200", "-lease", "1s"}
	local := localResult(t, job)
	coord := startProc(t, nil, append([]string{"coordinate", "-redis", r.url, "-json", "-outage", "30s"}, job...)...)
	j := jobOf(t, c, coord)
	w := startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet", "-outage", "2m")
	waitResults(t, c, j, 3)
	r.signal(syscall.SIGSTOP)
	time.Sleep(2 * time.Second) // the outage itself (twice the lease), not a wait for an event
	r.signal(syscall.SIGCONT)
	coord.expectExact(t, local)
	if code := w.wait(t, time.Minute); code != 0 {
		t.Errorf("worker: exit %d: %s", code, w.stderr.String())
	}

	// Another job (the first ended: its flags would report its outcome).
	job = []string{"-n", "1e9", "-chunks", "199", "-lease", "1s"}
	local = localResult(t, job)
	args := append([]string{"coordinate", "-redis", r.url, "-json", "-outage", "1s"}, job...)
	coord = startProc(t, nil, args...)
	j = jobOf(t, c, coord)
	w = startProc(t, nil, "worker", "-redis", r.url, "-job", j.ID, "-quiet", "-outage", "2m")
	waitResults(t, c, j, 3)
	r.signal(syscall.SIGSTOP)
	coord.expectFail(t, "resume with the same flags")
	r.signal(syscall.SIGCONT)
	again := startProc(t, nil, args...)
	if got := again.expectExact(t, local); !got.Resumed {
		t.Errorf("not resumed: %s", again.stderr.String())
	}
	if code := w.wait(t, time.Minute); code != 0 {
		t.Errorf("worker: exit %d: %s", code, w.stderr.String())
	}
	assertNoKeys(t, r.url)
}

// TestQueueSmall (fault 8): a timeout names the job once; the password
// comes from REDISCLI_AUTH or -redis-password-file, not only the URL.
func TestQueueSmall(t *testing.T) {
	url := redistest.Start(t)
	_, stderr, code := pishm(t, "coordinate", "-redis", url, "-n", "1000", "-chunks", "4", "-timeout", "300ms")
	if code != 1 || strings.Count(stderr, "queue:") != 1 || !strings.Contains(stderr, "timed out after 300ms") {
		t.Errorf("exit %d, stderr %q; want 1 and one prefix", code, stderr)
	}
	assertNoKeys(t, url)

	c := client(t, url)
	if err := c.ConfigSet(context.Background(), "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	worker := []string{"worker", "-redis", url, "-wait", "100ms", "-quiet"}
	if _, stderr, code := pishm(t, worker...); code != 1 || !strings.Contains(stderr, "NOAUTH") {
		t.Errorf("no password: exit %d, %q", code, stderr)
	}
	t.Setenv("REDISCLI_AUTH", "s3cret")
	if _, stderr, code := pishm(t, worker...); code != 1 || !strings.Contains(stderr, "no job appeared") {
		t.Errorf("REDISCLI_AUTH: exit %d, %q", code, stderr)
	}
	t.Setenv("REDISCLI_AUTH", "")
	file := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(file, []byte("s3cret\n"), 0o600)
	if _, stderr, code := pishm(t, append(worker, "-redis-password-file", file)...); code != 1 || !strings.Contains(stderr, "no job appeared") {
		t.Errorf("-redis-password-file: exit %d, %q", code, stderr)
	}
}

// TestQueueKey: a coordinator given the job key (-key-file) is served by
// a worker that holds it (here from PISHM_QUEUE_KEY) to the exact bits,
// and refused by one without it.
func TestQueueKey(t *testing.T) {
	r := newRedis(t)
	c := client(t, r.url)
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte("a-job-key-of-some-length\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	job := []string{"-n", "1e7", "-chunks", "4"}
	local := localResult(t, job)
	coord := startProc(t, nil, append([]string{"coordinate", "-redis", r.url, "-json", "-key-file", file}, job...)...)
	j := jobOf(t, c, coord)
	if _, stderr, code := pishm(t, "worker", "-redis", r.url, "-job", j.ID, "-quiet"); code != 1 || !strings.Contains(stderr, "job key") {
		t.Errorf("a worker without the key: exit %d, %q; want a refusal naming the key", code, stderr)
	}
	startProc(t, []string{queue.KeyEnv + "=a-job-key-of-some-length"}, "worker", "-redis", r.url, "-job", j.ID, "-quiet")
	coord.expectExact(t, local)
	if _, stderr, code := pishm(t, "worker", "-redis", r.url, "-key-file", filepath.Join(t.TempDir(), "none")); code != 2 || !strings.Contains(stderr, "key file") {
		t.Errorf("a missing key file: exit %d, %q; want a usage error", code, stderr)
	}
}

// TestQueueCluster: a job on a three-master Redis Cluster from the
// command line, its URL in go-redis's cluster form, the coordinator and
// two workers each given another master first: the bits are the local
// run's.
func TestQueueCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a three-master cluster: the full suite has it")
	}
	cl, err := redisserver.NewCluster(3)
	if errors.Is(err, redisserver.ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Stop() })
	urlFrom := func(first int) string { // the same cluster, another master first
		var addrs []string
		for i := range cl.Servers {
			if i != first {
				addrs = append(addrs, "addr="+cl.Servers[i].Addr)
			}
		}
		return "redis://" + cl.Servers[first].Addr + "?" + strings.Join(addrs, "&")
	}
	c, err := queue.NewClient(queue.ClientOptions{URL: cl.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	job := []string{"-n", "1e8", "-chunks", "12"}
	local := localResult(t, job)
	coord := startProc(t, nil, append([]string{"coordinate", "-redis", urlFrom(0), "-json"}, job...)...)
	j := jobOf(t, c, coord)
	for _, first := range []int{1, 2} {
		startProc(t, nil, "worker", "-redis", urlFrom(first), "-job", j.ID, "-quiet")
	}
	if got := coord.expectExact(t, local); len(got.ByWorker) == 0 {
		t.Errorf("no worker computed a chunk: %v", got.ByWorker)
	}
}
