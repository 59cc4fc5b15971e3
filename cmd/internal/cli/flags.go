package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// ParseFlags parses args into fs and refuses positional arguments. A flag
// the parser rejects gives one line (ExitCode adds a pointer to -h), not
// the parser's own copy of the error followed by the whole usage; -h prints
// the usage to fs's output. A -redis flag, where fs has one, must be a URL
// go-redis takes.
func ParseFlags(fs *flag.FlagSet, args []string) error {
	if err := ParseFlagsArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		if fs.Name() == "pishm" && !strings.HasPrefix(fs.Arg(0), "-") {
			return Usagef("unknown command %q: the commands are %s; a pi run takes flags only (pishm -n 1e9)", fs.Arg(0), strings.Join(commands, ", "))
		}
		return Usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// ParseFlagsArgs is ParseFlags for a command that takes arguments after
// its flags (fs.Args()).
func ParseFlagsArgs(fs *flag.FlagSet, args []string) error {
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
		return Usagef("-redis: not a URL: %v", err)
	}
	shown := strconv.Quote(raw)
	if u.User != nil {
		shown = strconv.Quote(u.Redacted())
	}
	switch u.Scheme {
	case "redis", "rediss", "unix":
		return nil
	case "":
		return Usagef("-redis %s has no scheme: want redis://host:port/db, rediss:// (TLS) or unix:///path", shown)
	}
	return Usagef("-redis %s: unknown scheme %q (want redis, rediss or unix)", shown, u.Scheme)
}

// options are the parsed flags.
type options struct {
	cfg     pi.Config
	json    bool
	quiet   bool
	verbose bool
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
	mode := fs.String("mode", "slots", "publishing `strategy`: "+ModeNames())
	shm := fs.String("shm", "posix", "segment `backing`: posix (/dev/shm) or file (needs -path)")
	fs.StringVar(&opt.cfg.Path, "path", "", "`file` for -shm=file; created 0600, removed after the run")
	fs.BoolVar(&opt.cfg.Force, "force", false, "let -path replace an existing regular file (which is then gone: the segment file is removed after the run)")
	publish := fs.String("publish", "", "static schedule: publish every `K` terms (default: once per worker, at the end)")
	chunk := fs.String("chunk", "", "dynamic schedule: take and publish `K` terms at a time (default: n/(32 workers))")
	grain := fs.String("grain", "0", "terms per piece of the grid the series is summed on (`K`; 0: from n, catalog.DefaultGrain); -publish and -chunk are rounded up to whole pieces")
	fs.StringVar(&opt.cfg.Kernel, "kernel", "auto", "inner `loop`: auto or "+KernelNames()+" (PISHM_KERNEL overrides auto)")
	fs.BoolVar(&opt.json, "json", false, "print the result as one JSON object")
	fs.BoolVar(&opt.verbose, "v", false, "on a worker's failure, also print what it wrote to stderr (a stack, say)")
	fs.BoolVar(&opt.quiet, "quiet", false, "no progress: bars on a terminal (runs over a second), else a line on stderr every 5s")
	sched := fs.String("sched", "static", "work `sharing`: static ranges or dynamic chunks from a shared counter")
	fs.BoolVar(&opt.cfg.Extrapolate, "extrapolate", false, "also print pi with the series' tail added in closed form")
	fs.DurationVar(&opt.cfg.Timeout, "timeout", 0, "give up after `duration` (0: never)")
	fs.BoolVar(&opt.cfg.CallerShare, "caller-share", false, "pishm sums worker 0's share itself, as an OpenMP master thread does: -workers counts it, and it starts one process fewer (shared-memory modes)")
	spawn := fs.String("spawn", "auto", "how workers start: exec (re-execute pishm-worker or pishm), fork (linux/amd64, slots, static, one publish: a child that runs only the assembly kernel), or auto: fork where it can")
	fs.DurationVar(&opt.cfg.Stall, "stall", 0, "kill and redo a worker that makes no progress for `duration` (0: 2m, negative: never; a stopped worker goes after 2s)")
	retries := fs.Int("retries", lab.DefaultRetries, "fresh attempts at a dead worker's range (`N`, 0 for none)")
	fs.StringVar(&opt.cfg.RedisURL, "redis", defaultRedisURL, "redis-server `URL` for -mode=redis (user:password@ and rediss:// pass through)")
	fs.IntVar(&opt.cfg.Pad, "pad", 0, "also write each publish to a lane `P` bytes from the next (8, 64, 128): the false-sharing experiment; 0 for none")
	allowRacy := fs.Bool("allow-racy", false, "permit -mode=racy, the unsynchronized load-add-store that loses updates (for demonstrations)")
	if err := ParseFlags(fs, args); err != nil {
		return opt, err
	}
	var err error
	if opt.cfg.N, err = ParseCount(*n, lab.MaxN); err != nil {
		return opt, Usagef("-n: %v", err)
	}
	if *publish != "" {
		if opt.cfg.Publish, err = ParseCount(*publish, lab.MaxN); err != nil {
			return opt, Usagef("-publish: %v", err)
		}
	}
	if *chunk != "" {
		if opt.cfg.Chunk, err = ParseCount(*chunk, lab.MaxN); err != nil {
			return opt, Usagef("-chunk: %v", err)
		}
	}
	if *grain != "0" {
		if opt.cfg.Grain, err = ParseCount(*grain, lab.MaxGrain); err != nil {
			return opt, Usagef("-grain: %v", err)
		}
	}
	if opt.cfg.Workers < 1 { // the engine's 0 is "one per CPU": the flag's default says so already
		return opt, Usagef("-workers must be in [1, %d], got %d", lab.MaxWorkers, opt.cfg.Workers)
	}
	opt.cfg.Mode = lab.Mode(*mode)
	opt.cfg.AllowRacy = *allowRacy
	if opt.cfg.Mode == lab.Racy && !*allowRacy {
		return opt, Usagef("-mode=racy loses updates on purpose; add -allow-racy to run it")
	}
	if opt.cfg.Mode == lab.Racy && !given(fs, "grain") && !given(fs, "publish") && opt.cfg.Sched != lab.Dynamic {
		// The demonstration loses updates only when the workers add into
		// the shared word often enough to collide: by default each would
		// add once, at the end of its share, and lose nothing. Publish
		// every smallest default piece (512 terms): about 2·10⁶ adds at
		// n = 1e9, a second or two.
		opt.cfg.Grain, opt.cfg.Publish = racyGrain, racyGrain
	}
	opt.cfg.Shm = shmem.Backing(*shm)
	if opt.cfg.Shm == shmem.File && opt.cfg.Path != "" {
		if err := checkPath(opt.cfg.Path, opt.cfg.Force); err != nil {
			return opt, err
		}
	}
	opt.cfg.Sched = lab.Schedule(*sched)
	opt.cfg.Spawn = *spawn
	if *retries < 0 || *retries > lab.MaxRetries {
		return opt, Usagef("-retries must be in [0, %d], got %d", lab.MaxRetries, *retries)
	}
	opt.cfg.Retries = *retries
	if *retries == 0 {
		opt.cfg.Retries = -1 // the engine's "none"
	}
	if !linked(opt.cfg.Mode) {
		return opt, nil // pishm-full's to judge: Run forwards the arguments
	}
	// Everything else is the engine's to judge, once: its errors name the
	// Config field, which AsFlagError turns into the flag.
	if err := opt.cfg.Validate(); err != nil {
		return opt, AsFlagError(err)
	}
	return opt, nil
}

