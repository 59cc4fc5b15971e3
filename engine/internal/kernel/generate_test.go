package kernel

import (
	"testing"

	"github.com/pishm/pishm/internal/avocheck"
)

// TestGenerated checks that the avo generator in _asm reproduces the
// committed kernel_amd64.s and stubs_amd64.go byte for byte (as
// _asm/check.sh does).
func TestGenerated(t *testing.T) {
	avocheck.Check(t, []string{"kernel_amd64.s", "stubs_amd64.go"},
		"-out", "../kernel_amd64.s", "-stubs", "../stubs_amd64.go", "-pkg", "kernel")
}
