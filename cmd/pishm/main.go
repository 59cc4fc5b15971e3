// Command pishm computes pi from the series S_n = sum_{k<n} 1/(2k+1)^2 on
// child processes that share a memory segment, and checks the result
// against the exact partial sum.
//
// Usage:
//
//	pishm [flags]
//	pishm info
//	pishm gc
//	pishm version
//	pishm help [command]
//	pishm coordinate -redis URL -n N -chunks C [flags]
//	pishm worker -redis URL [flags]
//	pishm bench [-quick] [-compare] [-count K] [-json|-csv] [-svg FILE]
//	pishm stats [-workers W] [-mode M] [-json] [-bins B] [-range LO:HI] [-type f64|f32] FILE
//
// info lists the CPU's kernels and the slot geometry; gc removes what a
// pishm killed outright may have left (named segments of older versions,
// message-passing temp dirs and queues), and only where the creator is dead
// (pid and start time). version prints the module
// version, the Go version, the VCS revision and the build settings that
// change the code (CGO_ENABLED, GOAMD64 or GOARM64, -tags). help is -h;
// help bench, help coordinate and help worker give a subcommand's flags.
// coordinate queues the chunks of one job in a redis-server and reduces the
// results in chunk order; worker, on any number of hosts, takes chunks and
// computes each with the local engine (see the queue package). bench runs
// the comparison matrix of strategies, transports and scaling. stats
// gives the count, exact sum, mean, variance, extremes and histogram of a
// file of float64s or float32s (raw or .npy), the same bits for any
// workers and mode.
//
// The parent creates a segment (POSIX shared memory under /dev/shm, or a
// file with -shm=file -path=FILE), re-executes itself once per worker, and
// gathers the workers' partial sums by the strategy -mode names:
//
//	slots       each worker writes its own cache-line-padded slot (wait-free)
//	cas         every worker adds into one shared float64 by compare-and-swap
//	mutex       every worker adds under a cross-process lock (a pid-word futex mutex)
//	goroutines  the same work on goroutines in one process (the baseline)
//
// and, for comparison, message passing: each worker sends its partial
// (float64 bits) over file, pipe, fifo, unix, tcp, socketpair, posixmq,
// sysvmq or redis (a real redis-server at -redis), and S comes out
// bit-identical to slots.
//
// -path refuses an existing file unless -force is given; with -force the
// existing file is deleted, replaced by the segment, and the segment is
// removed after the run, so the file is gone afterwards. -path never
// follows a symlink.
//
// With -json the result is one object: n, workers, mode, kernel, shm,
// sched, pi, pi_error, sum, sum_exact, sum_rel_error, elapsed_ns, wall_ns,
// terms_per_sec, publishes and workers_detail; publish (static: the most
// terms a worker summed between two publishes, -publish or its whole share)
// or chunk (dynamic: terms per chunk); pi_extrapolated and
// pi_extrapolated_error with -extrapolate; failures, rebuilt, lost_sum,
// offset and pad when they apply; error when the run failed (the object is
// printed then too, and the exit status is the failure's).
//
// A child is recognised by the PISHM_SEGMENT and PISHM_WORKER environment
// variables the parent sets; nothing else should set them. PISHM_KERNEL
// overrides -kernel=auto.
//
// Exit status:
//
//	0              success (and -h, help)
//	1              a failure at run time: a worker that died with no retry
//	               left, -timeout, an unreachable redis-server
//	2              bad input: a flag the parser rejects (one line, then a
//	               pointer to -h), a bad value, a -path that exists (without
//	               -force) or whose directory does not, a -redis URL with no
//	               redis scheme, an unknown PISHM_KERNEL
//	129, 130, 143  stopped by SIGHUP, SIGINT or SIGTERM (128 + the signal);
//	               stderr says "pishm: stopped by SIGTERM"
//
// # Example
//
//	$ pishm -n 1e9 -mode=slots -workers 2
//	pi        3.1415926532714833  (error -3.183e-10 against math.Pi: the truncation of the series at n terms)
//	S_n       1.2337005498861697  (exact 1.2337005498861697, relative error +0.00e+00)
//	n         1000000000 terms, 2 workers, mode slots, kernel avx512, shm posix, sched static, spawn fork
//	time      50.862ms wall, 45.992ms work, 2.17e+10 terms/s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/shmem"
)

