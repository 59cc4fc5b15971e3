// Package catalog tells what fixes a result's bits in this program: the
// Funcs it registered (their ops and closed forms), the grid a call of n
// terms is cut into, and the build. The queue checks a job against it
// before running a share, so that a reduction cut between machines keeps
// the bits of one call; the command line lists it.
package catalog

import (
	"fmt"
	"strings"

	"github.com/pishm/pishm/engine/internal/opt"
	"github.com/pishm/pishm/engine/partial"
)

// Funcs lists the names given to engine.Register in this program, sorted.
func Funcs() []string { return opt.Catalog.Funcs() }

// Ops are the Ops of the Func registered as name, one per element, and
// whether there is one.
func Ops(name string) ([]partial.Op, bool) {
	raw, ok := opt.Catalog.Ops(name)
	ops := make([]partial.Op, len(raw))
	for i, o := range raw {
		ops[i] = partial.Op(o)
	}
	return ops, ok
}

// ClosedForm is the closed form the Func registered as name was given
// (engine.WithClosedForm), or nil when it has none or no Func has that
// name in this program.
func ClosedForm(name string) func(params []byte, lo, hi uint64) float64 {
	return opt.Catalog.ClosedForm(name)
}

// Runnable says why this program cannot run the Func registered as name
// on this CPU (no such Func; an assembly kernel whose instructions the CPU
// lacks), or nil.
func Runnable(name string) error { return opt.Catalog.Runnable(name) }

// BuildID names the build of this binary as far as results go: the
// worker protocol, the toolchain, the module's version and VCS state, and
// the build settings (the stamp a worker binary must share with its
// parent); for a build whose VCS state does not name its code (see
// BuildFromSource), also this executable file. Two programs with the same
// BuildID run the same Funcs, so a reduction cut between them keeps its
// bits.
func BuildID() string { return opt.Catalog.BuildID() }

// BuildFromSource says whether BuildID names the source this program was
// built from: a module version (go install m@v), a clean VCS checkout, or
// a build tag given to the linker
// (-ldflags=-X=github.com/pishm/pishm/engine.buildTag=NAME). Then another
// binary built from the same source, such as pishm-worker, shares it.
// Where it does not (uncommitted changes, -buildvcs=false), BuildID names
// this executable file alone, and only the same file, copied or
// re-executed, shares it.
func BuildFromSource() bool { return opt.Catalog.BuildFromSource() }

// DefaultGrain is the terms per piece of the grid of a call of n terms
// that sets no grain (engine.WithGrain): the smallest power of two, at
// least 512, that cuts n into at most 128 pieces, but no larger than
// 65536 until n needs more than 1024 of those; from there the smallest
// that keeps the pieces within 1024. It depends on n alone.
func DefaultGrain(n uint64) uint64 { return opt.Catalog.DefaultGrain(n) }

// FormatOps names ops as engine.Result.Op does: "sum" for a Func,
// "sum,sum,min" for a vector. ParseOps reads it back.
func FormatOps(ops []partial.Op) string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = op.String()
	}
	return strings.Join(s, ",")
}

// ParseOps reads ops as FormatOps writes them: "sum", or "sum,min,max"
// for a vector (at most 4096).
func ParseOps(s string) ([]partial.Op, error) {
	var ops []partial.Op
	for _, name := range strings.Split(s, ",") {
		op := partial.Op(0)
		for _, o := range []partial.Op{partial.Sum, partial.Min, partial.Max} {
			if o.String() == name {
				op = o
			}
		}
		if op == 0 {
			return nil, fmt.Errorf("catalog: %q is not an op (sum, min, max)", name)
		}
		ops = append(ops, op)
	}
	if len(ops) > 4096 {
		return nil, fmt.Errorf("catalog: %d ops, at most 4096", len(ops))
	}
	return ops, nil
}
