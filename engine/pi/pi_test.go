package pi_test

import (
	"context"
	"errors"
	"math"
	"os"
	"testing"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

// The test binary is re-executed as each worker, which must serve the
// parent instead of running the tests again.
func TestMain(m *testing.M) {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	os.Exit(m.Run())
}

// Every kernel compiled in is a registered Func with the closed form as
// its gate, and Run on each gives S_n within the tolerance of the closed
// form and pi within the series' truncation error, -1/(pi n).
func TestRunKernels(t *testing.T) {
	const n = 1_000_003
	for _, k := range pi.Kernels() {
		if catalog.ClosedForm(pi.FuncName(k.Name)) == nil {
			t.Errorf("%s is not registered with its closed form", pi.FuncName(k.Name))
		}
		if !k.Supported {
			continue
		}
		res, err := pi.Run(context.Background(), pi.Config{Config: lab.Config{N: n, Workers: 2}, Kernel: k.Name})
		if err != nil {
			t.Fatalf("%s: %v", k.Name, err)
		}
		if res.Kernel != k.Name || res.Func != pi.FuncName(k.Name) {
			t.Errorf("asked for %s, ran kernel %q as %q", k.Name, res.Kernel, res.Func)
		}
		if want := pi.ExactSum(n); res.SumExact != want || math.Abs(res.Sum-want) > lab.Tolerance*want {
			t.Errorf("%s: S = %.17g, SumExact %.17g, want %.17g", k.Name, res.Sum, res.SumExact, want)
		}
		if want := -1 / (math.Pi * n); math.Abs(res.PiError-want) > 1e-3*math.Abs(want) || res.Pi != math.Sqrt(8*res.Sum) {
			t.Errorf("%s: pi %.17g error %.4e, want the truncation error %.4e", k.Name, res.Pi, res.PiError, want)
		}
		if res.PiExtrapolated != 0 {
			t.Errorf("%s: PiExtrapolated %v without Extrapolate", k.Name, res.PiExtrapolated)
		}
	}
}

// Extrapolate adds the tail in closed form: pi to a few ulp at any n;
// an offset run has no pi at all.
func TestExtrapolateAndOffset(t *testing.T) {
	res, err := pi.Run(context.Background(), pi.Config{Config: lab.Config{N: 1000, Workers: 1}, Extrapolate: true})
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(res.PiExtrapolatedError) > 1e-14 || res.PiExtrapolated != math.Pi+res.PiExtrapolatedError {
		t.Errorf("pi+tail = %.17g (error %.3e), want pi to a few ulp", res.PiExtrapolated, res.PiExtrapolatedError)
	}
	res, err = pi.Run(context.Background(), pi.Config{Config: lab.Config{N: 1000, Offset: 10, Workers: 1}, Extrapolate: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Pi != 0 || res.PiExtrapolated != 0 || res.SumExact != pi.ExactSumRange(10, 1010) {
		t.Errorf("offset run: pi %v, pi+tail %v, SumExact %v", res.Pi, res.PiExtrapolated, res.SumExact)
	}
}

// PISHM_KERNEL picks the kernel of "auto"; a bad one is a ConfigError
// that names the variable, before anything starts.
func TestKernelFromEnvironment(t *testing.T) {
	t.Setenv("PISHM_KERNEL", "generic")
	res, err := pi.Run(context.Background(), pi.Config{Config: lab.Config{N: 1000, Workers: 1}})
	if err != nil || res.Kernel != "generic" || res.Func != "pi/generic" {
		t.Fatalf("PISHM_KERNEL=generic: kernel %q (%q), err %v", res.Kernel, res.Func, err)
	}
	t.Setenv("PISHM_KERNEL", "bogus")
	_, err = pi.Run(context.Background(), pi.Config{Config: lab.Config{N: 1000, Workers: 1}})
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || ce.Field != "" || err.Error() == "" {
		t.Fatalf("PISHM_KERNEL=bogus: %v, want a ConfigError naming the variable", err)
	}
	if err := (pi.Config{Config: lab.Config{N: 10}, Kernel: "nosuch"}).Validate(); !errors.As(err, &ce) || ce.Field != "Kernel" {
		t.Errorf("Kernel nosuch: %v, want a ConfigError on Kernel", err)
	}
}
