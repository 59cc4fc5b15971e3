package main

import (
	"fmt"
	"math"
	"testing"
)

func TestClassify(t *testing.T) {
	const n = 1000000
	ex := closedForm(n)
	js := func(sum float64) string {
		return fmt.Sprintf(`{"n": %d, "sum": %v, "sum_exact": %v, "sum_rel_error": %v}`, n, sum, ex, (sum-ex)/ex)
	}
	for _, tc := range []struct {
		name           string
		rc             int
		stdout, stderr string
		want           class
		gated          bool
	}{
		{"exact", 0, js(ex), "", exact, false},
		{"one ulp off", 0, js(math.Nextafter(ex, 2)), "", exact, false},
		{"off by 1e-13", 0, js(ex * (1 + 1e-13)), "", wrong, false},
		{"no json", 0, "", "", wrong, false},
		{"truncated json", 0, js(ex)[:20], "", wrong, false},
		{"other n", 0, fmt.Sprintf(`{"n": 7, "sum": %v, "sum_exact": %v}`, ex, ex), "", wrong, false},
		{"retries exhausted", 1, "", "pishm: worker 1 (pid 9, retry 1) died while summing: signal: killed; no retries left\n", clean, false},
		{"gate", 1, "", "pishm: engine: the sum is wrong: S_n = 1, the closed form gives 2: relative error -5e-01, tolerance 1e-15\n", clean, true},
		{"two lines", 1, "", "pishm: a\nmore\n", wrong, false},
		{"no prefix", 1, "", "boom\n", wrong, false},
		{"panic exit 2", 2, "", "panic: runtime error: integer divide by zero\n\ngoroutine 1 [running]:\n", wrong, false},
		{"panic after json", 0, js(ex), "fatal error: unexpected signal during runtime execution\n", wrong, false},
		{"killed", -1, "", "", wrong, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := classify(n, tc.rc, tc.stdout, tc.stderr)
			if o.class != tc.want || o.gated != tc.gated {
				t.Errorf("classify = %v (gated %v, %q), want %v (gated %v)", o.class, o.gated, o.detail, tc.want, tc.gated)
			}
		})
	}
}

// TestClosedForm checks the asymptotic S_n against a compensated sum.
func TestClosedForm(t *testing.T) {
	for _, n := range []uint64{100000, 123457} {
		var s, c float64
		for k := int(n) - 1; k >= 0; k-- { // smallest terms first
			y := 1/float64((2*k+1)*(2*k+1)) - c
			u := s + y
			c = (u - s) - y
			s = u
		}
		if got := closedForm(n); math.Abs(got-s) > tolerance*s {
			t.Errorf("closedForm(%d) = %v, summed %v", n, got, s)
		}
	}
}
