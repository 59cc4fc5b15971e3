package queue

import (
	"context"
	"encoding/binary"
	"errors"
	"math"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/internal/syncbuf"
)

// envNoFunc makes a worker process of this test binary a program without
// the test Funcs.
const envNoFunc = "PISHM_QUEUE_TEST_NOFUNC"

// The test Funcs: a piece's value is a left-to-right float64 sum of its
// terms, which rounds at every step, so a chunk boundary off the grid, or
// a chunk reduced apart and rounded, would show in the last bits.
func harmonic(_ []byte, lo, hi uint64) float64 {
	var s float64
	for k := lo; k < hi; k++ {
		s += 1 / float64(k+1)
	}
	return s
}

// wave reads its params: are a float64 amplitude (little-endian);
// its piece value is the largest of amplitude*sin(k) in the piece.
func wave(params []byte, lo, hi uint64) float64 {
	a := math.Float64frombits(binary.LittleEndian.Uint64(params))
	best := math.Inf(-1)
	for k := lo; k < hi; k++ {
		best = math.Max(best, a*math.Sin(float64(k)))
	}
	return best
}

// moments is a vector Func: the count, the sum, the least and the
// largest of the terms 1/(k+1).
func moments(_ []byte, lo, hi uint64, v *engine.Vector) {
	for k := lo; k < hi; k++ {
		x := 1 / float64(k+1)
		v.Add(0, 1)
		v.Add(1, x)
		v.Add(2, x)
		v.Add(3, x)
	}
}

func init() {
	if os.Getenv(envNoFunc) == "" {
		engine.Register("queue-test-harmonic", harmonic, []partial.Op{partial.Sum})
		engine.Register("queue-test-wave", wave, []partial.Op{partial.Max})
		engine.Register("queue-test-moments", moments, []partial.Op{partial.Sum, partial.Sum, partial.Min, partial.Max})
		engine.Register("queue-test-tele", tele, []partial.Op{partial.Sum}, engine.WithClosedForm(teleClosed))
		// A liar: the telescoping sum one part in 1e9 off, which its
		// closed form refutes.
		engine.Register("queue-test-tele-liar", func(p []byte, lo, hi uint64) float64 { return tele(p, lo, hi) * (1 + 1e-9) },
			[]partial.Op{partial.Sum}, engine.WithClosedForm(teleClosed))
	}
}

// testFunc is the Func of the tests that need any Func with a closed
// form, so that the coordinator checks every chunk.
const testFunc = "queue-test-tele"

// tele is a telescoping series with a closed form: 1/((k+1)(k+2)) over
// [lo, hi) sums to 1/(lo+1) − 1/(hi+1). Each piece is summed with
// Neumaier's compensation, so that a piece's value is within an ulp or so
// and the whole within the engine's 1e-15 of the closed form.
func tele(_ []byte, lo, hi uint64) float64 {
	var s, c float64
	for k := lo; k < hi; k++ {
		x := 1 / (float64(k+1) * float64(k+2))
		t := s + x
		if math.Abs(s) >= math.Abs(x) {
			c += (s - t) + x
		} else {
			c += (x - t) + s
		}
		s = t
	}
	return s + c
}

func teleClosed(_ []byte, lo, hi uint64) float64 {
	return float64(hi-lo) / (float64(lo+1) * float64(hi+1))
}

// TestClosedFormChunks: a job of a Func registered with a closed form is
// checked chunk by chunk (a worker's record that the closed
// form refutes is rejected), and its result carries the exact sum; a Func
// without one is not checked.
func TestClosedFormChunks(t *testing.T) {
	j := Job{Func: "queue-test-tele", N: 1_000_003, Chunks: 7}
	for i := range j.Chunks {
		want, tol := j.Exact(i)
		lo, hi := j.Bounds(i)
		if got := tele(nil, lo, hi); math.Abs(got-want) > tol {
			t.Errorf("chunk %d: summed %v, closed form %v ± %v", i, got, want, tol)
		}
		if why := j.checkChunk(i, want); why != "" {
			t.Errorf("chunk %d: the exact value rejected: %s", i, why)
		}
		if why := j.checkChunk(i, want*(1+1e-9)); why == "" {
			t.Errorf("chunk %d: a value 1e-9 off accepted", i)
		}
	}
	r, err := Local(context.Background(), j)
	if err != nil || r.SumExact != teleClosed(nil, 0, j.N) || math.Abs(r.SumRelError) > SumRelTol {
		t.Errorf("Local: %v (exact %v, relative error %v)", err, r.SumExact, r.SumRelError)
	}
	h := Job{Func: "queue-test-harmonic", N: 1000, Chunks: 2}
	if why := h.checkChunk(0, -1); why != "" {
		t.Errorf("a Func without a closed form was checked: %s", why)
	}
}

