package partial_test

import (
	"fmt"

	"github.com/pishm/pishm/engine/partial"
)

// Two halves of a sum, reduced apart (on two machines, say), merge into
// the exact state of the whole: its one rounding is the correctly rounded
// sum, which adding the rounded halves is not.
func ExamplePartial_Merge() {
	a := partial.New(partial.Sum)
	a.Add(0, 1e16)
	a.Add(0, 1)
	b := partial.New(partial.Sum)
	b.Add(0, 1)
	b.Add(0, -1e16)

	wire, _ := b.MarshalBinary() // what travels
	var got partial.Partial
	if err := got.UnmarshalBinary(wire); err != nil {
		panic(err)
	}
	fmt.Println("rounded halves added:", a.Value()+got.Value())
	if err := a.Merge(got); err != nil {
		panic(err)
	}
	fmt.Println("merged, rounded once:", a.Value())
	// Output:
	// rounded halves added: 0
	// merged, rounded once: 2
}