func main() {
	if engine.IsChild() {
		os.Exit(engine.ChildMain())
	}
	ctx, stop := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		stop(signalError{s.(syscall.Signal)})
	}()
	err := run(ctx, os.Stdout, os.Stderr, os.Args[1:])
	os.Exit(exitCode(ctx, os.Stderr, err))
}

// printWorkerDetail prints what a failed worker wrote, below the one-line
// error that exitCode prints.
func printWorkerDetail(w io.Writer, we *engine.WorkerError) {
	detail := we.Stack
	if detail == "" {
		detail = we.Stderr
	}
	if detail != "" {
		fmt.Fprintf(w, "pishm: worker %d (pid %d) wrote:\n%s\n", we.Worker, we.Pid, detail)
	}
}

// signalError is the cause of a cancellation by a signal.
type signalError struct{ sig syscall.Signal }

func (e signalError) Error() string { return "stopped by " + signalName(e.sig) }

// signalName is the name kill -l and the shells use ("SIGTERM"), where
// syscall.Signal's String is the description ("terminated").
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGHUP:
		return "SIGHUP"
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}

// usageError is bad input: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// flagError is a command line the flag parser rejected: exit status 2,
// with a pointer to the usage instead of the usage itself.
type flagError struct {
	cmd string // "pishm", "pishm bench", ...
	err error
}

func (e flagError) Error() string { return e.err.Error() }

// exitCode prints err (if any) and returns the status to exit with.
func exitCode(ctx context.Context, stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var se signalError
	if errors.As(context.Cause(ctx), &se) {
		fmt.Fprintf(stderr, "pishm: %v\n", se)
		return 128 + int(se.sig)
	}
	fmt.Fprintf(stderr, "pishm: %v\n", err)
	var ue usageError
	var fe flagError
	switch {
	case errors.As(err, &fe):
		fmt.Fprintf(stderr, "run '%s -h' for usage\n", fe.cmd)
		return 2
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// parseFlags parses args into fs and refuses positional arguments. A flag
// the parser rejects gives one line (exitCode adds a pointer to -h), not
// the parser's own copy of the error followed by the whole usage; -h prints
// the usage to fs's output. A -redis flag, where fs has one, must be a URL
// go-redis takes.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := parseFlagsArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseFlagsArgs is parseFlags for a command that takes arguments after
// its flags (fs.Args()).
func parseFlagsArgs(fs *flag.FlagSet, args []string) error {
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard) // where the parser prints its error and calls usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return flagError{cmd: fs.Name(), err: err}
	}
	if f := fs.Lookup("redis"); f != nil && f.Value.String() != "" {
		return checkRedisURL(f.Value.String())
	}
	return nil
}

// checkRedisURL refuses a -redis that go-redis cannot parse, naming what
// is wrong (go-redis says "invalid URL scheme: " and no more). It never
// prints a password.
func checkRedisURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // ue.Error() quotes the URL, password included
		}
		return usagef("-redis: not a URL: %v", err)
	}
	shown := strconv.Quote(raw)
	if u.User != nil {
		shown = strconv.Quote(u.Redacted())
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	case "":
		return usagef("-redis %s has no scheme: want redis://host:port/db, rediss:// (TLS) or unix:///path", shown)
	}
	return usagef("-redis %s: unknown scheme %q (want redis, rediss or unix)", shown, u.Scheme)
}

