package engine

import (
	"unsafe"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/partial"
)

// folds is the engine's running reduction, one fold.Fold per element.
type folds = fold.Folds

// partialFolds is the Folds inside *p. A partial.Partial is a struct of
// its Folds alone, so a pointer conversion reaches them: a call through a
// function that package partial set would move every Result it is given
// to the heap, and a Pool call that reuses its Result would allocate.
// TestPartialFolds keeps the two in step.
func partialFolds(p *partial.Partial) *folds { return (*folds)(unsafe.Pointer(p)) }

// The conversion needs the two to be the same size.
var (
	_ [unsafe.Sizeof(partial.Partial{}) - unsafe.Sizeof(folds(nil))]struct{}
	_ [unsafe.Sizeof(folds(nil)) - unsafe.Sizeof(partial.Partial{})]struct{}
)
