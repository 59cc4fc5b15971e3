package textcol

import (
	"testing"

	"github.com/pishm/pishm/internal/avocheck"
)

// TestGenerated checks that the avo generator in _asm reproduces the
// committed digits_amd64.s byte for byte.
func TestGenerated(t *testing.T) {
	avocheck.Check(t, []string{"digits_amd64.s"}, "-out", "../digits_amd64.s")
}