// options are the parsed flags.
type options struct {
	cfg     engine.Config
	json    bool
	quiet   bool
	verbose bool
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "stats":
			return statsCmd(ctx, stdout, stderr, args[1:])
		case "bench":
			return benchCmd(ctx, stdout, stderr, args[1:])
		case "info", "gc", "version":
			if len(args) > 1 {
				return usagef("%s takes no arguments, got %q", args[0], args[1:])
			}
			switch args[0] {
			case "gc":
				return gc(stdout)
			case "version":
				return version(stdout)
			}
			return info(stdout)
		case "help":
			return help(ctx, stdout, stderr, args[1:])
		case "coordinate":
			return coordinate(ctx, stdout, stderr, args[1:])
		case "worker":
			return work(ctx, stdout, stderr, args[1:])
		}
	}
	opt, err := parse(stderr, args)
	if err != nil {
		return err
	}
	switch {
	case opt.quiet:
	case !opt.json && isTerminal(stdout):
		view := newProgressView(stdout)
		opt.cfg.Progress = view.update
		defer view.close()
	default:
		// Not on a terminal (a log, a pipe, -json): a line on stderr now
		// and then, so that a long run is not silent.
		opt.cfg.Progress = newProgressLines(stderr).update
	}
	if opt.cfg.Spawn != engine.SpawnFork {
		opt.cfg.WorkerBinary = leanWorker(opt.cfg.Mode)
	}
	res, err := engine.Run(ctx, opt.cfg)
	if err != nil {
		var we *engine.WorkerError
		if opt.verbose && errors.As(err, &we) {
			printWorkerDetail(stderr, we)
		}
		err = asFlagError(err)
		var ue usageError
		if errors.As(err, &ue) {
			return err // nothing ran
		}
	}
	if opt.json {
		// Also on failure: the object says what ran, and why it failed.
		if res.N == 0 {
			res.N, res.Workers, res.Mode = opt.cfg.N, opt.cfg.Workers, opt.cfg.Mode
		}
		out := struct {
			engine.Result
			Error string `json:"error,omitempty"`
		}{Result: res}
		if err != nil {
			out.Error = err.Error()
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(out); jerr != nil {
			return errors.Join(err, jerr)
		}
		return err
	}
	if err == nil || res.Wall > 0 {
		// A run that failed its exact check (the racy demo) still shows
		// what it computed, and what it lost, above the error.
		printResult(stdout, res)
	}
	return err
}

// help is "pishm help [command]": the usage -h prints, the command's for
// a subcommand with flags.
func help(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) > 1 {
		return usagef("help takes at most one command, got %q", args)
	}
	if len(args) == 1 {
		switch args[0] {
		case "bench", "coordinate", "worker", "stats":
			return run(ctx, stdout, stderr, []string{args[0], "-h"})
		case "info", "gc", "version", "help":
			// No flags: the main usage says what they do.
		default:
			return usagef("help: unknown command %q (want bench, coordinate, worker, stats, info, gc or version)", args[0])
		}
	}
	return run(ctx, stdout, stderr, []string{"-h"})
}

