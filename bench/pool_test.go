package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

// BenchmarkPool is the cost of one reduction of the pi series for a
// program that reduces many times, on two CPUs' worth of workers:
//
//	via=pool          a Pool of two worker processes started once (never in
//	                  process), the caller asleep while they work
//	via=pool-caller   a Pool of two with WithCallerShare: the caller sums
//	                  one share, one worker process the other
//	via=goroutines    two goroutines in the caller (the Goroutines mode)
//	via=exec          fresh worker processes per call (engine.Reduce)
//	via=cpool-passive the C anchor: two forked workers woken by FUTEX_WAKE,
//	                  the caller asleep on a futex (bench/anchor/cpool)
//	via=cpool-spin    the C anchor as an OpenMP team with active waiting:
//	                  the caller sums one share, one worker spins
//
// The C anchors time their own calls (the median of b.N) and run only
// where their scalar loop costs next to nothing (n <= 1e4). Compare with
// benchstat -col /via.
func BenchmarkPool(b *testing.B) {
	for _, n := range []uint64{1e3, 1e4, 1e6, 1e8} {
		for _, via := range []string{"pool", "pool-caller", "goroutines", "exec", "cpool-passive", "cpool-spin"} {
			if strings.HasPrefix(via, "cpool") && n > 1e4 {
				continue
			}
			b.Run(fmt.Sprintf("n=%.0e/workers=2/via=%s", float64(n), via), func(b *testing.B) {
				benchCall(b, n, via)
			})
		}
	}
}

// benchCall times calls of n terms of the series by via (see
// BenchmarkPool) on two CPUs' worth of workers.
func benchCall(b *testing.B, n uint64, via string) {
	if mode, ok := strings.CutPrefix(via, "cpool-"); ok {
		cpoolBench(b, n, mode)
		return
	}
	reduce := func() (engine.Result, error) {
		mode := lab.Slots
		if via == "goroutines" {
			mode = lab.Goroutines
		}
		return engine.Reduce(b.Context(), "pi", n, engine.WithWorkers(2), lab.WithMode(mode))
	}
	if strings.HasPrefix(via, "pool") {
		p, err := engine.NewPool(b.Context(), engine.WithWorkers(2), engine.WithInProcessBelow(0),
			engine.WithCallerShare(via == "pool-caller"))
		if err != nil {
			b.Fatal(err)
		}
		defer p.Close()
		reduce = func() (engine.Result, error) { return p.Reduce(b.Context(), "pi", n) }
		if via == "pool-static" {
			reduce = func() (engine.Result, error) { return p.Reduce(b.Context(), "pi", n, lab.WithSchedule(lab.Static)) }
		}
	}
	for b.Loop() {
		r, err := reduce()
		if err != nil {
			b.Fatal(err)
		}
		sink += r.Value
	}
}

// cpoolBench runs the C pool anchor for b.N calls of n terms and reports
// the median call it measured as ns/op.
func cpoolBench(b *testing.B, n uint64, mode string) {
	bin, err := cpoolBinary()
	if err != nil {
		b.Skip(err)
	}
	reps := max(b.N, 11)
	out, err := exec.CommandContext(b.Context(), bin, strconv.FormatUint(n, 10), strconv.Itoa(reps), mode).Output()
	if err != nil {
		b.Fatalf("cpool: %v", err)
	}
	var ns float64
	if _, err := fmt.Sscanf(string(out), "cpool "+mode+" n=%d: median %g ns/call", new(uint64), &ns); err != nil {
		b.Fatalf("cpool printed %q: %v", out, err)
	}
	b.ReportMetric(ns, "ns/op")
}

// cpoolDir holds the C pool anchor's binary, "" until it is built;
// TestMain removes it when the benchmarks end.
var cpoolDir string

// cpoolBinary builds bench/anchor/cpool once per test binary.
var cpoolBinary = sync.OnceValues(func() (string, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("no gcc for the C pool anchor: %w", err)
	}
	dir, err := os.MkdirTemp("", "pishm-cpool-")
	if err != nil {
		return "", err
	}
	cpoolDir = dir
	bin := filepath.Join(dir, "cpool")
	if out, err := exec.Command(gcc, "-O2", "-o", bin, "anchor/cpool/cpool.c").CombinedOutput(); err != nil {
		return "", fmt.Errorf("gcc cpool.c: %v: %s", err, out)
	}
	return bin, nil
})

// BenchmarkPoolCrossover finds where two pool workers start to beat two
// goroutines in the caller: the default of engine.WithInProcessBelow.
func BenchmarkPoolCrossover(b *testing.B) {
	p, err := engine.NewPool(b.Context(), engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for _, n := range []uint64{1e4, 3e4, 1e5, 3e5, 1e6, 3e6} {
		for _, via := range []string{"pool", "goroutines"} {
			b.Run(fmt.Sprintf("n=%.0e/workers=2/via=%s", float64(n), via), func(b *testing.B) {
				for b.Loop() {
					var r engine.Result
					var err error
					if via == "pool" {
						r, err = p.Reduce(b.Context(), "pi", n)
					} else {
						r, err = engine.Reduce(b.Context(), "pi", n, engine.WithWorkers(2), lab.WithMode(lab.Goroutines))
					}
					if err != nil {
						b.Fatal(err)
					}
					sink += r.Value
				}
			})
		}
	}
}

// BenchmarkPoolLoaded is BenchmarkPool on a machine that is busy: with
// load=hog one process busy-loops beside the benchmark for its whole run
// (as a service's neighbour would), with load=quiet none. On 2 CPUs the
// hog leaves the pool one CPU for the caller and its workers, so a waiter
// that spins steals the CPU from the very process it waits for. At 1e8,
// via=pool-static is the plain pool held to fixed ranges
// (lab.WithSchedule(lab.Static)), where the pool would pick chunks for so
// long a call. Compare with benchstat -col /via within each load.
func BenchmarkPoolLoaded(b *testing.B) {
	for _, load := range []string{"quiet", "hog"} {
		for _, n := range []uint64{1e3, 1e8} {
			for _, via := range []string{"pool", "pool-static", "pool-caller", "goroutines", "cpool-passive", "cpool-spin"} {
				if strings.HasPrefix(via, "cpool") && n > 1e4 || via == "pool-static" && n <= 1e4 {
					continue
				}
				b.Run(fmt.Sprintf("load=%s/n=%.0e/workers=2/via=%s", load, float64(n), via), func(b *testing.B) {
					if load == "hog" {
						stop := hog(b)
						defer stop()
					}
					benchCall(b, n, via)
				})
			}
		}
	}
}

// hog starts one process that busy-loops until the returned stop.
func hog(b *testing.B) (stop func()) {
	cmd := exec.Command("sh", "-c", "while :; do :; done")
	if err := cmd.Start(); err != nil {
		b.Skipf("no hog: %v", err)
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }
}
