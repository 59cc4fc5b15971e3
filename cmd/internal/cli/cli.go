// Package cli is pishm's command line: the plain run, info, gc, version
// and help, and the dispatch of the commands that live in pishm-full
// (Register), shared by the two binaries so that both read and print the
// same.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
)

// signalGrace is how long a run may take to end after a signal before
// the process exits without it.
const signalGrace = 2 * time.Second

// Main runs pishm with os.Args and exits: the child hook, the signals,
// the command, the exit status.
func Main() {
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
	err := Run(ctx, out, os.Stderr, os.Args[1:])
	if err == nil && out.err != nil {
		err = fmt.Errorf("writing the output: %w", out.err)
	}
	os.Exit(ExitCode(ctx, os.Stderr, err))
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

// UsageError is bad input: exit status 2.
type UsageError struct{ Msg string }

func (e UsageError) Error() string { return e.Msg }

// Usagef is a UsageError with a formatted message.
func Usagef(format string, args ...any) error { return UsageError{fmt.Sprintf(format, args...)} }

// flagError is a command line the flag parser rejected: exit status 2,
// with a pointer to the usage instead of the usage itself.
type flagError struct {
	cmd string // "pishm", "pishm bench", ...
	err error
}

func (e flagError) Error() string { return e.err.Error() }

// ExitCode prints err (if any) and returns the status to exit with.
func ExitCode(ctx context.Context, stderr io.Writer, err error) int {
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
	fmt.Fprintf(stderr, "pishm: %s\n", OneLineMsg(err.Error()))
	var ue UsageError
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

// Run runs the command args (os.Args[1:]) and returns its error, for
// ExitCode.
func Run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if wantsHelp(args) {
		stderr = stdout
	}
	if len(args) == 1 && (args[0] == "-version" || args[0] == "--version") {
		return version(stdout)
	}
	if len(args) > 0 {
		switch args[0] {
		case "stats", "bench", "coordinate", "worker":
			if c := registered[args[0]]; c != nil {
				return c(ctx, stdout, stderr, args[1:])
			}
			return forward("pishm "+args[0], args)
		case "info", "gc", "version":
			if len(args) > 1 {
				return Usagef("%s takes no arguments, got %q", args[0], args[1:])
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
		}
	}
	opt, err := parse(stderr, args)
	if err != nil {
		return err
	}
	if !linked(opt.cfg.Mode) {
		return forward("-mode "+string(opt.cfg.Mode), args)
	}
	switch {
	case opt.quiet:
	case !opt.json && IsTerminal(stdout):
		view := NewProgressView(stdout)
		opt.cfg.Progress = view.Update
		defer view.Close()
	default:
		// Not on a terminal (a log, a pipe, -json): a line on stderr now
		// and then, so that a long run is not silent.
		opt.cfg.Progress = newProgressLines(stderr).update
	}
	if opt.cfg.Spawn != lab.SpawnFork {
		opt.cfg.WorkerBinary = LeanWorker(opt.cfg.Mode)
	}
	res, err := pi.Run(ctx, opt.cfg)
	if err != nil {
		var we *engine.WorkerError
		if opt.verbose && errors.As(err, &we) {
			PrintWorkerDetail(stderr, we)
		}
		err = AsFlagError(err)
		var ue UsageError
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
		PrintResult(stdout, res)
	}
	return err
}

// help is "pishm help [command]": the usage -h prints, the command's for
// a subcommand with flags.
func help(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	if len(args) > 1 {
		return Usagef("help takes at most one command, got %q", args)
	}
	if len(args) == 1 {
		switch args[0] {
		case "bench", "coordinate", "worker", "stats":
			return Run(ctx, stdout, stderr, []string{args[0], "-h"})
		case "info", "gc", "version", "help":
			// No flags: the main usage says what they do.
		default:
			return Usagef("help: unknown command %q (want bench, coordinate, worker, stats, info, gc or version)", args[0])
		}
	}
	return Run(ctx, stdout, stderr, []string{"-h"})
}

// OneLineMsg keeps a message on one line whatever a path holds.
func OneLineMsg(s string) string { return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s) }
