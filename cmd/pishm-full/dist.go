package main

// The subcommands that spread the series over several hosts through
// redis-server (package queue):
//
//	pishm coordinate [flags]   queue a job's chunks, gather and check the results, print pi
//	pishm worker [flags]       serve jobs: lease chunks, compute them here, send the bits

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/cmd/internal/cli"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
	"github.com/pishm/pishm/queue"
	"github.com/redis/go-redis/v9"
)

// redisFlags are the connection flags both subcommands take.
type redisFlags struct {
	o            queue.ClientOptions
	passwordFile string
	keyFile      string
}

func (r *redisFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.o.URL, "redis", queue.DefaultURL, "redis-server `URL`: redis://[user@]host:port/db, or rediss:// for TLS (a password here shows in ps: prefer REDISCLI_AUTH or -redis-password-file)")
	fs.StringVar(&r.passwordFile, "redis-password-file", "", "read the redis password from `file` (its first line)")
	fs.StringVar(&r.o.TLSCA, "redis-tls-ca", "", "PEM `file` of CAs to trust for TLS (turns TLS on)")
	fs.StringVar(&r.o.TLSCert, "redis-tls-cert", "", "client certificate PEM `file` for TLS")
	fs.StringVar(&r.o.TLSKey, "redis-tls-key", "", "client key PEM `file` for TLS")
	fs.BoolVar(&r.o.TLSInsecure, "redis-tls-insecure", false, "do not verify the server's TLS certificate")
	fs.StringVar(&r.keyFile, "key-file", "", "the job key, a secret shared by the coordinator and its workers, never sent to redis: results are signed with it and unsigned ones rejected (default: $"+queue.KeyEnv+"; none: no signatures)")
}

// client connects to redis as r says, taking the password from the file
// or from REDISCLI_AUTH (as redis-cli does) when the URL has none, and
// checks that the server answers.
func (r *redisFlags) client(ctx context.Context) (redis.UniversalClient, error) {
	queue.SilenceClientLog()
	o := r.o
	if r.passwordFile != "" {
		b, err := os.ReadFile(r.passwordFile)
		if err != nil {
			return nil, cli.Usagef("-redis-password-file: %v", err)
		}
		o.Password, _, _ = strings.Cut(string(b), "\n")
		o.Password = strings.TrimSuffix(o.Password, "\r")
		if o.Password == "" {
			return nil, cli.Usagef("-redis-password-file %s: the first line is empty", r.passwordFile)
		}
	} else if u, err := url.Parse(o.URL); err == nil {
		if _, set := u.User.Password(); !set {
			o.Password = os.Getenv("REDISCLI_AUTH")
		}
	}
	c, err := queue.NewClient(o)
	if err != nil {
		return nil, cli.Usagef("-redis: %v", err)
	}
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, fmt.Errorf("redis %s: %w", redacted(o.URL), err)
	}
	return c, nil
}

