package engine

import "github.com/pishm/pishm/internal/superacc"

// fold is a running reduction: for Sum an exact accumulator, for Min and
// Max the extreme so far, under an order-independent rule (NaN wins, and
// -0 is below +0). Either way its value depends on the set of values
// added, not on their order or grouping. It lives in the journal, so it
// holds no pointers.
type fold struct {
	acc  superacc.Acc // Sum
	best float64      // Min, Max
	op   Op
}

func newFold(op Op) fold { return fold{op: op, best: op.identity()} }

func (f *fold) add(x float64) {
	if f.op == Sum {
		f.acc.Add(x)
	} else {
		f.best = f.op.pick(x, f.best)
	}
}

// merge adds everything o holds.
func (f *fold) merge(o *fold) {
	if f.op == Sum {
		f.acc.Merge(&o.acc)
	} else {
		f.best = f.op.pick(o.best, f.best)
	}
}

// value is the result: for Sum the exact total rounded once.
func (f *fold) value() float64 {
	if f.op == Sum {
		return f.acc.Round()
	}
	return f.best
}

// folds is a k-wide running reduction: one fold per element.
type folds []fold

// reset makes f the identity of ops.
func (f folds) reset(ops []Op) {
	for i := range f {
		f[i] = newFold(ops[i])
	}
}

// merge adds everything o holds, element by element.
func (f folds) merge(o folds) {
	for i := range f {
		f[i].merge(&o[i])
	}
}

// values appends each element's result to dst.
func (f folds) values(dst []float64) []float64 {
	for i := range f {
		dst = append(dst, f[i].value())
	}
	return dst
}
