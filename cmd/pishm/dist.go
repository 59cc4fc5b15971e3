package main

// The subcommands that spread the series over several hosts through
// redis-server (package dist):
//
//	pishm coordinate [flags]   queue a job's chunks, gather the results, print pi
//	pishm worker [flags]       serve a job: take chunks, compute them here, send the bits

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/pishm/pishm/queue"
	"github.com/pishm/pishm/engine"
)

// redisFlags are the connection flags both subcommands take.
type redisFlags struct{ o queue.ClientOptions }

func (r *redisFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.o.URL, "redis", queue.DefaultURL, "redis-server `URL`: redis://[user:password@]host:port/db, or rediss:// for TLS")
	fs.StringVar(&r.o.TLSCA, "redis-tls-ca", "", "PEM `file` of CAs to trust for TLS (turns TLS on)")
	fs.StringVar(&r.o.TLSCert, "redis-tls-cert", "", "client certificate PEM `file` for TLS")
	fs.StringVar(&r.o.TLSKey, "redis-tls-key", "", "client key PEM `file` for TLS")
	fs.BoolVar(&r.o.TLSInsecure, "redis-tls-insecure", false, "do not verify the server's TLS certificate")
}

// redacted is u without its password, for messages.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

func coordinate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm coordinate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm coordinate [flags]

coordinate cuts the first n terms of 1/(2k+1)^2 into -chunks contiguous
chunks, queues them in redis-server, and waits while any number of
"pishm worker" processes, on any hosts, compute them. It requeues the chunks
of workers that stop heartbeating, keeps the first result of each chunk,
reduces in chunk order (compensated), prints pi, and deletes its keys. -local
computes the same chunks here, without redis, to the same bits.

