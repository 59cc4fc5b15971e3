package cli

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

// PrintResult prints a pi run's result as text.
func PrintResult(w io.Writer, r pi.Result) {
	fmt.Fprintf(w, "pi        %.16f  (error %+.3e against math.Pi: the truncation of the series at n terms)\n", r.Pi, r.PiError)
	if r.Extrapolated {
		fmt.Fprintf(w, "pi+tail   %.16f  (error %+.3e: the same S_n plus the closed-form tail pi^2/8 - S_n)\n", r.PiExtrapolated, r.PiExtrapolatedError)
	}
	fmt.Fprintf(w, "S_n       %.16f  (exact %.16f, relative error %+.2e)\n", r.Sum, r.SumExact, r.SumRelError)
	spawn := ""
	if r.Spawn != "" {
		spawn = ", spawn " + r.Spawn
	}
	fmt.Fprintf(w, "n         %d terms, %d workers, mode %s, kernel %s, shm %s, sched %s%s\n", r.N, r.Workers, r.Mode, r.Kernel, r.Shm, r.Sched, spawn)
	fmt.Fprintf(w, "time      %v wall, %v work, %.3g terms/s\n", r.Wall.Round(time.Microsecond), r.Elapsed.Round(time.Microsecond), r.TermsPerSec)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "failure   worker %d (pid %d) died %s: %s; %s\n", f.Worker, f.Pid, f.When, f.How, f.Action)
	}
	if r.Mode == lab.Racy {
		fmt.Fprintln(w, racyLine(r.LostSum, r.SumExact, r.Publishes))
	}
	if r.Rebuilt {
		fmt.Fprintf(w, "note      the shared accumulator was set aside after a death; S_n was rebuilt from the workers' journals\n")
	}
}

// PrintWorkerDetail prints what a failed worker wrote, below the one-line
// error that ExitCode prints.
func PrintWorkerDetail(w io.Writer, we *engine.WorkerError) {
	detail := we.Stack
	if detail == "" {
		detail = we.Stderr
	}
	if detail != "" {
		fmt.Fprintf(w, "pishm: worker %d (pid %d) wrote:\n%s\n", we.Worker, we.Pid, detail)
	}
}

// racyLine says what the racy mode lost: the journals' exact total minus
// the accumulator. The accumulator also rounds each of its float adds, so
// a difference within one rounding per publish is no lost update: every
// partial is added once, and a lost one takes its whole value away.
func racyLine(lost, exact float64, publishes uint64) string {
	if rounding := float64(publishes) * math.Abs(exact) * 0x1p-52; math.Abs(lost) <= rounding {
		return fmt.Sprintf("racy      no update lost this run: the accumulator's %d adds differ from the exact total by %.3g, their rounding", publishes, lost)
	}
	return fmt.Sprintf("racy      %.3g of the sum (%.2g%%) lost by the unsynchronized load-add-store", lost, 100*lost/exact)
}