// exactPieces is the reference: f on every piece of the grid of grain
// terms in [0, n), added in big.Float wide enough to be exact for any
// float64s (or kept as the maximum), rounded once.
func exactPieces(f engine.Func, op partial.Op, n, grain uint64) float64 {
	sum := new(big.Float).SetPrec(4096)
	best := math.Inf(-1)
	for a := uint64(0); a < n; a += grain {
		v := f(nil, a, min(n, a+grain))
		if op == partial.Max {
			best = math.Max(best, v)
			continue
		}
		sum.Add(sum, new(big.Float).SetFloat64(v))
	}
	if op == partial.Max {
		return best
	}
	v, _ := sum.Float64()
	return v
}

func amplitude(a float64) []byte { return binary.LittleEndian.AppendUint64(nil, math.Float64bits(a)) }

// TestFuncJobExact: jobs of the program's own Funcs (a Sum, and a Max
// that reads params) submitted with Submit and served by two in-process
// workers (Serve) give the exact reduction of the pieces, the value of
// engine.Reduce on this machine bit for bit.
func TestFuncJobExact(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	for _, id := range []string{"w1", "w2"} {
		wg.Go(func() {
			if _, err := Serve(ctx, client, WorkerOptions{ID: id, Poll: 20 * time.Millisecond, WaitNote: -1}); err != nil {
				t.Errorf("Serve %s: %v", id, err)
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	const n = 2_000_003
	for _, c := range []struct {
		job Job
		f   engine.Func
		op  partial.Op
	}{
		{Job{Func: "queue-test-harmonic", N: n, Chunks: 13}, harmonic, partial.Sum},
		{Job{Func: "queue-test-wave", N: n, Chunks: 7, Params: amplitude(3.5), Workers: 2}, func(_ []byte, lo, hi uint64) float64 { return wave(amplitude(3.5), lo, hi) }, partial.Max},
	} {
		s, err := Submit(ctx, client, c.job, CoordinateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		red, err := s.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := exactPieces(c.f, c.op, n, s.Job.Grain)
		if math.Float64bits(red.Value) != math.Float64bits(want) || red.Func != c.job.Func || red.Op != c.op.String() || red.N != n {
			t.Errorf("%s: %+v, want value %v", c.job.Func, red, want)
		}
		if s.Job.Grain != catalog.DefaultGrain(n) {
			t.Errorf("%s: grain %d, want the engine's default %d", c.job.Func, s.Job.Grain, catalog.DefaultGrain(n))
		}
		local, err := engine.Reduce(ctx, c.job.Func, n, engine.WithParams(c.job.Params))
		if err != nil {
			t.Fatal(err)
		}
		if !local.Partial.Equal(red.Partial) {
			t.Errorf("%s: the job's exact state is not engine.Reduce's", c.job.Func)
		}
		if r := s.Result(); r.Chunks != c.job.Chunks || r.Sum != red.Value || len(r.ByWorker) == 0 {
			t.Errorf("%s: result %+v", c.job.Func, r)
		}
	}
}

// TestRedundancyCatchesLiar: with Redundancy 2 and three workers, one that
// sends a wrong state for a chunk is outvoted, the chunk goes to the third
// worker, and the job is still exact; a worker that lies twice is shunned
// (it stops with ErrShunned), and the job is exact too.
func TestRedundancyCatchesLiar(t *testing.T) {
	client, _ := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 1_000_000
	for _, lies := range []int{1, 2} {
		j := Job{Func: "queue-test-harmonic", N: n, Chunks: 6, Redundancy: 2, Lease: 5 * time.Minute}
		liarErr := make(chan error, 1)
		lied := make(chan struct{})
		var wg sync.WaitGroup
		work := func(j Job, id string, tamper func(int, *partial.Partial)) {
			o := WorkerOptions{ID: id, Job: j.ID, Poll: 20 * time.Millisecond, NoSpeculate: true, tamper: tamper}
			wg.Go(func() {
				_, err := Work(ctx, client, o)
				if id == "liar" {
					liarErr <- err
				} else if err != nil {
					t.Errorf("%s: %v", id, err)
				}
			})
		}
		// The liar starts alone and lies on the first chunks it computes
		// (a copy each: it never gets both copies of one chunk); the honest
		// two start when it holds one more chunk, and compute the other
		// copies. When it lies ShunAfter times, it holds that last chunk
		// until the coordinator has shunned it, so that its next take,
		// while the job still waits for that chunk, meets the ban.
		s, err := Submit(ctx, client, j, CoordinateOptions{Started: func(j Job, _ int) {
			calls := 0
			work(j, "liar", func(chunk int, p *partial.Partial) {
				calls++
				switch {
				case calls <= lies:
					p.Add(0, 1e-9)
				case calls == lies+1:
					close(lied)
					for lies >= ShunAfter && !client.HExists(ctx, keysOf(j.ID).shunned(), "liar").Val() && ctx.Err() == nil {
						time.Sleep(5 * time.Millisecond) // polls a condition
					}
				}
			})
			go func() {
				<-lied
				work(j, "honest1", nil)
				work(j, "honest2", nil)
			}()
		}})
		if err != nil {
			t.Fatal(err)
		}
		red, err := s.Wait(ctx)
		wg.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if want := exactPieces(harmonic, partial.Sum, n, s.Job.Grain); math.Float64bits(red.Value) != math.Float64bits(want) {
			t.Errorf("lies %d: %v, want %v", lies, red.Value, want)
		}
		r := s.Result()
		lerr := <-liarErr
		if got := r.Outvoted["liar"]; got != lies || len(r.Outvoted) != 1 || r.Disputes != lies {
			t.Errorf("lies %d: outvoted %v, disputes %d", lies, r.Outvoted, r.Disputes)
		}
		if lies >= ShunAfter {
			if !errors.Is(lerr, ErrShunned) || len(r.Shunned) != 1 || r.Shunned[0] != "liar" {
				t.Errorf("lies %d: shunned %v, liar's Work: %v", lies, r.Shunned, lerr)
			}
		} else if lerr != nil {
			t.Errorf("lies %d: liar's Work: %v", lies, lerr)
		}
		t.Logf("lies %d: outvoted %v, shunned %v, disputes %d, duplicates %d", lies, r.Outvoted, r.Shunned, r.Disputes, r.Duplicates)
	}
}

// TestRefusals: a worker process whose program lacks the job's Func, and
// a worker of another build, refuse the job with a dead letter naming
// them and why, take no lease, and the job is done by a worker that has
// the Func, exactly.
func TestRefusals(t *testing.T) {
	client, url := newClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const n = 500_000
	j := Job{Func: "queue-test-harmonic", N: n, Chunks: 5}
	var able sync.WaitGroup
	var refusedMu sync.Mutex
	var refused []string
	s, err := Submit(ctx, client, j, CoordinateOptions{Refused: func(worker, why string) {
		refusedMu.Lock()
		refused = append(refused, worker+": "+why)
		refusedMu.Unlock()
	}, Started: func(j Job, _ int) {
		k := keysOf(j.ID)
		lacking := startWorker(t, url, j.ID, envNoFunc+"=1")
		if err := lacking.wait(t, time.Minute); err == nil {
			t.Errorf("the worker without the Func exited 0:\n%s", lacking.output())
		}
		if out := lacking.output(); !strings.Contains(out, `no Func registered as "queue-test-harmonic"`) {
			t.Errorf("the worker without the Func says:\n%s", out)
		}
		// Another build: the job as a worker of another build sees it.
		other := j
		other.Engine = "0123456789abcdef0123456789abcdef"
		if err := compatible(other, WorkerOptions{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "another build") {
			t.Errorf("another build: %v", err)
		}
		if err := refuse(ctx, client, &retrier{window: time.Second}, j, "stale", compatible(other, WorkerOptions{})); !errors.Is(err, ErrRefused) {
			t.Errorf("refuse: %v", err)
		}
		if l, _ := client.ZCard(ctx, k.leases()).Result(); l != 0 {
			t.Errorf("%d leases taken by refusing workers", l)
		}
		if a, _ := client.HLen(ctx, k.attempts()).Result(); a != 0 {
			t.Errorf("%d chunks counted attempts by refusing workers", a)
		}
		// The one worker that can do it.
		able.Go(func() {
			if _, err := Work(ctx, client, WorkerOptions{ID: "able", Job: j.ID, Poll: 20 * time.Millisecond}); err != nil {
				t.Error(err)
			}
		})
	}})
	if err != nil {
		t.Fatal(err)
	}
	red, err := s.Wait(ctx)
	able.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if want := exactPieces(harmonic, partial.Sum, n, s.Job.Grain); math.Float64bits(red.Value) != math.Float64bits(want) {
		t.Errorf("%v, want %v", red.Value, want)
	}
	r := s.Result()
	dead := strings.Join(r.DeadLetters, "\n")
	if len(r.DeadLetters) != 2 || !strings.Contains(dead, "no Func registered") || !strings.Contains(dead, "worker stale refused the job") ||
		!strings.Contains(dead, "another build") || r.ByWorker["able"] != j.Chunks {
		t.Errorf("dead letters:\n%s\nby worker %v", dead, r.ByWorker)
	}
	refusedMu.Lock()
	defer refusedMu.Unlock()
	if len(refused) != 2 || !strings.Contains(strings.Join(refused, "\n"), "stale: ") {
		t.Errorf("the coordinator was told of the refusals as %q, want both, as they came", refused)
	}
}

// TestNotes: an idle worker says now and then that it waits, and a
// coordinator reports chunks done out of the total, the last time all.
func TestNotes(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	var status syncbuf.Buffer
	_, err := Work(ctx, client, WorkerOptions{Wait: 300 * time.Millisecond, WaitNote: 50 * time.Millisecond, Poll: 20 * time.Millisecond, Status: &status})
	if !errors.Is(err, ErrNoJob) || strings.Count(status.String(), "waiting for a job") < 2 {
		t.Errorf("Work: %v; status:\n%s", err, status.String())
	}
	var notes [][2]int
	var wg sync.WaitGroup
	defer wg.Wait()
	res, err := Coordinate(ctx, client, Job{Func: "queue-test-harmonic", N: 100_000, Chunks: 4}, CoordinateOptions{
		Progress: func(done, total int) { notes = append(notes, [2]int{done, total}) }, ProgressEvery: time.Millisecond,
		Started: func(j Job, _ int) {
			wg.Go(func() {
				if _, err := Work(ctx, client, WorkerOptions{Job: j.ID, Poll: 20 * time.Millisecond}); err != nil {
					t.Error(err)
				}
			})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) == 0 || notes[len(notes)-1] != [2]int{res.Chunks, res.Chunks} {
		t.Errorf("progress notes %v", notes)
	}
}

// TestVectorJobExact: a vector Func's job gives each element's exact
// answer, computed from the terms alone.
func TestVectorJobExact(t *testing.T) {
	client, _ := newClient(t)
	ctx := context.Background()
	const n = 300_007
	var wg sync.WaitGroup
	sub, err := Submit(ctx, client, Job{Func: "queue-test-moments", N: n, Chunks: 5, Redundancy: 2}, CoordinateOptions{Started: func(j Job, _ int) {
		for _, id := range []string{"a", "b"} {
			wg.Go(func() {
				if _, err := Work(ctx, client, WorkerOptions{ID: id, Job: j.ID, Poll: 20 * time.Millisecond}); err != nil {
					t.Error(err)
				}
			})
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	red, err := sub.Wait(ctx)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	sum := new(big.Float).SetPrec(4096)
	for k := uint64(0); k < n; k++ {
		sum.Add(sum, new(big.Float).SetFloat64(1/float64(k+1)))
	}
	s, _ := sum.Float64()
	want := []float64{n, s, 1 / float64(n), 1}
	if len(red.Values) != 4 || red.Op != "sum,sum,min,max" || sub.Job.Op != red.Op {
		t.Fatalf("values %v, op %q (job %q)", red.Values, red.Op, sub.Job.Op)
	}
	for i := range want {
		if red.Values[i] != want[i] {
			t.Errorf("element %d: %v, want %v", i, red.Values[i], want[i])
		}
	}
	if r := sub.Result(); len(r.Values) != 4 || r.Sum != n {
		t.Errorf("result values %v, sum %v", r.Values, r.Sum)
	}
}
