package partial_test

import (
	"errors"
	"math"
	"testing"

	"github.com/pishm/pishm/engine/partial"
)

// The binary form round-trips every op's state, bit for bit, and Equal
// Partials have equal bytes.
func TestBinaryRoundTrip(t *testing.T) {
	p := partial.New(partial.Sum, partial.Min, partial.Max)
	for _, x := range []float64{3, math.Copysign(0, -1), 1e300, math.SmallestNonzeroFloat64, -7} {
		for i := range 3 {
			p.Add(i, x)
		}
	}
	b, _ := p.MarshalBinary()
	var q partial.Partial
	if err := q.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !q.Equal(p) || q.Len() != 3 {
		t.Fatalf("round trip: %v, want %v", q, p)
	}
	want := []float64{3 + 1e300 - 7 + math.SmallestNonzeroFloat64, -7, 1e300}
	for i, v := range q.Values() {
		if v != want[i] {
			t.Errorf("element %d (%v): %v, want %v", i, q.Ops()[i], v, want[i])
		}
	}
}

// What is not a Partial's binary form is refused with ErrBadForm, never
// read as a state: a cut, a byte too many, an unknown op, other bytes.
func TestBinaryRefused(t *testing.T) {
	good, _ := partial.New(partial.Sum, partial.Max).MarshalBinary()
	bad := map[string][]byte{
		"empty":      nil,
		"no magic":   append([]byte("xxxx"), good[4:]...),
		"cut":        good[:len(good)-1],
		"one more":   append(append([]byte(nil), good...), 0),
		"op 9":       func() []byte { b := append([]byte(nil), good...); b[6] = 9; return b }(),
		"0 elements": append(append([]byte(nil), good[:4]...), 0, 0),
	}
	for name, b := range bad {
		var p partial.Partial
		if err := p.UnmarshalBinary(b); !errors.Is(err, partial.ErrBadForm) {
			t.Errorf("%s: %v, want ErrBadForm", name, err)
		}
	}
}

// Partials of other ops or widths do not merge, and the one merged into
// is left as it was.
func TestMergeRefused(t *testing.T) {
	p := partial.New(partial.Sum)
	p.Add(0, 1)
	for _, o := range []partial.Partial{partial.New(partial.Min), partial.New(partial.Sum, partial.Sum)} {
		if err := p.Merge(o); err == nil {
			t.Errorf("merging %v into %v: no error", o.Ops(), p.Ops())
		}
	}
	if p.Value() != 1 {
		t.Errorf("after refused merges: %v, want 1", p.Value())
	}
}

// A copy is a separate value: Add on one leaves the other.
func TestCopyIsSeparate(t *testing.T) {
	p := partial.New(partial.Sum)
	p.Add(0, 1)
	q := p
	q.Add(0, 1)
	if p.Value() != 1 || q.Value() != 2 {
		t.Fatalf("p %v, q %v: want 1 and 2", p.Value(), q.Value())
	}
}
