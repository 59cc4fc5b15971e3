package catalog_test

import (
	"slices"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/partial"
)

func init() {
	engine.Register("catalog-test", func(_ []byte, lo, hi uint64, v *engine.Vector) {}, []partial.Op{partial.Sum, partial.Min, partial.Max})
	engine.Register("catalog-test-closed", func(_ []byte, lo, hi uint64) float64 { return float64(hi - lo) }, []partial.Op{partial.Sum},
		engine.WithClosedForm(func(_ []byte, lo, hi uint64) float64 { return float64(hi - lo) }))
}

func TestCatalog(t *testing.T) {
	if !slices.Contains(catalog.Funcs(), "catalog-test") || !slices.IsSorted(catalog.Funcs()) {
		t.Errorf("Funcs() = %v", catalog.Funcs())
	}
	ops, ok := catalog.Ops("catalog-test")
	if !ok || catalog.FormatOps(ops) != "sum,min,max" {
		t.Errorf("Ops = %v, %v", ops, ok)
	}
	back, err := catalog.ParseOps(catalog.FormatOps(ops))
	if err != nil || !slices.Equal(back, ops) {
		t.Errorf("ParseOps(FormatOps(%v)) = %v, %v", ops, back, err)
	}
	if _, err := catalog.ParseOps("sum,avg"); err == nil {
		t.Error("ParseOps took avg")
	}
	if _, ok := catalog.Ops("no-such"); ok {
		t.Error("Ops of an unknown name")
	}
	if catalog.ClosedForm("catalog-test") != nil || catalog.ClosedForm("catalog-test-closed")(nil, 3, 10) != 7 {
		t.Error("ClosedForm: wrong Func's")
	}
	if catalog.Runnable("catalog-test") != nil || catalog.Runnable("no-such") == nil {
		t.Error("Runnable: a registered Go Func must run, an unknown name must not")
	}
	if id := catalog.BuildID(); id == "" || id != catalog.BuildID() {
		t.Error("BuildID is empty or unstable")
	}
	for _, n := range []uint64{1, 1000, 1 << 26, 1 << 40} {
		if g := catalog.DefaultGrain(n); g < 512 || g&(g-1) != 0 || (n+g-1)/g > 1024 && g < 1<<16 {
			t.Errorf("DefaultGrain(%d) = %d", n, g)
		}
	}
}
