package exact

import (
	"math"
	"math/big"
	"testing"
)

// Reference values computed with mpmath at 50 digits (pi^2/8 - psi(1, n+1/2)/4),
// independent of this package.
func TestReference(t *testing.T) {
	for _, tc := range []struct {
		n       uint64
		sum, pi float64
	}{
		{1, 1.0, 2.8284271247461903},
		{3, 1.1511111111111112, 3.0346151137976114},
		{100, 1.231200570968774, 3.1384079670670912},
		{1000, 1.2334505501570032, 3.1412743276027366},
		{32768, 1.2336929207416392, 3.141582939527956},
		{32769, 1.2336929209744627, 3.141582939824397},
		{1000000, 1.23370030013617, 3.141592335279891},
		{10000003, 1.2337005251361772, 3.141592621758814},
		{1000000000, 1.2337005498861697, 3.1415926532714833},
		{10000000000, 1.2337005501111697, 3.141592653557962},
		{1000000000000, 1.2337005501359197, 3.141592653589475},
		{1000000000000000, 1.2337005501361695, 3.141592653589793},
	} {
		if got := Sum(tc.n); got != tc.sum {
			t.Errorf("Sum(%d) = %.17g, want %.17g", tc.n, got, tc.sum)
		}
		if got := Pi(tc.n); math.Abs(got-tc.pi) > 4.5e-16 {
			t.Errorf("Pi(%d) = %.17g, want %.17g", tc.n, got, tc.pi)
		}
	}
}

// The asymptotic branch and the direct branch must agree where they meet.
func TestBranchesAgree(t *testing.T) {
	for _, n := range []uint64{directMax / 2, directMax - 1, directMax} {
		dh, dl := direct(n)
		ah, al := twoSumDD(pi2over8Hi, pi2over8Lo, -trigammaAsymptotic(float64(n)+0.5)/4)
		if d := (dh - ah) + (dl - al); math.Abs(d) > 2e-17 {
			t.Errorf("n=%d: direct %.17g vs asymptotic %.17g (diff %g)", n, dh+dl, ah+al, d)
		}
	}
}

func TestSmall(t *testing.T) {
	if Sum(0) != 0 || Sum(1) != 1 || Sum(2) != 1+1.0/9 {
		t.Fatalf("small sums wrong: %v %v %v", Sum(0), Sum(1), Sum(2))
	}
	if d := math.Abs(Pi(1e15) - math.Pi); d > 1e-15 {
		t.Fatalf("Pi(1e15) off by %g", d)
	}
	if d := Tail(1e9) + Sum(1e9) - math.Pi*math.Pi/8; math.Abs(d) > 3e-16 {
		t.Fatalf("Tail+Sum != pi^2/8: %g", d)
	}
}

// TestSumRangeFarOut checks ranges far from 0, where S(hi) - S(lo) in
// floating point would cancel to 1e-14 relative. The references are the
// asymptotic trigamma series evaluated with 60-digit decimals (exact to
// the digits shown for x >= 2^15).
func TestSumRangeFarOut(t *testing.T) {
	for _, c := range []struct {
		lo, hi uint64
		want   float64
	}{
		{53497941, 54526748, 8.8171302176873461885e-11},
		{32768, 32769, 2.3282353838913904512e-10},
		{1000, 40000, 0.00024374997916699947916},
		{1e12, 1e12 + 1000, 2.4999999975000000025e-22},
	} {
		got := SumRange(c.lo, c.hi)
		if rel := math.Abs(got-c.want) / c.want; rel > 2.3e-16 {
			t.Errorf("SumRange(%d, %d) = %.17g, want %.17g (relative error %.2e)", c.lo, c.hi, got, c.want, rel)
		}
	}
}

// TestDirectAgainstBig checks every S_n the table path gives (n <=
// directMax) against the sum in 200-bit math/big arithmetic, rounded once:
// correctly rounded for every n, and SumRange within an ulp for ranges
// that start inside the table.
func TestDirectAgainstBig(t *testing.T) {
	const prec = 200
	sums := make([]*big.Float, directMax+1)
	acc := new(big.Float).SetPrec(prec)
	sums[0] = new(big.Float).SetPrec(prec)
	one := new(big.Float).SetPrec(prec).SetInt64(1)
	for k := uint64(0); k < directMax; k++ {
		d := new(big.Float).SetPrec(prec).SetUint64(2*k + 1)
		d.Mul(d, d)
		acc.Add(acc, new(big.Float).SetPrec(prec).Quo(one, d))
		sums[k+1] = new(big.Float).SetPrec(prec).Set(acc)
	}
	for n := uint64(0); n <= directMax; n++ {
		want, _ := sums[n].Float64()
		if got := Sum(n); got != want {
			t.Fatalf("Sum(%d) = %.17g, want %.17g", n, got, want)
		}
	}
	for _, r := range [][2]uint64{{1, 2}, {15, 17}, {16, 32}, {1000, 1001}, {1000, 32768}, {32767, 32768}, {12345, 40000}, {5, 1 << 20}} {
		lo, hi := r[0], r[1]
		if hi > directMax {
			continue // beyond the big table: TestBranchesAgree covers those
		}
		want, _ := new(big.Float).SetPrec(prec).Sub(sums[hi], sums[lo]).Float64()
		got := SumRange(lo, hi)
		if math.Abs(got-want) > math.Abs(want)*0x1p-52 {
			t.Errorf("SumRange(%d, %d) = %.17g, want %.17g", lo, hi, got, want)
		}
	}
}
