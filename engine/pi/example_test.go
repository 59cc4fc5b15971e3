package pi_test

import (
	"context"
	"fmt"

	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

// Pi from 10^6 terms on two worker processes, checked against the closed
// form; the tail in closed form gives pi itself.
func ExampleRun() {
	res, err := pi.Run(context.Background(), pi.Config{
		Config:      lab.Config{N: 1_000_000, Workers: 2},
		Extrapolate: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("S_n   %.12f (%s)\n", res.Sum, res.Func[:3])
	fmt.Printf("pi    %.10f\n", res.Pi)
	fmt.Printf("+tail %.15f\n", res.PiExtrapolated)
	// Output:
	// S_n   1.233700300136 (pi/)
	// pi    3.1415923353
	// +tail 3.141592653589793
}
