package queue

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// workerProc is a worker process started by a test: this test binary
// re-executed with envTestRedis set.
type workerProc struct {
	cmd   *exec.Cmd
	taken chan string // its "chunk ... taken" lines
	mu    sync.Mutex
	out   strings.Builder
	exit  chan error
}

func startWorker(t *testing.T, url, job string, env ...string) *workerProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	w := &workerProc{cmd: exec.Command(exe), taken: make(chan string, 100), exit: make(chan error, 1)}
	w.cmd.Env = append(append(os.Environ(), envTestRedis+"="+url, envTestJob+"="+job), env...)
	w.cmd.Stderr = os.Stderr
	stdout, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			w.mu.Lock()
			w.out.WriteString(line + "\n")
			w.mu.Unlock()
			if strings.Contains(line, " taken (") {
				w.taken <- line
			}
		}
		io.Copy(io.Discard, stdout)
		w.exit <- w.cmd.Wait()
	}()
	t.Cleanup(func() {
		w.cmd.Process.Kill()
		<-w.exit
	})
	return w
}

func (w *workerProc) output() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.out.String()
}

// wait returns the process's exit error, or fails t after d.
func (w *workerProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-w.exit:
		w.exit <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("worker %d still running after %v:\n%s", w.cmd.Process.Pid, d, w.output())
		return nil
	}
}

// chunkTerms is how many terms one engine process sums in about d here.
func chunkTerms(t *testing.T, j Job, d time.Duration) uint64 {
	t.Helper()
	const probe = 200_000_000
	p := j
	p.N, p.Chunks = probe, 1
	start := time.Now()
	if _, _, err := ComputeChunk(context.Background(), p, 0, nil); err != nil {
		t.Fatal(err)
	}
	return uint64(float64(probe) * d.Seconds() / time.Since(start).Seconds())
}

// TestKillWorkerMidChunk: four worker processes; one is SIGKILLed and one
// SIGTERMed while each holds a chunk. The killed one's chunk comes back
// when its lease lapses, the stopped one returns its own, and S is
// still bit-identical to Local's and exact.
func TestKillWorkerMidChunk(t *testing.T) {
	if testing.Short() {
		t.Skip("fault and outage runs: the full suite (go test without -short) has them")
	}
	client, url := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	j := Job{Func: testFunc, Workers: 1, Lease: 500 * time.Millisecond}.withDefaults()
	j.Chunks = 12
	j.N = uint64(j.Chunks) * chunkTerms(t, j, 250*time.Millisecond)
	t.Logf("n=%d chunks=%d func=%s", j.N, j.Chunks, j.Func)

	procs := make(chan []*workerProc, 1)
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Coordinate(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
			var ws []*workerProc
			for range 4 {
				ws = append(ws, startWorker(t, url, j.ID))
			}
			procs <- ws
		}})
		done <- outcome{res, err}
	}()
	var ws []*workerProc
	deadline := time.After(20 * time.Second)
	select {
	case ws = <-procs:
	case o := <-done:
		t.Fatalf("Coordinate returned before starting the workers: %v", o.err)
	}
	// Signal each of the first two workers while it holds a chunk.
	for i, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		select {
		case line := <-ws[i].taken:
			t.Logf("%v to pid %d after %q", sig, ws[i].cmd.Process.Pid, line)
		case <-deadline:
			t.Fatalf("worker %d took no chunk:\n%s", i, ws[i].output())
		}
		if err := ws[i].cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	var ee *exec.ExitError
	if err := ws[0].wait(t, 5*time.Second); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("killed worker: %v", err)
	}
	if err := ws[1].wait(t, 5*time.Second); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("stopped worker: %v, want exit status 3\n%s", err, ws[1].output())
	}
	if out := ws[1].output(); !strings.Contains(out, "returned to the queue") {
		t.Errorf("the stopped worker did not return its chunk:\n%s", out)
	}

	o := <-done
	if o.err != nil {
		t.Fatal(o.err)
	}
	for _, w := range ws[2:] {
		if err := w.wait(t, 5*time.Second); err != nil {
			t.Errorf("worker %d: %v\n%s", w.cmd.Process.Pid, err, w.output())
		}
	}
	if o.res.Reclaimed+o.res.Speculative < 1 {
		// Taken back when its lease lapsed, or run as a straggler's second
		// copy first if the queue ran dry before that.
		t.Errorf("reclaimed %d, speculative %d: the killed worker's chunk was not taken back", o.res.Reclaimed, o.res.Speculative)
	}
	if math.Abs(o.res.SumRelError) > 1e-15 {
		t.Errorf("S = %v, exact %v: relative error %g", o.res.Sum, o.res.SumExact, o.res.SumRelError)
	}
	want, err := Local(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	if o.res.SumBits != want.SumBits {
		t.Errorf("S = %v (%s) after the kill, local %v (%s)", o.res.Sum, o.res.SumBits, want.Sum, want.SumBits)
	}
	t.Logf("reclaimed %d, speculative %d, duplicates %d, by worker %v", o.res.Reclaimed, o.res.Speculative, o.res.Duplicates, o.res.ByWorker)
}