Flags:
`)
		fs.PrintDefaults()
	}
	var rf redisFlags
	rf.register(fs)
	n := fs.String("n", "1e9", "number of series `terms` (1e12, 1_000_000, ...; at most 1e15)")
	var j queue.Job
	fs.IntVar(&j.Chunks, "chunks", queue.DefaultChunks, "number of `chunks` [0, n) is cut into (at most n)")
	fs.IntVar(&j.Workers, "workers", 1, "engine worker `processes` per chunk, fixed for every host (they change the bits)")
	mode := fs.String("mode", "slots", "engine `strategy` per chunk: slots, cas or mutex (cas and mutex are reproducible only with -workers 1)")
	fs.StringVar(&j.Kernel, "kernel", "auto", "inner `loop`, fixed for every host: auto (this CPU's best) or "+kernelNames())
	chunk := fs.String("chunk", "", "engine publish interval inside a chunk, in `terms` (default: once per engine worker)")
	fs.DurationVar(&j.Heartbeat, "heartbeat", queue.DefaultHeartbeat, "a worker silent this `long` is taken for dead and its chunks requeued")
	timeout := fs.Duration("timeout", 0, "give up after `duration` (0: never)")
	local := fs.Bool("local", false, "compute every chunk here, one after another, without redis")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if j.N, err = parseCount(*n, engine.MaxN); err != nil {
		return usagef("-n: %v", err)
	}
	if j.Chunks < 1 || j.Chunks > queue.MaxChunks || uint64(j.Chunks) > j.N {
		return usagef("-chunks must be in [1, min(n, %d)], got %d", queue.MaxChunks, j.Chunks)
	}
	if j.Workers < 1 || j.Workers > engine.MaxWorkers {
		return usagef("-workers must be in [1, %d], got %d", engine.MaxWorkers, j.Workers)
	}
	j.Mode = engine.Mode(*mode)
	if j.Mode != engine.Slots && j.Mode != engine.CAS && j.Mode != engine.Mutex {
		return usagef("-mode must be slots, cas or mutex, got %q", *mode)
	}
	if !validKernel(j.Kernel) {
		return usagef("-kernel: unknown kernel %q (want auto, %s)", j.Kernel, kernelNames())
	}
	if *chunk != "" {
		if j.Chunk, err = parseCount(*chunk, engine.MaxN); err != nil {
			return usagef("-chunk: %v", err)
		}
	}
	if j.Heartbeat < queue.MinHeartbeat {
		return usagef("-heartbeat must be at least %v, got %v", queue.MinHeartbeat, j.Heartbeat)
	}
	if *timeout < 0 {
		return usagef("-timeout must be >= 0, got %v", *timeout)
	}
	base := queue.NewJob(j.N)
	j.ID = base.ID
	if j.Kernel == "auto" {
		j.Kernel = base.Kernel
	}

	var res queue.Result
	if *local {
		if *timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, *timeout)
			defer cancel()
		}
		res, err = queue.Local(ctx, j)
	} else {
		client, cerr := queue.NewClient(rf.o)
		if cerr != nil {
			return usagef("-redis: %v", cerr)
		}
		defer client.Close()
		if err := client.Ping(ctx).Err(); err != nil {
			return fmt.Errorf("redis %s: %w", redacted(rf.o.URL), err)
		}
		res, err = queue.Coordinate(ctx, client, j, queue.CoordinateOptions{Timeout: *timeout, Started: func(j queue.Job) {
			lo, hi := j.Bounds(0)
			fmt.Fprintf(stderr, "pishm: job %s: %d chunks of ~%d terms queued at %s; start workers with: pishm worker -redis URL [-job %s]\n",
				j.ID, j.Chunks, hi-lo, redacted(rf.o.URL), j.ID)
		}})
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printDist(stdout, res)
	return nil
}

func printDist(w io.Writer, r queue.Result) {
	j := r.Job
	fmt.Fprintf(w, "pi        %.16f  (error %+.3e against math.Pi: the truncation of the series at n terms)\n", r.Pi, r.PiError)
	fmt.Fprintf(w, "S_n       %.16f  (exact %.16f, relative error %+.2e; bits %s)\n", r.Sum, r.SumExact, r.SumRelError, r.SumBits)
	fmt.Fprintf(w, "n         %d terms in %d chunks; per chunk: engine workers %d, mode %s, kernel %s\n", j.N, r.Chunks, j.Workers, j.Mode, j.Kernel)
	fmt.Fprintf(w, "time      %v, %.3g terms/s; chunks' compute %v in all, %v per chunk on average\n",
		r.Elapsed.Round(time.Microsecond), r.TermsPerSec, r.Compute.Round(time.Microsecond), (r.Compute / time.Duration(r.Chunks)).Round(time.Microsecond))
	names := make([]string, 0, len(r.ByWorker))
	for name := range r.ByWorker {
		names = append(names, name)
	}
	sort.Strings(names)
	var by []string
	for _, name := range names {
		by = append(by, fmt.Sprintf("%s %d", name, r.ByWorker[name]))
	}
	fmt.Fprintf(w, "chunks    %d results (%s); requeues %d, duplicates %d (mismatched %d)\n",
		r.Chunks, strings.Join(by, ", "), r.Requeues, r.Duplicates, r.Mismatches)
	if r.Rejected > 0 {
		fmt.Fprintf(w, "rejected  %d records in the results list that were no result of this job\n", r.Rejected)
	}
}

func work(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm worker [flags]

worker serves one job of a "pishm coordinate" through redis-server: it takes
chunks from the job's queue into its own processing list, computes each here
with the multi-process engine (the job fixes its worker count, mode and
kernel, so the bits do not depend on the host), sends the result and
acknowledges. It heartbeats while it works, exits 0 when the job is done,
and on SIGINT or SIGTERM returns its unfinished chunk to the queue first.
Run several per host to use more cores.

Flags:
`)
		fs.PrintDefaults()
	}
	var rf redisFlags
	rf.register(fs)
	var o queue.WorkerOptions
	fs.StringVar(&o.Job, "job", "", "`ID` of the job to serve (default: the first one found)")
	fs.StringVar(&o.ID, "id", "", "this worker's `name` in the job's keys (default: HOST-PID-RANDOM)")
	fs.IntVar(&o.Workers, "workers", 0, "engine worker `processes` per chunk: 0 takes the job's; another value must equal it")
	mode := fs.String("mode", "", "engine `strategy`: empty takes the job's; another value must equal it")
	fs.DurationVar(&o.Wait, "wait", 0, "give up if no job appears within `duration` (0: wait for ever)")
	quiet := fs.Bool("quiet", false, "no line per chunk on stderr")
	asJSON := fs.Bool("json", false, "print the worker's totals as one JSON object")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if o.Workers < 0 || o.Workers > engine.MaxWorkers {
		return usagef("-workers must be in [0, %d], got %d", engine.MaxWorkers, o.Workers)
	}
	o.Mode = engine.Mode(*mode)
	if o.Mode != "" && o.Mode != engine.Slots && o.Mode != engine.CAS && o.Mode != engine.Mutex {
		return usagef("-mode must be slots, cas or mutex, got %q", *mode)
	}
	if o.Wait < 0 {
		return usagef("-wait must be >= 0, got %v", o.Wait)
	}
	if strings.ContainsAny(o.ID, "{}: \t\r\n*?[]") || strings.ContainsAny(o.Job, "{}: \t\r\n*?[]") {
		return usagef("-id and -job must not contain braces, colons, spaces or glob characters")
	}
	if !*quiet {
		o.Log = stderr
	}
	client, err := queue.NewClient(rf.o)
	if err != nil {
		return usagef("-redis: %v", err)
	}
	defer client.Close()
	if err := client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis %s: %w", redacted(rf.o.URL), err)
	}
	st, err := queue.Work(ctx, client, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(st); jerr != nil {
			return errors.Join(err, jerr)
		}
	} else if st.Job != "" {
		fmt.Fprintf(stdout, "worker %s: job %s: %d chunks, %d terms, %v computing in %v (%d late duplicates)\n",
			st.Worker, st.Job, st.Chunks, st.Terms, st.Compute.Round(time.Microsecond), st.Elapsed.Round(time.Microsecond), st.Late)
	}
	return err
}
