// Package fold is the engine's exact running reduction, one element of
// it (Fold) and k of them (Folds), laid out without pointers so that it
// can live in a shared segment. Package partial wraps Folds as the
// public Partial; package engine publishes and merges Folds across
// processes.
package fold

import (
	"fmt"
	"math"
	"strings"

	"github.com/pishm/pishm/internal/superacc"
)

// Op says how partial results combine.
type Op uint8

// The operations a reduction can use.
const (
	// Sum adds the pieces' values exactly and rounds once: the correctly
	// rounded sum, whatever the order (IEEE for ±Inf and NaN: +Inf with
	// -Inf gives NaN).
	Sum Op = iota + 1
	// Min keeps the smallest piece value: NaN if any is NaN, and -0 is
	// below +0, so that the result does not depend on the order.
	Min
	// Max keeps the largest piece value, under the same rules.
	Max
)

// MaxK bounds the elements of one reduction (a VectorFunc's k).
const MaxK = 4096

func (op Op) String() string {
	switch op {
	case Sum:
		return "sum"
	case Min:
		return "min"
	case Max:
		return "max"
	}
	return fmt.Sprintf("Op(%d)", uint8(op))
}

// Identity is the value of an empty reduction.
func (op Op) Identity() float64 {
	switch op {
	case Min:
		return math.Inf(1)
	case Max:
		return math.Inf(-1)
	}
	return 0
}

// Pick is a Min or Max reduction's choice of x and v, the same whatever
// their order: NaN wins over any number, and -0 is below +0.
func (op Op) Pick(x, v float64) float64 {
	if op == Min {
		return superacc.MinOf(x, v)
	}
	return superacc.MaxOf(x, v)
}

// Format names ops as engine.Result.Op does: "sum" for a scalar Sum,
// "sum,sum,min" for a vector.
func Format(ops []Op) string {
	if len(ops) == 1 {
		return ops[0].String()
	}
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = op.String()
	}
	return strings.Join(s, ",")
}

// Fold is a running reduction: for Sum an exact accumulator, for Min and
// Max the extreme so far, under an order-independent rule (NaN wins, and
// -0 is below +0). Either way its value depends on the set of values
// added, not on their order or grouping. It lives in the engine's
// journal, so it holds no pointers.
type Fold struct {
	Acc  superacc.Acc // Sum
	Best float64      // Min, Max
	Op   Op
}

// New is the Fold of an empty reduction under op.
func New(op Op) Fold { return Fold{Op: op, Best: op.Identity()} }

// Add folds x in.
func (f *Fold) Add(x float64) {
	if f.Op == Sum {
		f.Acc.Add(x)
	} else {
		f.Best = f.Op.Pick(x, f.Best)
	}
}

// Merge adds everything o holds.
func (f *Fold) Merge(o *Fold) {
	if f.Op == Sum {
		f.Acc.Merge(&o.Acc)
	} else {
		f.Best = f.Op.Pick(o.Best, f.Best)
	}
}

// Value is the result: for Sum the exact total rounded once.
func (f *Fold) Value() float64 {
	if f.Op == Sum {
		return f.Acc.Round()
	}
	return f.Best
}

// Folds is a k-wide running reduction: one Fold per element.
type Folds []Fold

// Reset makes f the identity of ops.
func (f Folds) Reset(ops []Op) {
	for i := range f {
		f[i] = New(ops[i])
	}
}

// Merge adds everything o holds, element by element.
func (f Folds) Merge(o Folds) {
	for i := range f {
		f[i].Merge(&o[i])
	}
}

// Values appends each element's result to dst.
func (f Folds) Values(dst []float64) []float64 {
	for i := range f {
		dst = append(dst, f[i].Value())
	}
	return dst
}

// Ops are the elements' operations.
func (f Folds) Ops() []Op {
	ops := make([]Op, len(f))
	for i := range f {
		ops[i] = f[i].Op
	}
	return ops
}
