package stats

import (
	"testing"

	"github.com/pishm/pishm/internal/avocheck"
)

// TestGenerated checks that the avo generator in _asm reproduces the
// committed extract_amd64.s byte for byte.
func TestGenerated(t *testing.T) {
	avocheck.Check(t, []string{"extract_amd64.s"}, "-out", "../extract_amd64.s")
}