// redacted is u without its password, for messages.
func redacted(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

// workerCommand is the command line that serves job id from the same
// redis-server as this coordinator: its URL without a password (which the
// worker reads from REDISCLI_AUTH or a file, as this one did), and its TLS
// files.
func workerCommand(rf redisFlags, id string) string {
	u := rf.o.URL
	if p, err := url.Parse(u); err == nil && p.User != nil {
		if _, has := p.User.Password(); has {
			p.User = url.User(p.User.Username())
			u = p.String()
		}
	}
	cmd := "pishm worker -redis " + u
	for _, f := range []struct{ flag, v string }{
		{"-redis-tls-ca", rf.o.TLSCA}, {"-redis-tls-cert", rf.o.TLSCert}, {"-redis-tls-key", rf.o.TLSKey},
	} {
		if f.v != "" {
			cmd += " " + f.flag + " " + f.v
		}
	}
	if rf.o.TLSInsecure {
		cmd += " -redis-tls-insecure"
	}
	if rf.keyFile != "" {
		cmd += " -key-file " + rf.keyFile
	}
	return cmd + " -job " + id
}

func coordinate(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm coordinate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm coordinate [flags]

coordinate cuts the first n terms of 1/(2k+1)^2 into -chunks contiguous
chunks, queues them in redis-server, and waits while any number of
"pishm worker" processes, on any hosts, compute them. Workers lease chunks
and extend a lease only while their engine progresses, so a stuck chunk
goes to another worker after -lease. A chunk's result is the exact state
of its reduction: every result is checked against its chunk's closed-form
bounds, and two that differ send the chunk to another run (with
-redundancy k, k workers compute each chunk and must agree). The states
are merged exactly and rounded once, so S_n is engine.Reduce's on one
machine bit for bit; it is checked against the closed form, pi is printed
and the keys are deleted; exit 1 if any check fails. The job's ID comes from the flags, so the same command
started again resumes the job (within -retain of its last coordinator);
-resume ID names it. -local computes the same chunks here, without redis,
to the same bits.

Flags:
`)
		fs.PrintDefaults()
	}
	var rf redisFlags
	rf.register(fs)
	n := fs.String("n", "1e9", "number of series `terms` (1e12, 1_000_000, ...; at most 1e15)")
	var j queue.Job
	fs.IntVar(&j.Chunks, "chunks", queue.DefaultChunks, "number of `chunks` [0, n) is cut into (at most n)")
	fs.IntVar(&j.Redundancy, "redundancy", 1, "`k`: each chunk is computed by k distinct workers and taken only when their exact results agree (a worker outvoted twice is shunned)")
	fs.IntVar(&j.Workers, "workers", 1, "engine worker `processes` per chunk, fixed for every host (so that a chunk costs the same anywhere; the bits do not depend on them)")
	mode := fs.String("mode", "slots", "engine `strategy` per chunk: slots, cas or mutex (all give the same bits)")
	kernel := fs.String("kernel", "auto", "inner `loop`, fixed for every host: auto (this CPU's best) or "+cli.KernelNames())
	publish := fs.String("publish", "", "engine publish interval inside a chunk, in `terms` (default: once per engine worker)")
	fs.DurationVar(&j.Lease, "lease", queue.DefaultLease, "a chunk whose engine makes no progress for this `long` is taken back")
	fs.DurationVar(&j.Retain, "retain", queue.DefaultRetain, "the job's keys outlive a dead coordinator by this `long`, for a resume")
	fs.IntVar(&j.MaxAttempts, "max-attempts", queue.DefaultMaxAttempts, "a chunk taken this `many` times without a result goes to the dead letters and fails the job")
	resume := fs.String("resume", "", "resume job `ID` (its settings come from redis; -n, -chunks, ... are ignored)")
	outage := fs.Duration("outage", queue.DefaultOutage, "give up (keeping the results for a resume) when redis is unreachable this `long`")
	timeout := fs.Duration("timeout", 0, "give up after `duration` (0: never)")
	local := fs.Bool("local", false, "compute every chunk here, one after another, without redis")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	var err error
	if j.N, err = cli.ParseCount(*n, lab.MaxN); err != nil {
		return cli.Usagef("-n: %v", err)
	}
	j.Mode = lab.Mode(*mode)
	if *publish != "" {
		if j.Publish, err = cli.ParseCount(*publish, lab.MaxN); err != nil {
			return cli.Usagef("-publish: %v", err)
		}
	}
	if *timeout < 0 {
		return cli.Usagef("-timeout must be >= 0, got %v", *timeout)
	}
	if *outage <= 0 {
		return cli.Usagef("-outage must be > 0, got %v", *outage)
	}
	if *resume != "" && *local {
		return cli.Usagef("-resume and -local do not go together")
	}
	// The series is one Func per kernel ("pi/avx2"): auto is resolved
	// here, since another CPU may pick otherwise.
	if *kernel == "auto" {
		*kernel = pi.BestKernel()
	}
	if !slices.ContainsFunc(pi.Kernels(), func(k pi.KernelInfo) bool { return k.Name == *kernel }) {
		return cli.Usagef("-kernel: unknown kernel %q (want auto, %s)", *kernel, cli.KernelNames())
	}
	// Zero would mean "the default" to the job: here it is a mistake.
	switch {
	case j.Chunks < 1:
		return cli.Usagef("-chunks must be at least 1, got %d", j.Chunks)
	case j.Workers < 1:
		return cli.Usagef("-workers must be in [1, %d], got %d", lab.MaxWorkers, j.Workers)
	case j.Redundancy < 1:
		return cli.Usagef("-redundancy must be in [1, %d], got %d", queue.MaxRedundancy, j.Redundancy)
	}
	j.Func = pi.FuncName(*kernel)
	j = j.WithDefaults()
	j.ID = j.DefaultID()
	if *resume != "" {
		j.ID = *resume
	}
	// The job's own check, once; its errors name the field, shown as the
	// flag that sets it.
	if err := j.Validate(); err != nil {
		return jobFlagError(err)
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
		client, cerr := rf.client(ctx)
		if cerr != nil {
			return cerr
		}
		defer client.Close()
		key, kerr := queue.ReadKey(rf.keyFile)
		if kerr != nil {
			return cli.UsageError{Msg: kerr.Error()}
		}
		o := queue.CoordinateOptions{Key: key, Timeout: *timeout, Outage: *outage, Resume: *resume != "", Started: func(j queue.Job, had int) {
			lo, hi := j.Bounds(0)
			what := "queued"
			if had > 0 {
				what = fmt.Sprintf("resumed, %d of them with results kept", had)
			}
			fmt.Fprintf(stderr, "pishm: job %s: %d chunks of ~%d terms (grid %d) %s at %s; start workers with: %s\n",
				j.ID, j.Chunks, hi-lo, j.Grain, what, redacted(rf.o.URL), workerCommand(rf, j.ID))
		}}
		o.Progress, o.ProgressEvery = chunkProgress(stderr, j.ID)
		o.Refused = func(worker, why string) {
			fmt.Fprintf(stderr, "pishm: job %s: worker %s refused it: %s\n", j.ID, worker, why)
		}
		var sub *queue.Submission
		if sub, err = queue.Submit(ctx, client, j, o); err == nil {
			// The job ends with ctx (Submit's): wait for its keys to go too.
			_, err = sub.Wait(context.WithoutCancel(ctx))
			res = sub.Result()
		}
	}
	if err != nil {
		if errors.Is(err, queue.ErrInexact) {
			printDist(stdout, res) // what was reduced, for the record
		}
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(distJSONOf(res))
	}
	printDist(stdout, res)
	return nil
}

func work(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("pishm worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm worker [flags]

worker serves a job of a "pishm coordinate" through redis-server: it leases
chunks, computes each here with the multi-process engine (the job fixes its
worker count, mode and kernel, so the bits do not depend on the host), and
sends the result and ends the lease in one step. It extends a lease only
while the engine progresses, and gives up a chunk that stalls. Without -job
it joins only jobs whose coordinator is alive. It exits 0 when the job is
done, 1 when the job ended unfinished or its keys vanished (redis restarted
without persistence), and on SIGINT or SIGTERM returns its chunk to the
queue first. -serve keeps it serving jobs one after another. Run several per
host to use more cores.

Flags:
`)
		fs.PrintDefaults()
	}
	var rf redisFlags
	rf.register(fs)
	var o queue.WorkerOptions
	fs.StringVar(&o.Job, "job", "", "`ID` of the job to serve (default: the first one found)")
	fs.StringVar(&o.ID, "id", "", "this worker's `name` in logs and results, need not be unique (default: HOST-PID)")
	fs.BoolVar(&o.Serve, "serve", false, "serve jobs one after another until stopped (or -wait passes without one)")
	fs.DurationVar(&o.Outage, "outage", queue.DefaultOutage, "give up when redis is unreachable this `long`")
	noSpec := fs.Bool("no-speculate", false, "never run a second copy of a straggling chunk when idle")
	fs.IntVar(&o.Workers, "workers", 0, "engine worker `processes` per chunk: 0 takes the job's; another value must equal it")
	mode := fs.String("mode", "", "engine `strategy`: empty takes the job's; another value must equal it")
	fs.DurationVar(&o.Wait, "wait", 0, "give up if no job appears within `duration` (0: wait for ever)")
	quiet := fs.Bool("quiet", false, "no line per chunk on stderr")
	asJSON := fs.Bool("json", false, "print the worker's totals as one JSON object")
	if err := cli.ParseFlags(fs, args); err != nil {
		return err
	}
	if o.Workers < 0 || o.Workers > lab.MaxWorkers {
		return cli.Usagef("-workers must be in [0, %d], got %d", lab.MaxWorkers, o.Workers)
	}
	o.Mode = lab.Mode(*mode)
	if o.Mode != "" && o.Mode != lab.Slots && o.Mode != lab.CAS && o.Mode != lab.Mutex {
		return cli.Usagef("-mode must be slots, cas or mutex, got %q", *mode)
	}
	if o.Wait < 0 {
		return cli.Usagef("-wait must be >= 0, got %v", o.Wait)
	}
	if o.ID != "" && !queue.ValidID(o.ID) || o.Job != "" && !queue.ValidID(o.Job) {
		return cli.Usagef("-id and -job must be 1 to 64 characters without braces, colons, spaces or glob characters")
	}
	if o.Outage <= 0 {
		return cli.Usagef("-outage must be > 0, got %v", o.Outage)
	}
	o.NoSpeculate = *noSpec
	if !*quiet {
		o.Log = stderr
	}
	o.Status = stderr
	key, err := queue.ReadKey(rf.keyFile)
	if err != nil {
		return cli.UsageError{Msg: err.Error()}
	}
	o.Key = key
	client, err := rf.client(ctx)
	if err != nil {
		return err
	}
	defer client.Close()
	st, err := queue.Work(ctx, client, o)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(st); jerr != nil {
			return errors.Join(err, jerr)
		}
	} else if st.Job != "" {
		fmt.Fprintf(stdout, "worker %s: %d job(s), the last %s: %d chunks, %d terms, %v computing in %v (%d late duplicates, %d speculative, %d abandoned)\n",
			st.Worker, st.Jobs, st.Job, st.Chunks, st.Terms, st.Compute.Round(time.Microsecond), st.Elapsed.Round(time.Microsecond), st.Late, st.Speculative, st.Abandoned)
	}
	return err
}

// jobFlagError turns queue.Job.Validate's error, which names the field
// ("queue: bad job: Chunks must be ..."), into a usage error naming the
// coordinate flag that sets it.
func jobFlagError(err error) error {
	rest, ok := strings.CutPrefix(err.Error(), queue.ErrBadJob.Error()+": ")
	if !ok {
		return err
	}
	field, why, _ := strings.Cut(rest, " ")
	flags := map[string]string{
		"ID": "-resume", "N": "-n", "Chunks": "-chunks", "Workers": "-workers", "Mode": "-mode",
		"Lease": "-lease", "Retain": "-retain", "MaxAttempts": "-max-attempts",
		"Redundancy": "-redundancy",
	}
	f, ok := flags[field]
	if !ok {
		return err
	}
	why = strings.NewReplacer("Lease", "-lease", "N,", "n,").Replace(why)
	return cli.UsageError{Msg: f + " " + why}
}
