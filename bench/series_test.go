package bench

import (
	"slices"
	"testing"

	"github.com/pishm/pishm/engine/catalog"
	// The benchmarks reduce the pi series, which package engine/pi
	// registers when imported: its Funcs ("pi", "pi/avx512", ...) must be
	// known to this test binary, which is also every worker's program.
	_ "github.com/pishm/pishm/engine/pi"
)

// TestSeriesRegistered fails the suite, not only a benchmark run that
// nobody makes in CI, when the benchmarks' Func is missing.
func TestSeriesRegistered(t *testing.T) {
	if !slices.Contains(catalog.Funcs(), "pi") {
		t.Fatalf("the benchmarks' Func \"pi\" is not registered (have %v)", catalog.Funcs())
	}
}
