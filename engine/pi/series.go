package pi

import (
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/internal/opt"
	"github.com/pishm/pishm/engine/partial"
)

// The series S(lo, hi) = sum_{k=lo}^{hi-1} 1/(2k+1)^2 is registered here,
// when a program imports this package, as a user's Func is: with
// engine.Register and engine.WithClosedForm, once per CPU kernel compiled
// in, as "pi/<kernel>" ("pi/avx512", "pi/generic": each kernel rounds in
// its own way, so each is a Func of its own), and as "pi", the kernel
// that PISHM_KERNEL names or else the best this CPU runs, chosen when the
// program starts. The one thing beyond a Go Func's registration is
// opt.Kernel: the Func is an assembly loop of the kernel package, which a
// forked worker runs without the Go runtime (lab.WithSpawn), and which a
// CPU without its instructions is refused before any worker starts.
func init() {
	for _, k := range kernel.All() {
		engine.Register(k.FuncName(), sumOf(k), []partial.Op{partial.Sum}, engine.WithClosedForm(closedForm), opt.Kernel(k.Name))
	}
	auto, _, err := kernel.Resolve("auto")
	if err != nil {
		auto = kernel.Best() // a bad PISHM_KERNEL is reported by Run, which resolves it per run
	}
	engine.Register(autoFunc, sumOf(auto), []partial.Op{partial.Sum}, engine.WithClosedForm(closedForm), opt.Kernel(auto.Name))
}

// autoFunc is the series with the kernel chosen at start-up.
const autoFunc = "pi"

// sumOf is k's loop as a Func (the series has no params).
func sumOf(k kernel.Kernel) engine.Func {
	return func(_ []byte, lo, hi uint64) float64 { return k.Sum(lo, hi) }
}

// closedForm is the series' sum over [lo, hi): it costs under a
// microsecond (15 ns far out in the series), next to a pool call's 10 µs
// or more.
func closedForm(_ []byte, lo, hi uint64) float64 { return exact.SumRange(lo, hi) }
