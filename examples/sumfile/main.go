// Command sumfile sums (and finds the extremes of) a large binary file of
// float64s on child processes that all map the same file: the shared-memory
// reducer used on data rather than on a series.
//
// Usage:
//
//	sumfile [-workers N] [-mode slots|cas|mutex] [-sched static|dynamic] FILE
//	sumfile -make N FILE    # write N pseudo-random float64s to FILE first
//
// The workers are re-executions of this binary: main starts with the
// engine's child hook, and the Func is registered in init. It is a
// VectorFunc (engine.Register): one pass over the file gives the
// sum, the minimum and the maximum at once, the call passing the file's
// path to the workers as its parameters.
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/shared"
)

// data maps the file at path once per process (shared.MapFile): a pool
// worker serves many calls.
func data(path string) ([]float64, error) { return shared.MapFile[float64](path) }

// The one reduction: element 0 the exact sum, 1 the minimum, 2 the
// maximum, in one pass over each piece of the file.
const (
	elemSum = iota
	elemMin
	elemMax
)

func init() {
	engine.Register("sumfile", func(params []byte, lo, hi uint64, v *engine.Vector) {
		d, err := data(string(params))
		if err != nil {
			panic(err) // the worker dies with the message, and the parent reports it
		}
		x := d[lo:hi]
		v.AddSlice(elemSum, x) // exactly: the sum is correctly rounded, like math.fsum
		least, most := math.Inf(1), math.Inf(-1)
		for _, e := range x {
			least, most = min(least, e), max(most, e)
		}
		v.Add(elemMin, least)
		v.Add(elemMax, most)
	}, []partial.Op{partial.Sum, partial.Min, partial.Max})
}

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sumfile:", err)
		os.Exit(1)
	}
}

func run() error {
	workers := flag.Int("workers", 0, "worker processes (default: the number of CPUs)")
	mode := flag.String("mode", "slots", "publishing strategy: slots, cas, mutex or goroutines")
	sched := flag.String("sched", "static", "static or dynamic")
	makeN := flag.Int64("make", 0, "first write this many pseudo-random float64s to FILE")
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	path := flag.Arg(0)
	if *makeN > 0 {
		if err := write(path, *makeN); err != nil {
			return err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	n := uint64(fi.Size() / 8)
	start := time.Now()
	opts := []engine.PoolOption{engine.WithWorkers(*workers)}
	switch *sched {
	case "static":
	case "dynamic":
		opts = append(opts, engine.WithDynamic(0))
	default:
		return fmt.Errorf("-sched %q: want static or dynamic", *sched)
	}
	r, err := reduceFile(context.Background(), path, n, lab.Mode(*mode), opts...)
	if err != nil {
		return err
	}
	for i, name := range []string{"sum", "min", "max"} {
		fmt.Printf("%-4s %.17g\n", name, r.Values[i])
	}
	fmt.Printf("(%d values, %d workers, mode %s, %v)\n", r.N, r.Workers, r.Mode, r.Elapsed.Round(time.Microsecond))
	fmt.Printf("total %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// reduceFile sums the n float64s in path and finds their extremes, in
// one pass: Values holds the sum, the minimum and the maximum.
func reduceFile(ctx context.Context, path string, n uint64, mode lab.Mode, opts ...engine.PoolOption) (engine.Result, error) {
	return engine.Reduce(ctx, "sumfile", n, append(opts, lab.WithMode(mode), engine.WithParams([]byte(path)))...)
}

// write fills path with n float64s drawn from a fixed seed.
func write(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 0, 1<<16)
	for i := int64(0); i < n; i++ {
		buf = binary.NativeEndian.AppendUint64(buf, math.Float64bits(r.NormFloat64()))
		if len(buf) == cap(buf) {
			if _, err := f.Write(buf); err != nil {
				f.Close()
				return err
			}
			buf = buf[:0]
		}
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
