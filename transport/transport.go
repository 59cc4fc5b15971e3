package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Errors that callers can test with errors.Is.
var (
	// ErrMalformed: a record has the wrong length, magic, version or checksum.
	ErrMalformed = errors.New("malformed record")
	// ErrDuplicate: a worker index was reported more than once.
	ErrDuplicate = errors.New("duplicate worker")
	// ErrWorkerRange: a record or hello names a worker outside [0, Workers).
	ErrWorkerRange = errors.New("worker index out of range")
	// ErrWrongWorker: a per-worker channel carried a record for another worker.
	ErrWrongWorker = errors.New("record for another worker")
	// ErrMissing: a worker did not report (Collect's context expired, or the
	// worker closed its channel or exited without sending).
	ErrMissing = errors.New("missing worker")
	// ErrClosed: the collector was closed.
	ErrClosed = errors.New("collector closed")
	// ErrNotChild: Send was called in a process that Child did not set up.
	ErrNotChild = errors.New("not started by a transport collector")
	// ErrUnsupported: the kind is not implemented on this OS.
	ErrUnsupported = errors.New("not supported on this OS")
	// ErrNotLinked: the kind is known, but the package that registers it
	// is not linked into this binary (see Import).
	ErrNotLinked = errors.New("transport not linked in")
)

// EnvPrefix starts the name of every environment variable that Child sets.
const EnvPrefix = "PISHM_TRANSPORT"

// The environment variables that Child sets and Send reads. Every kind
// sets EnvKind and EnvWorker; a Backend's Child adds the others it uses.
const (
	EnvKind     = EnvPrefix
	EnvWorker   = EnvPrefix + "_WORKER"
	EnvAddr     = EnvPrefix + "_ADDR"
	EnvFD       = EnvPrefix + "_FD"
	EnvToken    = EnvPrefix + "_TOKEN"
	EnvRedisURL = EnvPrefix + "_REDIS_URL"
)

// DefaultRedisURL is the redis server used when none is given: by
// Options.RedisURL, the engine's Config.RedisURL and the command line.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

// known are the nine kinds of the doc comment, in that order: the one
// list of them, from which the engine takes its modes and their codes and
// pishm which kinds its lean worker can serve. code is the number the
// engine's segment carries for the kind (see Code).
var known = []struct {
	kind, pkg string
	code      uint32
}{
	{"file", thisPackage, 10},
	{"pipe", thisPackage, 11},
	{"fifo", thisPackage, 12},
	{"unix", netsockPackage, 13},
	{"tcp", netsockPackage, 14},
	{"socketpair", thisPackage, 15},
	{"posixmq", thisPackage, 16},
	{"sysvmq", thisPackage, 17},
	{"redis", redisPackage, 18},
}

// Code is the number that stands for one of the nine kinds in the
// engine's shared segment (part of its protocol: a number is never
// reused), or 0 for any other kind: the engine runs the nine.
func Code(kind string) uint32 {
	for _, k := range known {
		if k.kind == kind {
			return k.code
		}
	}
	return 0
}

// Builtin reports whether kind is one of the nine that this package
// registers itself, so that every binary linking it has them: those need
// neither package net nor a client library.
func Builtin(kind string) bool { return Import(kind) == thisPackage }

const (
	thisPackage    = "github.com/pishm/pishm/transport"
	netsockPackage = "github.com/pishm/pishm/transport/netsock"
	redisPackage   = "github.com/pishm/pishm/transport/redis"
)

// Kinds returns the names of the nine transports, whether or not this OS
// supports them and whether or not they are linked in, followed by any
// other registered kinds in name order.
func Kinds() []string {
	var ks []string
	for _, k := range known {
		ks = append(ks, k.kind)
	}
	regMu.RLock()
	var extra []string
	for name := range registry {
		if !slices.Contains(ks, name) {
			extra = append(extra, name)
		}
	}
	regMu.RUnlock()
	slices.Sort(extra)
	return append(ks, extra...)
}

// Import returns the import path of the package that registers kind, one of
// the nine; "" for any other kind.
func Import(kind string) string {
	for _, k := range known {
		if k.kind == kind {
			return k.pkg
		}
	}
	return ""
}

