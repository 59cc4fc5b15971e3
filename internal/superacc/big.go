package superacc

import (
	"math/big"
)

// Big returns the exact sum as a big.Float, with as much precision as it
// needs: ±Inf when Round would give that infinity, nil when it would give
// NaN, and -0 when every input was -0. It does not change a.
func (a *Acc) Big() *big.Float {
	switch {
	case a.nan > 0 || a.posInf > 0 && a.negInf > 0:
		return nil
	case a.posInf > 0:
		return new(big.Float).SetInf(false)
	case a.negInf > 0:
		return new(big.Float).SetInf(true)
	}
	t := a.limbs
	normalize(&t)
	// N = Σ t[k]·2^(32k): the digits are in [0, 2^32), the top limb signed.
	n := big.NewInt(t[topLimb])
	var d big.Int
	for k := topLimb - 1; k >= 0; k-- {
		n.Lsh(n, digitBits)
		n.Add(n, d.SetInt64(t[k]))
	}
	if n.Sign() == 0 {
		z := new(big.Float)
		if a.negZero() {
			z.Neg(z)
		}
		return z
	}
	prec := uint(n.BitLen())
	if prec < 64 {
		prec = 64
	}
	f := new(big.Float).SetPrec(prec).SetInt(n) // exact: prec holds every bit
	return f.SetMantExp(f, -1074)
}
