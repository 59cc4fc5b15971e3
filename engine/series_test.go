package engine

import (
	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/internal/opt"
)

// The package's tests reduce the series S(lo, hi) = sum 1/(2k+1)^2, whose
// closed form checks every result to 1e-15, with the CPU-tuned loops of
// package kernel: registered here as any program registers a Func, once
// per kernel as "oddsq/<kernel>" and as "oddsq", the best this CPU runs,
// each marked with its kernel so that forked workers can run it.
func init() {
	closed := func(_ []byte, lo, hi uint64) float64 { return exact.SumRange(lo, hi) }
	for _, k := range append(kernel.All(), kernel.Best()) {
		name := seriesPrefix + k.Name
		if _, taken := lookup(name); taken {
			name = "oddsq"
		}
		Register(name, func(_ []byte, lo, hi uint64) float64 { return k.Sum(lo, hi) }, []Op{Sum}, WithClosedForm(closed), opt.Kernel(k.Name))
	}
}

// seriesPrefix starts the name of each kernel's Func of the series.
const seriesPrefix = "oddsq/"
