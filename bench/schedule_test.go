package bench

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/pishm/pishm/engine/lab"
)

// envSpin makes the bench binary a CPU hog (see TestMain).
const envSpin = "PISHM_BENCH_SPIN"

// spin burns CPU until killed.
func spin() {
	x := 1.0
	for {
		x = x*1.0000001 + 1e-9
		if x > 1e300 {
			x = 1
		}
	}
}

// loadOneCore starts a CPU hog pinned to CPU 0 (with taskset, when there is
// one) and returns its stop function.
func loadOneCore(b *testing.B) func() {
	b.Helper()
	args := []string{os.Args[0]}
	if path, err := exec.LookPath("taskset"); err == nil {
		args = append([]string{path, "-c", "0"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), envSpin+"=1")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	return func() { cmd.Process.Kill(); cmd.Wait() }
}

// BenchmarkSchedule runs two workers while a third process hogs one core:
// with static ranges the worker that shares the core finishes last and the
// run waits for it; with dynamic chunks the other worker takes more chunks.
func BenchmarkSchedule(b *testing.B) {
	const n = 5e9
	for _, load := range []int{0, 1} {
		for _, sched := range []lab.Schedule{lab.Static, lab.Dynamic} {
			b.Run(fmt.Sprintf("load=%d/sched=%s/workers=2", load, sched), func(b *testing.B) {
				if load == 1 {
					defer loadOneCore(b)()
				}
				runEach(b, lab.Config{N: n, Workers: 2, Sched: sched})
			})
		}
	}
}
