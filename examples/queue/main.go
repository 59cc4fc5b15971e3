// Command queue is the example of a program that spreads its own Func over
// many hosts through redis-server (package queue), and gets the bits that
// engine.Reduce gives on one machine.
//
// It registers one Func, zeta: the sum of 1/(k+1)^p over the terms k, a
// Func whose params are the integer power p. The same binary is
// the worker and the submitter, so every host runs the same Func.
//
// Usage:
//
//	queue -redis URL -work               # serve jobs until interrupted
//	queue -redis URL [-n N] [-json]      # submit a job over [0, N), wait, print
//	queue -n N -local [-json]            # the same reduction on this machine
//
// Submit and -local print the same sum, bit for bit, whatever happens to
// the workers meanwhile: a chunk's result is the exact state of its
// reduction, merged exactly and rounded once (see package queue).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	neturl "net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
	"github.com/pishm/pishm/queue"
	"golang.org/x/term"
)

// funcName is the name every host registers zeta under.
const funcName = "example.zeta"

// zeta sums 1/(k+1)^p over [lo, hi), p in params[0]; from the small terms
// up, as one would by hand.
func zeta(params []byte, lo, hi uint64) float64 {
	p := int(params[0])
	var s float64
	for k := hi; k > lo; k-- {
		x := float64(k)
		t := 1.0
		for range p {
			t *= x
		}
		s += 1 / t
	}
	return s
}

