//go:build amd64 && gc && !purego && !noasm

package kernel

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// TestRequiresMatchAsm checks that each assembly kernel's Requires equals
// the "// Requires:" line avo wrote above its TEXT in kernel_amd64.s.
func TestRequiresMatchAsm(t *testing.T) {
	f, err := os.Open("kernel_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	asmReq := map[string][]string{} // TEXT symbol -> features
	var fn string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "// func "); ok {
			fn, _, _ = strings.Cut(rest, "(")
		}
		if rest, ok := strings.CutPrefix(line, "// Requires: "); ok && fn != "" {
			asmReq[fn] = strings.Split(rest, ", ")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, k := range All() {
		if k.Name == "generic" {
			continue
		}
		fn := "blocks" + strings.ToUpper(k.Name)
		names, ok := asmReq[fn]
		if !ok {
			t.Errorf("kernel=%s: no // Requires: line for %s in kernel_amd64.s", k.Name, fn)
			continue
		}
		var want []string
		for _, n := range names {
			if cpuid.ParseFeature(n) == cpuid.UNKNOWN {
				t.Errorf("kernel=%s: cpuid does not know feature %q of %s", k.Name, n, fn)
			}
			want = append(want, cpuid.ParseFeature(n).String())
		}
		var got []string
		for _, id := range k.Requires {
			got = append(got, id.String())
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("kernel=%s: Requires = %v, kernel_amd64.s says %s needs %v", k.Name, got, fn, want)
		}
		checked++
	}
	if checked != len(asmReq) {
		t.Errorf("checked %d kernels, kernel_amd64.s has %d functions: %v", checked, len(asmReq), asmReq)
	}
}

// On Intel the avx2 kernel comes first (Best), elsewhere avx512: the
// order byWidth gives register, which puts the last one first.
func TestByWidth(t *testing.T) {
	a, b := Kernel{Name: "avx2"}, Kernel{Name: "avx512"}
	for vendor, best := range map[cpuid.Vendor]string{cpuid.Intel: "avx2", cpuid.AMD: "avx512", cpuid.VendorUnknown: "avx512"} {
		ks := byWidth(a, b, vendor)
		if len(ks) != 2 || ks[1].Name != best {
			t.Errorf("%v: registered %v, want %s last (best)", vendor, ks, best)
		}
	}
}
