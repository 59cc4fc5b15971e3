// Package partial is the exact state of a reduction before its one
// rounding, and the operations a reduction combines its values with.
//
// Package engine returns a call's Partial in Result.Partial. Partials of
// disjoint ranges of one grid (engine.WithOffset) merge into the Partial
// of their union in any order or grouping, and its Value is then, bit for
// bit, the Value of one call over the union. A Partial travels in its
// binary form (MarshalBinary), so that a reduction can be cut into pieces
// that run on other machines.
package partial

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/internal/superacc"
)

// Op says how a reduction combines its values.
type Op = fold.Op

// The operations a reduction can use.
const (
	// Sum adds the values exactly and rounds once: the correctly rounded
	// sum, whatever the order (IEEE for ±Inf and NaN: +Inf with -Inf
	// gives NaN).
	Sum = fold.Sum
	// Min keeps the smallest value: NaN if any is NaN, and -0 is below
	// +0, so that the result does not depend on the order.
	Min = fold.Min
	// Max keeps the largest value, under the same rules.
	Max = fold.Max
)

// A Partial is the exact state of a reduction, before its one rounding:
// for Sum the exact accumulator of every value, for Min and Max the
// extreme under the order-independent rule. It holds one element per
// reduced value: a scalar Func has one, a VectorFunc k, each under its own
// Op. The zero Partial has no elements (a Result that no reduction made).
//
// A Partial copied by assignment is a separate value: Add and Merge
// change only the Partial they are called on.
type Partial struct {
	// elems is the only field: package engine, which builds a Result's
	// Partial in memory it reuses, reaches it by a pointer conversion.
	elems fold.Folds
}

// New returns the Partial of an empty reduction with ops, one per
// element: its Values are the ops' identities (0, +Inf, -Inf).
func New(ops ...Op) Partial {
	if len(ops) < 1 || len(ops) > fold.MaxK {
		panic(fmt.Sprintf("partial: New: %d elements, want 1 to %d", len(ops), fold.MaxK))
	}
	for _, op := range ops {
		if op < Sum || op > Max {
			panic(fmt.Sprintf("partial: New: bad op %v", op))
		}
	}
	p := Partial{elems: make(fold.Folds, len(ops))}
	p.elems.Reset(ops)
	return p
}

// Len is the number of elements.
func (p Partial) Len() int { return len(p.elems) }

// Add folds one more value into element i, as engine.Vector.Add does
// (the engine folds each piece's value so): for building a Partial by
// hand (a test, a value computed elsewhere).
func (p *Partial) Add(i int, x float64) {
	p.own()
	p.elems[i].Add(x)
}

// Value is element 0 rounded once (Sum) or the extreme (Min, Max): what
// engine.Result.Value is for the reduction p stands for.
func (p Partial) Value() float64 { return p.elems[0].Value() }

// Values are all the elements' values.
func (p Partial) Values() []float64 { return p.elems.Values(nil) }

// Ops are the elements' operations.
func (p Partial) Ops() []Op { return p.elems.Ops() }

// Exact is element i's exact value before its rounding (Sum), or the
// extreme (Min, Max); nil for an element out of range or a NaN.
func (p Partial) Exact(i int) *big.Float {
	if i < 0 || i >= len(p.elems) {
		return nil
	}
	f := &p.elems[i]
	if f.Op == Sum {
		return f.Acc.Big()
	}
	if f.Best != f.Best {
		return nil
	}
	return new(big.Float).SetFloat64(f.Best)
}

// Merge adds o's reduction into p's: afterwards p stands for the union of
// both ranges. They must have the same ops.
func (p *Partial) Merge(o Partial) error {
	if err := p.compatible(o); err != nil {
		return err
	}
	p.own()
	p.elems.Merge(o.elems)
	return nil
}

// own gives p its own copy of its elements, so that a Partial copied by
// assignment does not change with p.
func (p *Partial) own() { p.elems = append(fold.Folds(nil), p.elems...) }

func (p Partial) compatible(o Partial) error {
	if len(p.elems) != len(o.elems) {
		return fmt.Errorf("partial: Partials of %d and %d elements do not merge", len(p.elems), len(o.elems))
	}
	for i := range p.elems {
		if p.elems[i].Op != o.elems[i].Op {
			return fmt.Errorf("partial: element %d: %v does not merge with %v", i, p.elems[i].Op, o.elems[i].Op)
		}
	}
	return nil
}

// Equal reports whether p and o are the same exact state: the same ops
// and, element by element, the same exact sum and input counts (Sum) or
// the same extreme's bits (Min, Max). Two honest runs of one
// deterministic Func over one range are Equal.
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
var magic = [4]byte{'p', 's', 'p', '1'}

// ErrBadForm is wrapped by UnmarshalBinary's errors.
var ErrBadForm = errors.New("partial: not a Partial's binary form")

// MarshalBinary returns p's binary form. It is canonical: Equal Partials
// have the same bytes. It never fails.
func (p Partial) MarshalBinary() ([]byte, error) {
	b := append([]byte(nil), magic[:]...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(p.elems)))
	for i := range p.elems {
		f := &p.elems[i]
		b = append(b, byte(f.Op))
		if f.Op == Sum {
			b, _ = f.Acc.AppendBinary(b)
		} else {
			b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f.Best))
		}
	}
	return b, nil
}

// UnmarshalBinary sets p to the Partial whose binary form is b.
func (p *Partial) UnmarshalBinary(b []byte) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadForm}, args...)...)
	}
	if len(b) < 6 || [4]byte(b[:4]) != magic {
		return bad("no magic")
	}
	k := int(binary.LittleEndian.Uint16(b[4:]))
	if k < 1 || k > fold.MaxK {
		return bad("%d elements", k)
	}
	b = b[6:]
	elems := make(fold.Folds, k)
	for i := range elems {
		if len(b) < 1 {
			return bad("element %d is missing", i)
		}
		op := Op(b[0])
		b = b[1:]
		elems[i] = fold.New(op)
		switch op {
		case Sum:
			if len(b) < superacc.BinarySize {
				return bad("element %d: the accumulator is cut short", i)
			}
			if err := elems[i].Acc.UnmarshalBinary(b[:superacc.BinarySize]); err != nil {
				return bad("element %d: %v", i, err)
			}
			b = b[superacc.BinarySize:]
		case Min, Max:
			if len(b) < 8 {
				return bad("element %d: the value is cut short", i)
			}
			elems[i].Best = math.Float64frombits(binary.LittleEndian.Uint64(b))
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
