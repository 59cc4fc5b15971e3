//go:build amd64 && gc && !purego && !noasm

package textcol

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// The features haveDigits checks are the ones the assembly requires.
func TestDigitsRequires(t *testing.T) {
	src, err := os.ReadFile("digits_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	_, line, ok := strings.Cut(string(src), "// Requires: ")
	if !ok {
		t.Fatal("digits_amd64.s has no Requires line")
	}
	line, _, _ = strings.Cut(line, "\n")
	names := map[string]cpuid.FeatureID{"SSE2": cpuid.SSE2, "SSSE3": cpuid.SSSE3, "SSE4.1": cpuid.SSE4}
	var want []cpuid.FeatureID
	for _, n := range strings.Split(line, ", ") {
		f, ok := names[n]
		if !ok {
			t.Fatalf("the assembly requires %s, which haveDigits does not check", n)
		}
		want = append(want, f)
	}
	got := slices.Clone(digitsNeeds)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("haveDigits checks %v, the assembly requires %v", got, want)
	}
}