// Register in init: the engine's workers are re-executions of this
// binary, and so are the queue's workers on other hosts.
func init() { engine.Register(funcName, zeta, []partial.Op{partial.Sum}) }

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	if err := run(os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "queue:", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// output is what submit and -local print with -json, in the shape of
// pishm -json: the value as sum, n and chunks, and the sum's bits.
type output struct {
	Func    string  `json:"func"`
	N       uint64  `json:"n"`
	Power   int     `json:"p"`
	Sum     float64 `json:"sum"`
	SumBits string  `json:"sum_bits"`
	Grain   uint64  `json:"grain"`
	Chunks  int     `json:"chunks"`
	// Where the chunks ran: worker -> chunks, or "local".
	ByWorker   map[string]int `json:"by_worker"`
	Redundancy int            `json:"redundancy,omitempty"`
	Outvoted   map[string]int `json:"outvoted,omitempty"`
	Reclaimed  int            `json:"reclaimed,omitempty"`
	Elapsed    time.Duration  `json:"elapsed_ns"`
}

func run(stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("redis", queue.DefaultURL, "redis-server `URL`")
	work := fs.Bool("work", false, "serve jobs until interrupted")
	n := fs.String("n", "1e8", "number of `terms`: the job reduces [0, n)")
	p := fs.Int("p", 3, "the `power`: terms are 1/(k+1)^p")
	local := fs.Bool("local", false, "compute here with engine.Reduce, without redis")
	asJSON := fs.Bool("json", false, "print one JSON object")
	chunks := fs.Int("chunks", 64, "`chunks` the job is cut into")
	redundancy := fs.Int("redundancy", 1, "`k` distinct workers compute each chunk; their exact results must agree")
	workers := fs.Int("workers", 1, "engine worker `processes` per chunk")
	id := fs.String("id", "", "this worker's `name` (default HOST-PID)")
	verbose := fs.Bool("v", false, "a worker logs every chunk")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	terms, err := parseCount(*n)
	if err != nil {
		return usagef("-n: %v", err)
	}
	if *p < 1 || *p > 64 {
		return usagef("-p must be in [1, 64], got %d", *p)
	}
	if *work && *local {
		return usagef("-work and -local do not go together")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	job := queue.Job{Func: funcName, N: terms, Params: []byte{byte(*p)}, Chunks: *chunks, Workers: *workers, Redundancy: *redundancy}
	if *chunks < 1 || *workers < 1 || *redundancy < 1 {
		return usagef("-chunks, -workers and -redundancy must be at least 1")
	}
	// The same flags give the same job ID: a submitter started again
	// resumes its job.
	job = job.WithDefaults()
	job.ID = job.DefaultID()
	if err := job.Validate(); err != nil {
		return usageError{err.Error()}
	}
	print := func(o output) error {
		if *asJSON {
			enc := json.NewEncoder(stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(o)
		}
		_, err := fmt.Fprintf(stdout, "%s(p=%d) over [0, %d): %.17g (bits %s), %d chunks, %v\n", o.Func, o.Power, o.N, o.Sum, o.SumBits, o.Chunks, o.Elapsed.Round(time.Millisecond))
		return err
	}

	if *local {
		start := time.Now()
		r, err := engine.Reduce(ctx, funcName, terms, engine.WithParams(job.Params), engine.WithGrain(job.Grain), engine.WithWorkers(*workers))
		if err != nil {
			return err
		}
		return print(output{Func: funcName, N: terms, Power: *p, Sum: r.Value, SumBits: bitsOf(r.Value), Grain: r.Grain,
			Chunks: 1, ByWorker: map[string]int{"local": 1}, Elapsed: time.Since(start)})
	}

	queue.SilenceClientLog()
	// The password, when the URL has none, comes from REDISCLI_AUTH as
	// redis-cli's does, so that it never shows in ps.
	client, err := queue.NewClient(queue.ClientOptions{URL: *url, Password: passwordFromEnv(*url)})
	if err != nil {
		return usageError{err.Error()}
	}
	defer client.Close()
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", *url, err)
	}

	if *work {
		o := queue.WorkerOptions{ID: *id, Status: stderr}
		if *verbose {
			o.Log = stderr
		}
		fmt.Fprintf(stderr, "queue: serving jobs of %s from %s until interrupted\n", funcName, *url)
		st, err := queue.Serve(ctx, client, o)
		fmt.Fprintf(stderr, "queue: worker %s: %d job(s), %d chunks, %d late, %d abandoned\n", st.Worker, st.Jobs, st.Chunks, st.Late, st.Abandoned)
		return err
	}

	sub, err := queue.Submit(ctx, client, job, queue.CoordinateOptions{
		Started: func(j queue.Job, had int) {
			fmt.Fprintf(stderr, "queue: job %s: %d chunks queued (%d had results); start workers with: queue -redis URL -work\n", j.ID, j.Chunks, had)
		},
		Progress:      progress(stderr, job.ID),
		ProgressEvery: progressEvery(stderr),
	})
	if err != nil {
		return err
	}
	// Interrupted, the job ends (Submit's ctx): wait for it to clean up.
	r, err := sub.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return err
	}
	res := sub.Result()
	return print(output{Func: funcName, N: terms, Power: *p, Sum: r.Value, SumBits: bitsOf(r.Value), Grain: r.Grain,
		Chunks: res.Chunks, ByWorker: res.ByWorker, Redundancy: job.Redundancy, Outvoted: res.Outvoted,
		Reclaimed: res.Reclaimed, Elapsed: res.Elapsed})
}

func bitsOf(v float64) string { return fmt.Sprintf("%016x", math.Float64bits(v)) }

// progress prints chunks done out of the total: on a terminal one line
// rewritten, elsewhere (a log) a line each time.
func progress(w io.Writer, id string) func(done, total int) {
	tty := isTerminal(w)
	return func(done, total int) {
		if tty {
			fmt.Fprintf(w, "\r\033[Kqueue: job %s: %d of %d chunks done", id, done, total)
			if done == total {
				fmt.Fprintln(w)
			}
			return
		}
		fmt.Fprintf(w, "queue: job %s: %d of %d chunks done\n", id, done, total)
	}
}

func progressEvery(w io.Writer) time.Duration {
	if isTerminal(w) {
		return time.Second
	}
	return queue.DefaultProgressEvery
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// parseCount reads a count such as 1e8, 100_000_000 or 12345.
func parseCount(s string) (uint64, error) {
	s = strings.ReplaceAll(s, "_", "")
	if v, err := strconv.ParseUint(s, 10, 64); err == nil {
		if v == 0 {
			return 0, errors.New("must be at least 1")
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 1 || f > lab.MaxN || f != math.Trunc(f) {
		return 0, fmt.Errorf("%q is not a whole number in [1, %d]", s, uint64(lab.MaxN))
	}
	return uint64(f), nil
}

// passwordFromEnv is REDISCLI_AUTH when url carries no password of its
// own ("" otherwise, or when it is unset).
func passwordFromEnv(url string) string {
	if u, err := neturl.Parse(url); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			return ""
		}
	}
	return os.Getenv("REDISCLI_AUTH")
}