// Kind is one transport's implementation, given to Register.
type Kind struct {
	// New sets up the parent side of one run: c is the run's Core, to
	// which the backend's receivers deliver. ctx bounds only the set-up.
	New func(ctx context.Context, c *Core, opt Options) (Backend, error)
	// Send is the child side: it sends rec, one record as it stands
	// (MessageSize bytes from Message.AppendBinary; tests send malformed
	// ones), over the channel that e describes.
	Send func(ctx context.Context, e ChildEnv, rec []byte) error
	// Stream says Send writes a private stream that ends at EOF: it takes a
	// worker's records all at once. Otherwise each record is a message of
	// its own (a FIFO's atomic write, a queue's message, a list entry).
	Stream bool
}

var (
	regMu    sync.RWMutex
	registry = map[string]Kind{}
)

// Register makes kind available to NewCollector and Send in this process.
// Packages call it from init. It panics if kind is empty or already
// registered, or if k.New or k.Send is nil.
func Register(kind string, k Kind) {
	if kind == "" || k.New == nil || k.Send == nil {
		panic("transport: Register: empty kind or nil New or Send")
	}
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[kind]; dup {
		panic("transport: Register called twice for kind " + kind)
	}
	registry[kind] = k
}

// Lookup returns the registered implementation of kind. The error wraps
// ErrNotLinked for a known kind whose package is not linked in, and names
// the package to import.
func Lookup(kind string) (Kind, error) {
	regMu.RLock()
	k, ok := registry[kind]
	regMu.RUnlock()
	if ok {
		return k, nil
	}
	if pkg := Import(kind); pkg != "" {
		return Kind{}, fmt.Errorf("transport: kind %s: %w: import _ %q", kind, ErrNotLinked, pkg)
	}
	return Kind{}, fmt.Errorf("transport: unknown kind %q (want one of %s)", kind, strings.Join(Kinds(), ", "))
}

// Options configure one run's Collector.
type Options struct {
	// Workers is the number of children; each must report exactly once.
	Workers int
	// Elems is the number of records each child sends, one per element of
	// a k-wide result (default 1).
	Elems int
	// RedisURL locates the redis server (kind redis only); default
	// DefaultRedisURL. Credentials and TLS (rediss://) come from the URL.
	RedisURL string
	// Dir is the parent directory of the private temp dirs (file, fifo,
	// unix); default os.TempDir().
	Dir string
	// Retries says the caller restarts workers that die (calling Retry):
	// a channel that closes without a whole record is then noted, not an
	// error, and Collect reports it only if the worker's record never comes.
	Retries bool
}

// Collector is the parent side of one run.
type Collector interface {
	// Child returns what worker i needs: environment entries ("KEY=VALUE")
	// and files to inherit, in ExtraFiles order (the k-th is fd 3+k).
	// Child i is started right after this call.
	Child(i int) (env []string, files []*os.File, err error)
	// Started tells the collector that child i is running; the parent's
	// copies of the child's ends are closed here.
	Started(i int)
	// Exited tells the collector that child i exited with status 0 (the
	// file transport reads the worker's file here).
	Exited(i int)
	// Retry tells the collector that worker i's process died and a fresh
	// one will be started (after a new Child(i)). A record the dead one
	// already sent stands; the retry's identical record is then dropped.
	// It needs Options.Retries.
	Retry(i int) error
	// Collect blocks until every worker 0..Workers-1 reported exactly once
	// and returns the messages indexed by worker. A malformed, duplicate,
	// out-of-range or misdirected record is an error naming the worker
	// where it is known; ctx expiry is an error naming the missing workers.
	// Range plausibility (Lo < Hi) is left to the caller.
	Collect(ctx context.Context) ([]Message, error)
	// Close stops the receivers, closes every descriptor and removes every
	// named resource (temp dir, files, FIFO, socket, queue, redis key) and
	// its manifest. It
	// is idempotent and may be called at any time, even during Collect,
	// which then returns ErrClosed.
	Close() error
}

// reclaim removes, once per process, what the transport runs of dead
// processes left (GC): a program killed mid-run (by a signal it does not
// handle) cannot remove its FIFOs, sockets, result files and queues, and
// the next program to set up a transport run takes them away, so that a
// killed embedder does not leak for ever.
var reclaim = sync.OnceFunc(func() { GC() })

