// Command dot computes the dot product of two files of float64s and both
// their norms in one pass, on child processes that map the same files: a
// k-wide reduction registered by a program, run once on processes started
// for the call and then on a Pool that keeps its workers between calls.
//
// Usage:
//
//	dot [-workers N] [-mode slots|cas|mutex] [-calls K] XFILE YFILE
//	dot -make N XFILE YFILE    # write N pseudo-random float64s to each first
//
// The Func is a vector Func of three Sum elements, x·y, x·x and y·y. Each
// product is split into its rounded value and its rounding error (one
// fused multiply-add), and the engine adds both exactly, so every element
// is the exact sum of the exact products rounded once: the correctly
// rounded dot product, the same bits for any worker count, mode, schedule
// and for the one-shot call and the pooled ones. The program checks that
// they agree, bit for bit.
//
// The workers are re-executions of this binary: main starts with the
// engine's child hook, and the Func is registered in init.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/shared"
)

// The elements of the one reduction.
const (
	elemXY = iota // x·y
	elemXX        // x·x
	elemYY        // y·y
	elems
)

// funcName is the Func's registered name; its params are the two paths,
// joined by a NUL.
const funcName = "dot"

// block is how many products a piece adds per AddSlice: their rounded
// values and rounding errors sit in two scratch slices of this length.
const block = 1024

func init() {
	engine.Register(funcName, dot, []partial.Op{partial.Sum, partial.Sum, partial.Sum})
}

// dot adds the exact products x[i]*y[i], x[i]², y[i]² for i in [lo, hi).
func dot(params []byte, lo, hi uint64, v *engine.Vector) {
	x, y, err := files(string(params))
	if err != nil {
		panic(err) // the call fails with the message, naming the worker and the range
	}
	var p, e [block]float64
	for lo < hi {
		m := min(hi-lo, block)
		xs, ys := x[lo:lo+m], y[lo:lo+m]
		for _, el := range [elems]struct {
			i    int
			a, b []float64
		}{{elemXY, xs, ys}, {elemXX, xs, xs}, {elemYY, ys, ys}} {
			for j := range el.a {
				p[j], e[j] = twoProduct(el.a[j], el.b[j])
			}
			v.AddSlice(el.i, p[:m])
			v.AddSlice(el.i, e[:m])
		}
		lo += m
	}
}

// twoProduct returns a*b rounded and its rounding error: p + e == a*b
// exactly (unless a*b overflows or underflows).
func twoProduct(a, b float64) (p, e float64) {
	p = a * b
	return p, math.FMA(a, b, -p)
}

// file maps the file at path once per process (shared.MapFile): a pool
// worker serves many calls.
func file(path string) ([]float64, error) { return shared.MapFile[float64](path) }

// files maps the two files params names.
func files(params string) (x, y []float64, err error) {
	xp, yp, ok := strings.Cut(params, "\x00")
	if !ok {
		return nil, nil, fmt.Errorf("dot: params %q are not two paths", params)
	}
	if x, err = file(xp); err != nil {
		return nil, nil, err
	}
	if y, err = file(yp); err != nil {
		return nil, nil, err
	}
	if len(x) != len(y) {
		return nil, nil, fmt.Errorf("dot: %s has %d values and %s %d", xp, len(x), yp, len(y))
	}
	return x, y, nil
}

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "dot:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	workers := flag.Int("workers", 0, "worker processes (default: the number of CPUs)")
	mode := flag.String("mode", "slots", "publishing strategy: slots, cas or mutex")
	calls := flag.Int("calls", 3, "calls on the Pool after the one-shot call")
	makeN := flag.Int64("make", 0, "first write this many pseudo-random float64s to each file")
	flag.Parse()
	if flag.NArg() != 2 || *calls < 1 {
		flag.Usage()
		os.Exit(2)
	}
	xp, yp := flag.Arg(0), flag.Arg(1)
	if *makeN > 0 {
		if err := errors.Join(write(xp, *makeN, 1), write(yp, *makeN, 2)); err != nil {
			return err
		}
	}
	n, err := count(xp, yp)
	if err != nil {
		return err
	}
	opts := []engine.PoolOption{engine.WithWorkers(*workers), lab.WithMode(lab.Mode(*mode))}

	t := time.Now()
	once, err := reduceOnce(ctx, xp, yp, n, opts...)
	if err != nil {
		return err
	}
	fmt.Printf("one-shot  %v (processes started for the call)\n", time.Since(t).Round(time.Microsecond))
	printResult(once)

	pooled, took, err := reducePooled(ctx, xp, yp, n, *calls, opts...)
	if err != nil {
		return err
	}
	for i, r := range pooled {
		if !sameBits(r.Values, once.Values) {
			return fmt.Errorf("pooled call %d gave %v, the one-shot call %v", i+1, r.Values, once.Values)
		}
	}
	fmt.Printf("pool      %d calls, %v each (median), the same bits as the one-shot call\n", *calls, took.Round(time.Microsecond))
	return nil
}

