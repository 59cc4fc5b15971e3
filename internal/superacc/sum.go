package superacc

// Sum returns the correctly rounded sum of xs (see Acc.Round).
func Sum(xs []float64) float64 {
	var a Acc
	a.AddSlice(xs)
	return a.Round()
}
