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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

// signalGrace is how long a run may take to end after a signal before
// the process exits without it.
const signalGrace = 2 * time.Second

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
		// The first signal cancels, and a run ends cleanly within moments
		// (workers reaped, names removed). Should something not end (a
		// call blocked where no context reaches), a second signal, or
		// signalGrace after the first, ends the process at once.
		select {
		case s = <-sigs:
		case <-time.After(signalGrace):
		}
		fmt.Fprintf(os.Stderr, "pishm: %s: exiting without waiting for the run to end\n", signalName(s.(syscall.Signal)))
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
	out := &checkedWriter{w: os.Stdout}
	err := run(ctx, out, os.Stderr, os.Args[1:])
	if err == nil && out.err != nil {
		err = fmt.Errorf("writing the output: %w", out.err)
	}
	os.Exit(exitCode(ctx, os.Stderr, err))
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
	// One line whatever the error holds (a path with a newline in it).
	fmt.Fprintf(stderr, "pishm: %s\n", oneLineMsg(err.Error()))
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

// commands are pishm's commands, for the message that names an unknown one.
var commands = []string{"stats", "bench", "info", "gc", "version", "help", "coordinate", "worker"}

// wantsHelp reports whether args ask for the usage (-h, -help, --help
// among the flags): it then goes to stdout, so that pishm -h | less works.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "-h=true", "-help=true", "--help=true":
			return true
		case "--":
			return false
		}
	}
	return false
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if wantsHelp(args) {
		stderr = stdout
	}
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		return version(stdout)
	}
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
	if opt.cfg.Spawn != lab.SpawnFork {
		opt.cfg.WorkerBinary = leanWorker(opt.cfg.Mode)
	}
	res, err := pi.Run(ctx, opt.cfg)
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
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		var out any
		switch {
		case err == nil:
			out = res
		case res.Wall == 0:
			// Nothing was computed: the object says what was asked and
			// why it failed, with no result fields a reader could take
			// for a sum of 0.
			out = struct {
				N       uint64   `json:"n"`
				Workers int      `json:"workers"`
				Mode    lab.Mode `json:"mode"`
				Error   string   `json:"error"`
			}{opt.cfg.N, opt.cfg.Workers, opt.cfg.Mode, err.Error()}
		default:
			// It ran and failed its check (the racy demo): what it
			// computed, beside why it failed.
			out = struct {
				pi.Result
				Error string `json:"error"`
			}{res, err.Error()}
		}
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
