package engine

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"

	"github.com/pishm/pishm/internal/superacc"
)

// A Partial is the exact state of a reduction, before its one rounding:
// for Sum the exact accumulator of every piece value, for Min and Max the
// extreme under the order-independent rule. Reductions of disjoint ranges
// of one grid (see WithOffset) merge into the Partial of their union in any
// order or grouping, and its Value is then, bit for bit, the Value of one
// Reduce over the union. It travels in its binary form (MarshalBinary), so
// a reduction can be cut into pieces that run on other machines.
//
// A Partial holds one element per reduced value: a scalar Func has one, a
// VectorFunc k, each under its own Op.
type Partial struct {
	elems folds
}

// NewPartial returns the Partial of an empty reduction with ops, one per
// element: its Values are the ops' identities (0, +Inf, -Inf).
func NewPartial(ops ...Op) Partial {
	if len(ops) < 1 || len(ops) > maxK {
		panic(fmt.Sprintf("engine: NewPartial: %d elements, want 1 to %d", len(ops), maxK))
	}
	for _, op := range ops {
		if op < Sum || op > Max {
			panic(fmt.Sprintf("engine: NewPartial: bad op %v", op))
		}
	}
	p := Partial{elems: make(folds, len(ops))}
	p.elems.reset(ops)
	return p
}

// Partial returns r's exact state (a copy: merging into it leaves r as it
// is). A Result that did not come from this package's reductions (a
// zero value, or one decoded from JSON) has none: its Partial is empty
// and Len is 0.
func (r *Result) Partial() Partial {
	if len(r.folds) == 0 {
		return Partial{}
	}
	return Partial{elems: append(folds(nil), r.folds...)}
}

// Add folds one more value into element i, as Vector.Add does (the
// engine folds each piece's value so): for building a Partial by hand (a
// test, a value computed elsewhere).
func (p *Partial) Add(i int, x float64) {
	p.own()
	p.elems[i].add(x)
}

// Value is element 0 rounded once (Sum) or the extreme (Min, Max): what
// Result.Value would be for the reduction p stands for.
func (p Partial) Value() float64 { return p.elems[0].value() }

// Values are all the elements' values.
func (p Partial) Values() []float64 { return p.elems.values(nil) }

// Ops are the elements' operations.
func (p Partial) Ops() []Op {
	ops := make([]Op, len(p.elems))
	for i := range p.elems {
		ops[i] = p.elems[i].op
	}
	return ops
}

// Merge adds o's reduction into p's: afterwards p stands for the union of
// both ranges. They must have the same ops.
func (p *Partial) Merge(o Partial) error {
	if err := p.compatible(o); err != nil {
		return err
	}
	p.own()
	p.elems.merge(o.elems)
	return nil
}

// own gives p its own copy of its elements, so that a Partial copied by
// assignment does not change with p.
func (p *Partial) own() { p.elems = append(folds(nil), p.elems...) }

func (p Partial) compatible(o Partial) error {
	if len(p.elems) != len(o.elems) {
		return fmt.Errorf("engine: Partials of %d and %d elements do not merge", len(p.elems), len(o.elems))
	}
	for i := range p.elems {
		if p.elems[i].op != o.elems[i].op {
			return fmt.Errorf("engine: Partial element %d: %v does not merge with %v", i, p.elems[i].op, o.elems[i].op)
		}
	}
	return nil
}

// Equal reports whether p and o are the same exact state: the same ops and,
// element by element, the same exact sum and input counts (Sum) or the
// same extreme's bits (Min, Max). Two honest runs of one deterministic
// Func over one range are Equal.
func (p Partial) Equal(o Partial) bool {
	a, _ := p.MarshalBinary()
	b, _ := o.MarshalBinary()
	return string(a) == string(b)
}

// String is the binary form in hex, for messages.
func (p Partial) String() string {
	b, _ := p.MarshalBinary()
	return hex.EncodeToString(b)
}

// The binary form of a Partial: the magic, the element count (uint16),
// then per element its op (one byte) and its state, little-endian: a Sum's
// accumulator in superacc's canonical form (superacc.BinarySize bytes), a
// Min's or Max's float64 bits (8 bytes).
var partialMagic = [4]byte{'p', 's', 'p', '1'}

// ErrBadPartial is wrapped by UnmarshalBinary's errors.
var ErrBadPartial = errors.New("engine: not a Partial's binary form")

// MarshalBinary returns p's binary form. It is canonical: Equal Partials
// have the same bytes. It never fails.
func (p Partial) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), partialMagic[:]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(p.elems)))
	for i := range p.elems {
		f := &p.elems[i]
		b = append(b, byte(f.op))
		if f.op == Sum {
			b, _ = f.acc.AppendBinary(b)
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.best))
		}
	}
	return b, nil
}

// UnmarshalBinary sets p to the Partial whose binary form is b.
func (p *Partial) UnmarshalBinary(b []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadPartial}, args...)...)
	}
	if len(b) < 6 || [4]byte(b[:4]) != partialMagic {
		return bad("no magic")
	}
	k := int(binary.LittleEndian.Uint16(b[4:]))
	if k < 1 || k > maxK {
		return bad("%d elements", k)
	}
	b = b[6:]
	elems := make(folds, k)
	for i := range elems {
		if len(b) < 1 {
			return bad("element %d is missing", i)
		}
		op := Op(b[0])
		b = b[1:]
		elems[i] = newFold(op)
		switch op {
		case Sum:
			if len(b) < superacc.BinarySize {
				return bad("element %d: the accumulator is cut short", i)
			}
			if err := elems[i].acc.UnmarshalBinary(b[:superacc.BinarySize]); err != nil {
				return bad("element %d: %v", i, err)
			}
			b = b[superacc.BinarySize:]
		case Min, Max:
			if len(b) < 8 {
				return bad("element %d: the value is cut short", i)
			}
			elems[i].best = math.Float64frombits(binary.LittleEndian.Uint64(b))
			b = b[8:]
		default:
			return bad("element %d: op %d", i, op)
		}
	}
	if len(b) != 0 {
		return bad("%d bytes after the last element", len(b))
	}
	p.elems = elems
	return nil
}

// Result returns the Result that p stands for: the Func registered as
// name, reduced over [0, n) on a grid of grain terms per piece (Value,
// Values, Op and Exact as Reduce sets them). The fields that describe a
// run on this machine (workers, mode, times) are zero; the caller sets
// what it knows of them.
func (p Partial) Result(name string, n, grain uint64) Result {
	r := Result{Func: name, N: n, Grain: grain, Sched: string(schedStatic)}
	if len(p.elems) > 0 {
		r.Values = p.elems.values(nil)
		r.Op, r.Value, r.folds = formatOps(p.Ops()), r.Values[0], append(folds(nil), p.elems...)
	}
	return r
}

// buildID names the build of this binary as far as results go
// (catalog.BuildID).
func buildID() string {
	s := buildStamp()
	return hex.EncodeToString(s[:])
}
