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
// engine's child hook, and the Funcs are registered in init. The three
// reductions run on one engine.Pool (the workers start once), and each
// call passes the file's path to the workers as its parameters.
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

// mapped holds the files this process has mapped, by path: a pool worker
// serves many calls and maps each file once.
var mapped = struct {
	sync.Mutex
	m map[string][]float64
}{m: map[string][]float64{}}

func data(path string) ([]float64, error) {
	mapped.Lock()
	defer mapped.Unlock()
	if d, ok := mapped.m[path]; ok {
		return d, nil
	}
	d, _, err := engine.Float64File(path) // mapped until the process exits
	if err == nil {
		mapped.m[path] = d
	}
	return d, err
}

// over applies f to the [lo, hi) values of the file named by params, or
// panics if it cannot be mapped (the worker then dies with the message,
// and the parent reports it).
func over(params []byte, lo, hi uint64, f func([]float64) float64) float64 {
	d, err := data(string(params))
	if err != nil {
		panic(err)
	}
	return f(d[lo:hi])
}

func init() {
	engine.RegisterParams("sumfile.sum", engine.Sum, func(params []byte, lo, hi uint64) float64 {
		return over(params, lo, hi, func(x []float64) float64 {
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
	engine.RegisterParams("sumfile.min", engine.Min, func(params []byte, lo, hi uint64) float64 {
		return over(params, lo, hi, func(x []float64) float64 {
			m := math.Inf(1)
			for _, v := range x {
				m = min(m, v)
			}
			return m
		})
	})
	engine.RegisterParams("sumfile.max", engine.Max, func(params []byte, lo, hi uint64) float64 {
		return over(params, lo, hi, func(x []float64) float64 {
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
	rs, err := reduceFile(context.Background(), path, n, engine.Mode(*mode), engine.WithWorkers(*workers),
		engine.WithSchedule(engine.Schedule(*sched)))
	if err != nil {
		return err
	}
	for _, r := range rs {
		fmt.Printf("%-4s %.17g  (%d values, %d workers, mode %s, %v)\n", r.Op, r.Value, r.N, r.Workers, r.Mode, r.Elapsed.Round(time.Microsecond))
	}
	fmt.Printf("total %v\n", time.Since(start).Round(time.Millisecond))
	return nil
}

// reduceFile sums the n float64s in path and finds their extremes, on
// one pool of workers (or goroutines, for mode goroutines).
func reduceFile(ctx context.Context, path string, n uint64, mode engine.Mode, opts ...engine.Option) ([]engine.Reduction, error) {
	reduce := func(name string) (engine.Reduction, error) {
		return engine.Reduce(ctx, name, n, append(opts, engine.WithMode(mode), engine.WithParams([]byte(path)))...)
	}
	if mode != engine.Goroutines {
		pool, err := engine.NewPool(ctx, append(opts, engine.WithMode(mode), engine.WithInProcessBelow(0))...)
		if err != nil {
			return nil, err
		}
		defer pool.Close()
		reduce = func(name string) (engine.Reduction, error) {
			return pool.Reduce(ctx, name, n, engine.WithParams([]byte(path)))
		}
	}
	var out []engine.Reduction
	for _, name := range []string{"sumfile.sum", "sumfile.min", "sumfile.max"} {
		r, err := reduce(name)
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