func parse(stderr io.Writer, args []string) (options, error) {
	var opt options
	fs := flag.NewFlagSet("pishm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `usage: pishm [flags]
       pishm info
       pishm gc
       pishm version
       pishm help [command]
       pishm coordinate -redis URL -n N -chunks C [flags]
       pishm worker -redis URL [flags]
       pishm bench [-quick] [-compare] [-count K] [-json|-csv] [-svg FILE]
       pishm stats [flags] FILE

pishm sums the first n terms of 1/(2k+1)^2 on child processes that share a
memory segment, publishes the partial sums by -mode, and prints pi with its
error against the exact closed form. Exit status: 0 success, 1 failure at
run time, 2 bad input, 128+signal when stopped by SIGHUP, SIGINT or SIGTERM.

Flags:
`)
		fs.PrintDefaults()
	}
	n := fs.String("n", "1e9", "number of series `terms`: 1000000, 1e9, 1_000_000_000, 2.5e8 (at most 1e15)")
	fs.IntVar(&opt.cfg.Workers, "workers", runtime.NumCPU(), "number of worker `processes`")
	mode := fs.String("mode", "slots", "publishing `strategy`: "+modeNames())
	shm := fs.String("shm", "posix", "segment `backing`: posix (/dev/shm) or file (needs -path)")
	fs.StringVar(&opt.cfg.Path, "path", "", "`file` for -shm=file; created 0600, removed after the run")
	fs.BoolVar(&opt.cfg.Force, "force", false, "let -path replace an existing regular file (which is then gone: the segment file is removed after the run)")
	publish := fs.String("publish", "", "static schedule: publish every `K` terms (default: once per worker, at the end)")
	chunk := fs.String("chunk", "", "dynamic schedule: take and publish `K` terms at a time (default: n/(32 workers))")
	grain := fs.String("grain", "0", "terms per piece of the grid the series is summed on (`K`; 0: from n, at most 65536); -publish and -chunk are rounded up to whole pieces")
	fs.StringVar(&opt.cfg.Kernel, "kernel", "auto", "inner `loop`: auto or "+kernelNames()+" (PISHM_KERNEL overrides auto)")
	fs.BoolVar(&opt.json, "json", false, "print the result as one JSON object")
	fs.BoolVar(&opt.verbose, "v", false, "on a worker's failure, also print what it wrote to stderr (a stack, say)")
	fs.BoolVar(&opt.quiet, "quiet", false, "no progress: bars on a terminal (runs over a second), else a line on stderr every 5s")
	sched := fs.String("sched", "static", "work `sharing`: static ranges or dynamic chunks from a shared counter")
	fs.BoolVar(&opt.cfg.Extrapolate, "extrapolate", false, "also print pi with the series' tail added in closed form")
	fs.DurationVar(&opt.cfg.Timeout, "timeout", 0, "give up after `duration` (0: never)")
	spawn := fs.String("spawn", "auto", "how workers start: exec (re-execute pishm-worker or pishm), fork (linux/amd64, slots, static, one publish: a child that runs only the assembly kernel), or auto: fork where it can")
	fs.DurationVar(&opt.cfg.Stall, "stall", 0, "kill and redo a worker that makes no progress for `duration` (0: 2m, negative: never; a stopped worker goes after 2s)")
	retries := fs.Int("retries", engine.DefaultRetries, "fresh attempts at a dead worker's range (`N`, 0 for none)")
	fs.StringVar(&opt.cfg.RedisURL, "redis", defaultRedisURL, "redis-server `URL` for -mode=redis (user:password@ and rediss:// pass through)")
	fs.IntVar(&opt.cfg.Pad, "pad", 0, "also write each publish to a lane `P` bytes from the next (8, 64, 128): the false-sharing experiment; 0 for none")
	allowRacy := fs.Bool("allow-racy", false, "permit -mode=racy, the unsynchronized load-add-store that loses updates (for demonstrations)")
	if err := parseFlags(fs, args); err != nil {
		return opt, err
	}
	var err error
	if opt.cfg.N, err = parseCount(*n, engine.MaxN); err != nil {
		return opt, usagef("-n: %v", err)
	}
	if *publish != "" {
		if opt.cfg.Publish, err = parseCount(*publish, engine.MaxN); err != nil {
			return opt, usagef("-publish: %v", err)
		}
	}
	if *chunk != "" {
		if opt.cfg.Chunk, err = parseCount(*chunk, engine.MaxN); err != nil {
			return opt, usagef("-chunk: %v", err)
		}
	}
	if *grain != "0" {
		if opt.cfg.Grain, err = parseCount(*grain, engine.MaxGrain); err != nil {
			return opt, usagef("-grain: %v", err)
		}
	}
	if opt.cfg.Workers < 1 { // the engine's 0 is "one per CPU": the flag's default says so already
		return opt, usagef("-workers must be in [1, %d], got %d", engine.MaxWorkers, opt.cfg.Workers)
	}
	opt.cfg.Mode = engine.Mode(*mode)
	opt.cfg.AllowRacy = *allowRacy
	if opt.cfg.Mode == engine.Racy && !*allowRacy {
		return opt, usagef("-mode=racy loses updates on purpose; add -allow-racy to run it")
	}
	opt.cfg.Shm = engine.Backing(*shm)
	if opt.cfg.Shm == engine.ShmFile && opt.cfg.Path != "" {
		if err := checkPath(opt.cfg.Path, opt.cfg.Force); err != nil {
			return opt, err
		}
	}
	opt.cfg.Sched = engine.Schedule(*sched)
	opt.cfg.Spawn = *spawn
	if *retries < 0 || *retries > engine.MaxRetries {
		return opt, usagef("-retries must be in [0, %d], got %d", engine.MaxRetries, *retries)
	}
	opt.cfg.Retries = *retries
	if *retries == 0 {
		opt.cfg.Retries = -1 // the engine's "none"
	}
	// Everything else is the engine's to judge, once: its errors name the
	// Config field, which asFlagError turns into the flag.
	if err := opt.cfg.Validate(); err != nil {
		return opt, asFlagError(err)
	}
	return opt, nil
}

// checkPath refuses, before any worker starts, a -path that the file
// backing would refuse, so that it is bad input (exit 2) like any other.
// The backing checks again when it creates the file.
func checkPath(path string, force bool) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return usagef("-path %s is a symlink; pishm never follows one", path)
	case err == nil && !fi.Mode().IsRegular():
		return usagef("-path %s exists and is not a regular file", path)
	case err == nil && !force:
		return usagef("-path %s already exists; -force replaces it (and it is gone after the run)", path)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return usagef("-path: %v", err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return usagef("-path: %v", err)
	} else if !fi.IsDir() {
		return usagef("-path: %s is not a directory", dir)
	}
	return nil
}

// asFlagError turns an error of engine.Config's validation (an
// *engine.ConfigError, "engine: Config.N must be ...") into a usage error
// in the command's terms ("-n must be ..."), by asking the error to name
// its fields as flags. The command checks its flags itself, so this is
// for what only the engine knows (a kernel this CPU cannot run); other
// errors, and those naming a field no flag sets, pass through.
func asFlagError(err error) error {
	var ce *engine.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	flagged := true
	text := ce.Explain(func(field string) string {
		if f := fieldFlag(field); f != "" {
			return f
		}
		flagged = false
		return "Config." + field
	})
	if !flagged {
		return err // a field no flag sets (Offset): keep the engine's words
	}
	return usageError{text}
}

// fieldFlag is the flag that sets the engine.Config field, or "".
func fieldFlag(field string) string {
	switch field {
	case "N", "Workers", "Mode", "Shm", "Path", "Force", "Chunk", "Publish", "Kernel", "Timeout", "Retries", "Sched", "Pad", "Stall", "Spawn":
		return "-" + strings.ToLower(field)
	case "RedisURL":
		return "-redis"
	case "Extrapolate":
		return "-extrapolate"
	}
	return ""
}

// parseCount reads a positive integer count written as 1000000,
// 1_000_000, 1e9 or 2.5e8, at most max.
func parseCount(s string, max uint64) (uint64, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if t == "" {
		return 0, fmt.Errorf("empty value")
	}
	if u, err := strconv.ParseUint(t, 10, 64); err == nil {
		if u == 0 || u > max {
			return 0, fmt.Errorf("must be in [1, %g], got %s", float64(max), s)
		}
		return u, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) && !strings.ContainsAny(t, "eE") {
		return 0, fmt.Errorf("not a number: %q", s)
	}
	if f < 1 || f > float64(max) {
		return 0, fmt.Errorf("must be in [1, %g], got %s", float64(max), s)
	}
	if f != math.Trunc(f) {
		return 0, fmt.Errorf("must be a whole number, got %s", s)
	}
	return uint64(f), nil
}

func modeNames() string {
	var s []string
	for _, m := range engine.Modes() {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

func validKernel(name string) bool {
	if name == "auto" || name == "" {
		return true
	}
	for _, k := range engine.Kernels() {
		if k.Name == name {
			return true
		}
	}
	return false
}

func kernelNames() string {
	var s []string
	for _, k := range engine.Kernels() {
		s = append(s, k.Name)
	}
	return strings.Join(s, ", ")
}

func printResult(w io.Writer, r engine.Result) {
	fmt.Fprintf(w, "pi        %.16f  (error %+.3e against math.Pi: the truncation of the series at n terms)\n", r.Pi, r.PiError)
	if r.PiExtrapolated != 0 {
		fmt.Fprintf(w, "pi+tail   %.16f  (error %+.3e: the same S_n plus the closed-form tail pi^2/8 - S_n)\n", r.PiExtrapolated, r.PiExtrapolatedError)
	}
	fmt.Fprintf(w, "S_n       %.16f  (exact %.16f, relative error %+.2e)\n", r.Sum, r.SumExact, r.SumRelError)
	spawn := ""
	if r.Spawn != "" {
		spawn = ", spawn " + r.Spawn
	}
	fmt.Fprintf(w, "n         %d terms, %d workers, mode %s, kernel %s, shm %s, sched %s%s\n", r.N, r.Workers, r.Mode, r.Kernel, r.Shm, r.Sched, spawn)
	fmt.Fprintf(w, "time      %v wall, %v work, %.3g terms/s\n", r.Wall.Round(time.Microsecond), r.Elapsed.Round(time.Microsecond), r.TermsPerSec)
	for _, f := range r.Failures {
		fmt.Fprintf(w, "failure   worker %d (pid %d) died %s: %s; %s\n", f.Worker, f.Pid, f.When, f.How, f.Action)
	}
	if r.LostSum != 0 {
		fmt.Fprintf(w, "racy      %.3g of the sum (%.2g%%) lost by the unsynchronized load-add-store\n", r.LostSum, 100*r.LostSum/r.SumExact)
	}
	if r.Rebuilt {
		fmt.Fprintf(w, "note      the shared accumulator was set aside after a death; S_n was rebuilt from the workers' journals\n")
	}
}

func info(w io.Writer) error {
	fmt.Fprintf(w, "cpu         %s (%d logical cores)\n", cpuid.CPU.BrandName, runtime.NumCPU())
	var feats []string
	for _, f := range []cpuid.FeatureID{cpuid.SSE2, cpuid.AVX, cpuid.AVX2, cpuid.FMA3, cpuid.AVX512F, cpuid.AVX512DQ, cpuid.AVX512VL} {
		if cpuid.CPU.Supports(f) {
			feats = append(feats, f.String())
		}
	}
	fmt.Fprintf(w, "features    %s\n", strings.Join(feats, " "))
	fmt.Fprintf(w, "cache line  %d bytes; slot stride %d bytes\n", cpuid.CPU.CacheLine, engine.SlotStride())
	if free, err := shmem.FreeBytes(shmem.Dir); err == nil {
		fmt.Fprintf(w, "/dev/shm    %.1f MiB free\n", float64(free)/(1<<20))
	} else {
		fmt.Fprintf(w, "/dev/shm    unavailable: %v\n", err)
	}
	fmt.Fprintf(w, "kernels     (auto picks %s)\n", engine.BestKernel())
	for _, k := range engine.Kernels() {
		can := "supported"
		if !k.Supported {
			can = "not supported by this CPU"
		}
		req := strings.Join(k.Requires, ", ")
		if req == "" {
			req = "none"
		}
		fmt.Fprintf(w, "  %-8s  needs %-36s %s\n", k.Name, req, can)
	}
	return nil
}

// version prints what this binary is and how it was built.
func version(w io.Writer) error {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return errors.New("this binary carries no build information")
	}
	printVersion(w, bi)
	return nil
}

// printVersion prints the module and Go versions, the VCS revision, and
// the build settings that change the code: cgo, the instruction-set level
// (GOAMD64, GOARM64) and the tags (purego and noasm drop the assembly).
func printVersion(w io.Writer, bi *debug.BuildInfo) {
	set := make(map[string]string)
	for _, s := range bi.Settings {
		set[s.Key] = s.Value
	}
	or := func(v, def string) string {
		if v == "" {
			return def
		}
		return v
	}
	fmt.Fprintf(w, "pishm     %s %s\n", or(bi.Main.Path, "(unknown module)"), or(bi.Main.Version, "(unknown version)"))
	fmt.Fprintf(w, "go        %s %s/%s\n", or(bi.GoVersion, runtime.Version()), or(set["GOOS"], runtime.GOOS), or(set["GOARCH"], runtime.GOARCH))
	if rev := set["vcs.revision"]; rev != "" {
		line := rev
		if t := set["vcs.time"]; t != "" {
			line += " " + t
		}
		if set["vcs.modified"] == "true" {
			line += " (modified)"
		}
		fmt.Fprintf(w, "revision  %s\n", line)
	} else {
		fmt.Fprintf(w, "revision  unknown (go build in a git checkout stamps it; go run, go test and -buildvcs=false do not)\n")
	}
	build := []string{"CGO_ENABLED=" + or(set["CGO_ENABLED"], "?")}
	for _, k := range []string{"GOAMD64", "GOARM64", "GOARM", "GO386"} {
		if v := set[k]; v != "" {
			build = append(build, k+"="+v)
		}
	}
	build = append(build, "-tags="+or(set["-tags"], "(none)"))
	if set["-race"] == "true" {
		build = append(build, "-race")
	}
	fmt.Fprintf(w, "build     %s\n", strings.Join(build, " "))
}

func gc(w io.Writer) error {
	return removeStale(w)
}
