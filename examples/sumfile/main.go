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
// engine's child hook, and the Funcs are registered in init, reading the
// file named in SUMFILE_PATH (which the parent sets before it starts them).
package main

import (
	"context"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/pishm/pishm/engine"
)

const envPath = "SUMFILE_PATH"

// data is the mapped file, opened on first use in each process.
var data = sync.OnceValues(func() ([]float64, error) {
	d, _, err := engine.Float64File(os.Getenv(envPath))
	return d, err // mapped until the process exits
})

// over applies f to data[lo:hi], or panics if the file cannot be mapped
// (the worker then dies with the message, and the parent reports it).
func over(lo, hi int64, f func([]float64) float64) float64 {
	d, err := data()
	if err != nil {
		panic(err)
	}
	return f(d[lo:hi])
}

func init() {
	engine.Register("sumfile.sum", engine.Sum, func(lo, hi int64) float64 {
		return over(lo, hi, func(x []float64) float64 {
			var s0, s1, s2, s3 float64 // four chains: the adds overlap
			i := 0
			for ; i+4 <= len(x); i += 4 {
				s0 += x[i]
				s1 += x[i+1]
				s2 += x[i+2]
				s3 += x[i+3]
			}
			for ; i < len(x); i++ {
				s0 += x[i]
			}
			return (s0 + s1) + (s2 + s3)
		})
	})
	engine.Register("sumfile.min", engine.Min, func(lo, hi int64) float64 {
		return over(lo, hi, func(x []float64) float64 {
			m := math.Inf(1)
			for _, v := range x {
				m = min(m, v)
			}
			return m
		})
	})
	engine.Register("sumfile.max", engine.Max, func(lo, hi int64) float64 {
		return over(lo, hi, func(x []float64) float64 {
			m := math.Inf(-1)
			for _, v := range x {
				m = max(m, v)
			}
			return m
		})
	})
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
	rs, err := reduceFile(context.Background(), path, n, engine.WithWorkers(*workers),
		engine.WithMode(engine.Mode(*mode)), engine.WithSchedule(engine.Schedule(*sched)))
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Printf("%-4s %.17g  (%d values, %d workers, mode %s, %v)\n", r.Op, r.Value, r.N, r.Workers, r.Mode, r.Elapsed.Round(time.Microsecond))
	}
	fmt.Printf("total %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// reduceFile sums the n float64s in path and finds their extremes.
func reduceFile(ctx context.Context, path string, n uint64, opts ...engine.Option) ([]engine.Reduction, error) {
	os.Setenv(envPath, path) // the workers inherit it
	var out []engine.Reduction
	for _, name := range []string{"sumfile.sum", "sumfile.min", "sumfile.max"} {
		r, err := engine.Reduce(ctx, name, n, opts...)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
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