// count is the number of float64s in each file, which must agree.
func count(xp, yp string) (uint64, error) {
	var sizes [2]int64
	for i, p := range []string{xp, yp} {
		fi, err := os.Stat(p)
		if err != nil {
			return 0, err
		}
		if fi.Size() == 0 || fi.Size()%8 != 0 {
			return 0, fmt.Errorf("%s: %d bytes, not a whole number of float64s", p, fi.Size())
		}
		sizes[i] = fi.Size()
	}
	if sizes[0] != sizes[1] {
		return 0, fmt.Errorf("%s has %d float64s and %s %d", xp, sizes[0]/8, yp, sizes[1]/8)
	}
	return uint64(sizes[0] / 8), nil
}

// reduceOnce runs the dot product on worker processes started for this call.
func reduceOnce(ctx context.Context, xp, yp string, n uint64, opts ...engine.PoolOption) (engine.Result, error) {
	return engine.Reduce(ctx, funcName, n, append(opts, engine.WithParams([]byte(xp+"\x00"+yp)))...)
}

// reducePooled runs it calls times on one Pool, whose workers map the
// files in their first call and keep them: the results and the median
// time of a call.
func reducePooled(ctx context.Context, xp, yp string, n uint64, calls int, opts ...engine.PoolOption) ([]engine.Result, time.Duration, error) {
	// Every call on worker processes, however small the files: this is a
	// demonstration of the pool (by default a call under
	// DefaultInProcessBelow terms runs on goroutines in the caller).
	pool, err := engine.NewPool(ctx, append(opts, engine.WithInProcessBelow(0))...)
	if err != nil {
		return nil, 0, err
	}
	var out []engine.Result
	var took []time.Duration
	for range calls {
		t := time.Now()
		r, err := pool.Reduce(ctx, funcName, n, engine.WithParams([]byte(xp+"\x00"+yp)))
		if err != nil {
			return nil, 0, errors.Join(err, pool.Close())
		}
		took = append(took, time.Since(t))
		out = append(out, r)
	}
	if err := pool.Close(); err != nil {
		return nil, 0, err
	}
	slices.Sort(took)
	return out, took[len(took)/2], nil
}

func printResult(r engine.Result) {
	xy, xx, yy := r.Values[elemXY], r.Values[elemXX], r.Values[elemYY]
	fmt.Printf("x·y       %.17g\n", xy)
	fmt.Printf("|x|       %.17g\n", math.Sqrt(xx))
	fmt.Printf("|y|       %.17g\n", math.Sqrt(yy))
	fmt.Printf("cos       %.17g\n", xy/(math.Sqrt(xx)*math.Sqrt(yy)))
	fmt.Printf("          (%d values, %d workers, mode %s)\n", r.N, r.Workers, r.Mode)
}

// sameBits reports whether a and b hold the same float64s, bit for bit.
func sameBits(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float64bits(a[i]) != math.Float64bits(b[i]) {
			return false
		}
	}
	return true
}

// write fills path with n float64s drawn from a fixed seed.
func write(path string, n int64, seed uint64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(seed, 2))
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