// NewCollector sets up the parent side of a run of the given kind. The
// context bounds only the set-up (dialing redis, for instance).
func NewCollector(ctx context.Context, kind string, opt Options) (Collector, error) {
	reclaim()
	if opt.Workers <= 0 {
		return nil, fmt.Errorf("transport: Options.Workers must be > 0, got %d", opt.Workers)
	}
	k, err := Lookup(kind)
	if err != nil {
		return nil, err
	}
	if opt.Elems < 0 {
		return nil, fmt.Errorf("transport: Options.Elems must be >= 0, got %d", opt.Elems)
	}
	c := newCore(kind, opt.Workers, max(opt.Elems, 1))
	c.tolerant = opt.Retries
	b, err := k.New(ctx, c, opt)
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", kind, err)
	}
	return &collector{Core: c, b: b}, nil
}

// Send is the child side: it reads the environment (and the inherited
// descriptor) that Child set up and sends ms, once: a worker's one
// message, or its k messages of a k-wide result, elements 0 to k-1 in
// order. Each m.Worker must be the index in PISHM_TRANSPORT_WORKER. The
// context bounds the whole send.
func Send(ctx context.Context, ms ...Message) error {
	env, err := ReadChildEnv(os.Getenv)
	if err != nil {
		return err
	}
	rec := make([]byte, 0, len(ms)*MessageSize)
	for _, m := range ms {
		if m.Worker != env.Worker {
			return fmt.Errorf("transport: send: message is for worker %d, but this process is worker %d (%s)",
				m.Worker, env.Worker, EnvWorker)
		}
		rec, _ = m.AppendBinary(rec)
	}
	return SendRecord(ctx, env, rec)
}

// ChildEnv is what Send finds in the environment: the variables of the doc
// comment, parsed.
type ChildEnv struct {
	Kind     string // EnvKind
	Worker   uint32 // EnvWorker
	Addr     string // EnvAddr
	FD       int    // EnvFD; -1 when unset
	Token    string // EnvToken
	RedisURL string // EnvRedisURL
}

// ReadChildEnv parses the environment that Child set up, read through
// getenv (os.Getenv in a child). The error wraps ErrNotChild when EnvKind
// is unset.
func ReadChildEnv(getenv func(string) string) (ChildEnv, error) {
	e := ChildEnv{Kind: getenv(EnvKind), Addr: getenv(EnvAddr), Token: getenv(EnvToken), RedisURL: getenv(EnvRedisURL), FD: -1}
	if e.Kind == "" {
		return e, fmt.Errorf("transport: send: %s is not set: %w", EnvKind, ErrNotChild)
	}
	if !slices.Contains(Kinds(), e.Kind) {
		return e, fmt.Errorf("transport: send: %s=%q is not a known kind", EnvKind, e.Kind)
	}
	w, err := strconv.ParseUint(getenv(EnvWorker), 10, 32)
	if err != nil {
		return e, fmt.Errorf("transport: send: %s: %w", EnvWorker, err)
	}
	e.Worker = uint32(w)
	if s := getenv(EnvFD); s != "" {
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			return e, fmt.Errorf("transport: send: %s=%q is not a descriptor >= 3", EnvFD, s)
		}
		e.FD = fd
	}
	return e, nil
}

// SendRecord sends rec as it stands through e's kind: one record, or a
// worker's records back to back, which a kind that is not a Stream sends
// one message per MessageSize bytes. Send is SendRecord of Messages'
// encodings; tests use it to send malformed records.
func SendRecord(ctx context.Context, e ChildEnv, rec []byte) error {
	k, err := Lookup(e.Kind)
	if err != nil {
		return err
	}
	each := len(rec)
	if !k.Stream && len(rec) > MessageSize && len(rec)%MessageSize == 0 {
		each = MessageSize
	}
	for {
		if err := k.Send(ctx, e, rec[:each]); err != nil {
			return fmt.Errorf("transport: %s: send worker %d: %w", e.Kind, e.Worker, err)
		}
		if rec = rec[each:]; len(rec) == 0 {
			return nil
		}
	}
}

// commonEnv returns the entries every kind sets for worker i.
func commonEnv(kind string, i int) []string {
	return []string{EnvKind + "=" + kind, EnvWorker + "=" + strconv.Itoa(i)}
}
