//go:build amd64 && gc && !purego && !noasm

package textcol

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// The features haveDigits and haveLines check are the ones their
// assembly requires.
func TestAsmRequires(t *testing.T) {
	src, err := os.ReadFile("digits_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]cpuid.FeatureID{"SSE2": cpuid.SSE2, "SSSE3": cpuid.SSSE3, "SSE4.1": cpuid.SSE4,
		"AVX": cpuid.AVX, "AVX2": cpuid.AVX2, "BMI": cpuid.BMI1, "BMI2": cpuid.BMI2}
	for _, fn := range []struct {
		name  string
		needs []cpuid.FeatureID
	}{{"decimalDigits", digitsNeeds}, {"plainLines", linesNeeds}, {"plainLines128", linesNeeds}, {"blankLines", linesNeeds}, {"blankLines128", linesNeeds}} {
		_, text, ok := strings.Cut(string(src), "// func "+fn.name+"(")
		if !ok {
			t.Fatalf("digits_amd64.s has no %s", fn.name)
		}
		_, line, ok := strings.Cut(text, "// Requires: ")
		if !ok || strings.Index(text, "// Requires: ") > strings.Index(text, "TEXT ") {
			t.Fatalf("%s has no Requires line", fn.name)
		}
		line, _, _ = strings.Cut(line, "\n")
		var want []cpuid.FeatureID
		for _, n := range strings.Split(line, ", ") {
			f, ok := names[n]
			if !ok {
				t.Fatalf("%s requires %s, which its Go side does not check", fn.name, n)
			}
			want = append(want, f)
		}
		got := slices.Clone(fn.needs)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: the Go side checks %v, the assembly requires %v", fn.name, got, want)
		}
	}
}
