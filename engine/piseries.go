package engine

import (
	"fmt"
	"slices"

	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
)

// The pi series S(lo, hi) = sum_{k=lo}^{hi-1} 1/(2k+1)^2 is registered
// here as a user's Func is, with Register and WithClosedForm: once per CPU
// kernel compiled in, as "pi/<kernel>" ("pi/avx512", "pi/generic": each
// kernel rounds in its own way, so each is a Func of its own), and as "pi",
// the kernel that PISHM_KERNEL names or else the best this CPU runs,
// chosen when the program starts. Every check (the closed-form gate of
// Run, Reduce, Pool and the queue) and every fast path is driven by what
// the registration offers, never by the name. The one thing a user's Func
// cannot offer is withKernel: the Func is an assembly loop of the kernel
// package, which a forked worker runs without the Go runtime
// (Config.Spawn). Package engine/pi builds pi itself on these Funcs.
func init() {
	for _, k := range kernel.All() {
		Register(k.FuncName(), Sum, k.Sum, WithClosedForm(piClosedForm), withKernel(k.Name))
	}
	auto, _, err := kernel.Resolve("auto")
	if err != nil {
		auto = kernel.Best() // a bad PISHM_KERNEL is reported by package pi, which resolves it per run
	}
	Register(piAuto, Sum, auto.Sum, WithClosedForm(piClosedForm), withKernel(auto.Name))
}

// piAuto is the pi series with the kernel chosen at start-up.
const piAuto = "pi"

// piClosedForm is the pi series' sum over [lo, hi): it costs under a
// microsecond (15 ns far out in the series), next to a pool call's 10 µs
// or more.
func piClosedForm(_ []byte, lo, hi uint64) float64 { return exact.SumRange(lo, hi) }

// withKernel marks a Func as the kernel package's loop of that name: a
// forked worker can run it if it is one of forkKernels, and a call fails
// with a clear error where this CPU cannot run it.
func withKernel(name string) RegisterOption {
	return func(j *job) { j.kernel = name }
}

// forkable says forked workers can run j: its Func is one of the assembly
// kernels a forked child runs without Go.
func (j job) forkable() bool { return j.kernel != "" && slices.Contains(forkKernels, j.kernel) }

// runnable fails for a kernel's Func that this CPU cannot run (the
// kernel's instructions would kill every worker with SIGILL).
func (j job) runnable() error {
	if j.kernel == "" {
		return nil
	}
	if _, err := kernel.ByName(j.kernel); err != nil {
		return fmt.Errorf("engine: %q: %w", j.name, err)
	}
	return nil
}