// racyGrain is the racy mode's grain and publish interval when neither is
// given: the smallest default piece.
const racyGrain = 512

// given reports whether the flag called name was set on the command line.
func given(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// checkPath refuses, before any worker starts, a -path that the file
// backing would refuse, so that it is bad input (exit 2) like any other.
// The backing checks again when it creates the file.
func checkPath(path string, force bool) error {
	fi, err := os.Lstat(path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		return Usagef("-path %s is a symlink; pishm never follows one", path)
	case err == nil && !fi.Mode().IsRegular():
		return Usagef("-path %s exists and is not a regular file", path)
	case err == nil && !force:
		return Usagef("-path %s already exists; -force replaces it (and it is gone after the run)", path)
	case err == nil:
		return nil
	case !errors.Is(err, os.ErrNotExist):
		return Usagef("-path: %v", err)
	}
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil {
		return Usagef("-path: %v", err)
	} else if !fi.IsDir() {
		return Usagef("-path: %s is not a directory", dir)
	}
	return nil
}

// AsFlagError turns an error of lab.Config's validation (an
// *engine.ConfigError, "engine: Config.N must be ...") into a usage error
// in the command's terms ("-n must be ..."), by asking the error to name
// its fields as flags. The command checks its flags itself, so this is
// for what only the engine knows (a kernel this CPU cannot run); other
// errors, and those naming a field no flag sets, pass through.
func AsFlagError(err error) error {
	var ce *engine.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	flagged := true
	text := lab.Explain(ce, func(field string) string {
		if f := fieldFlag(field); f != "" {
			return f
		}
		flagged = false
		return "Config." + field
	})
	if !flagged {
		return err // a field no flag sets (Offset): keep the engine's words
	}
	return UsageError{text}
}

// fieldFlag is the flag that sets the lab.Config field, or "".
func fieldFlag(field string) string {
	switch field {
	case "N", "Workers", "Mode", "Shm", "Path", "Force", "Chunk", "Publish", "Kernel", "Timeout", "Retries", "Sched", "Pad", "Stall", "Spawn", "Grain":
		return "-" + strings.ToLower(field)
	case "RedisURL":
		return "-redis"
	case "Extrapolate":
		return "-extrapolate"
	case "CallerShare":
		return "-caller-share"
	}
	return ""
}

// ParseCount reads a positive integer count written as 1000000,
// 1_000_000, 1e9 or 2.5e8, at most max.
func ParseCount(s string, max uint64) (uint64, error) {
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

// ModeNames lists the -mode values, for usage lines and messages.
func ModeNames() string {
	var s []string
	for _, m := range lab.Modes() {
		s = append(s, string(m))
	}
	return strings.Join(s, ", ")
}

// ValidKernel reports whether name is auto or a kernel pi has.
func ValidKernel(name string) bool {
	if name == "auto" || name == "" {
		return true
	}
	for _, k := range pi.Kernels() {
		if k.Name == name {
			return true
		}
	}
	return false
}

// KernelNames lists pi's kernels, for usage lines and messages.
func KernelNames() string {
	var s []string
	for _, k := range pi.Kernels() {
		s = append(s, k.Name)
	}
	return strings.Join(s, ", ")
}

// defaultRedisURL is the -redis default.
const defaultRedisURL = transport.DefaultRedisURL
