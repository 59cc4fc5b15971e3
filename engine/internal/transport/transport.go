// Package transport carries each worker's partial result (a Message) from a
// child process to the parent by message passing, as an alternative to
// writing it into a shared-memory slot.
//
// The parent makes one Collector per run. For each worker i it calls
// Child(i), starts the child with the returned environment entries appended
// to its own and the returned files as exec.Cmd.ExtraFiles (the k-th file is
// fd 3+k in the child), then calls Started(i); when the child exits with
// status 0 it calls Exited(i). Collect waits for one record from every
// worker, and Close removes whatever the run created. The child, the same
// binary re-executed, calls Send once.
//
// Kinds (see Kinds):
//
//	file        one file per worker in a private 0700 temp dir, read at Exited
//	pipe        one anonymous pipe per worker, write end inherited as fd 3
//	fifo        one named pipe in a private temp dir shared by all workers
//	unix        a unix stream socket listening in a private temp dir
//	tcp         a listener on 127.0.0.1 with a kernel-chosen port
//	socketpair  one AF_UNIX socketpair per worker, one end inherited as fd 3
//	posixmq     a POSIX message queue (raw mq_* syscalls), unlinked at Close
//	sysvmq      a System V message queue (msgget(IPC_PRIVATE)), removed at Close
//	redis       RPUSH to a per-run random list, BLPOP in the parent, DEL at Close
//
// Per-worker channels (file, pipe, socketpair, and unix/tcp connections,
// which open with a hello naming the worker) know which worker a record came
// from, so a record for another worker is an error (ErrWrongWorker). On the
// shared channels (fifo, posixmq, sysvmq, redis) only the record names its
// worker. unix and tcp connections must first present a per-run random token
// (a stray local connection is dropped, not counted).
//
// The child reads these environment variables, all set by Child:
//
//	PISHM_TRANSPORT            the kind
//	PISHM_TRANSPORT_WORKER     the worker index; Send refuses a Message for another
//	PISHM_TRANSPORT_ADDR       file/fifo/socket path, host:port, queue name or id, redis key
//	PISHM_TRANSPORT_FD         the inherited descriptor (pipe, socketpair)
//	PISHM_TRANSPORT_TOKEN      the hello token (unix, tcp)
//	PISHM_TRANSPORT_REDIS_URL  the redis URL (it may carry a password)
//
// fifo, socketpair, posixmq and sysvmq are implemented for Linux only;
// elsewhere NewCollector and Send return an error wrapping ErrUnsupported.
//
// A Collect that fails early leaves the children running: Close makes their
// later sends fail (the dir, FIFO, socket, queue or redis run key is gone)
// rather than leave anything behind, and ending them is the caller's job.
// go-redis logs dial failures through its global logger (redis.SetLogger).
package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
)

// EnvPrefix starts the name of every environment variable that Child sets.
const EnvPrefix = "PISHM_TRANSPORT"

const (
	envKind     = EnvPrefix
	envWorker   = EnvPrefix + "_WORKER"
	envAddr     = EnvPrefix + "_ADDR"
	envFD       = EnvPrefix + "_FD"
	envToken    = EnvPrefix + "_TOKEN"
	envRedisURL = EnvPrefix + "_REDIS_URL"
)

// DefaultRedisURL is used when Options.RedisURL is empty.
const DefaultRedisURL = "redis://127.0.0.1:6379/0"

var kinds = []string{"file", "pipe", "fifo", "unix", "tcp", "socketpair", "posixmq", "sysvmq", "redis"}

// Kinds returns the names of the nine transports, whether or not this OS
// supports them.
func Kinds() []string { return slices.Clone(kinds) }

// Options configure one run's Collector.
type Options struct {
	// Workers is the number of children; each must report exactly once.
	Workers int
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
	// named resource (temp dir, files, FIFO, socket, queue, redis key). It
	// is idempotent and may be called at any time, even during Collect,
	// which then returns ErrClosed.
	Close() error
}

// NewCollector sets up the parent side of a run of the given kind. The
// context bounds only the set-up (dialing redis, for instance).
func NewCollector(ctx context.Context, kind string, opt Options) (Collector, error) {
	if opt.Workers <= 0 {
		return nil, fmt.Errorf("transport: Options.Workers must be > 0, got %d", opt.Workers)
	}
	if !slices.Contains(kinds, kind) {
		return nil, fmt.Errorf("transport: unknown kind %q (want one of %s)", kind, strings.Join(kinds, ", "))
	}
	c := newCore(kind, opt.Workers)
	c.tolerant = opt.Retries
	var (
		b   backend
		err error
	)
	switch kind {
	case "file":
		b, err = newFileBackend(c, opt)
	case "pipe":
		b, err = newPipeBackend(c, opt)
	case "fifo":
		b, err = newFIFOBackend(c, opt)
	case "unix", "tcp":
		b, err = newStreamBackend(c, opt)
	case "socketpair":
		b, err = newSocketpairBackend(c, opt)
	case "posixmq":
		b, err = newPosixMQBackend(c, opt)
	case "sysvmq":
		b, err = newSysVMQBackend(c, opt)
	case "redis":
		b, err = newRedisBackend(ctx, c, opt)
	}
	if err != nil {
		return nil, fmt.Errorf("transport: %s: %w", kind, err)
	}
	return &collector{core: c, b: b}, nil
}

// Send is the child side: it reads the environment (and the inherited
// descriptor) that Child set up and sends m, once. m.Worker must be the
// index in PISHM_TRANSPORT_WORKER. The context bounds the whole send.
func Send(ctx context.Context, m Message) error {
	env, err := childEnvFrom(os.Getenv)
	if err != nil {
		return err
	}
	if m.Worker != env.worker {
		return fmt.Errorf("transport: send: message is for worker %d, but this process is worker %d (%s)",
			m.Worker, env.worker, envWorker)
	}
	rec, _ := m.AppendBinary(make([]byte, 0, MessageSize))
	return sendRaw(ctx, env, rec)
}

// childEnv is what Send finds in the environment.
type childEnv struct {
	kind     string
	worker   uint32
	addr     string
	fd       int
	token    string
	redisURL string
}

func childEnvFrom(getenv func(string) string) (childEnv, error) {
	e := childEnv{kind: getenv(envKind), addr: getenv(envAddr), token: getenv(envToken), redisURL: getenv(envRedisURL), fd: -1}
	if e.kind == "" {
		return e, fmt.Errorf("transport: send: %s is not set: %w", envKind, ErrNotChild)
	}
	if !slices.Contains(kinds, e.kind) {
		return e, fmt.Errorf("transport: send: %s=%q is not a known kind", envKind, e.kind)
	}
	w, err := strconv.ParseUint(getenv(envWorker), 10, 32)
	if err != nil {
		return e, fmt.Errorf("transport: send: %s: %w", envWorker, err)
	}
	e.worker = uint32(w)
	if s := getenv(envFD); s != "" {
		fd, err := strconv.Atoi(s)
		if err != nil || fd < 3 {
			return e, fmt.Errorf("transport: send: %s=%q is not a descriptor >= 3", envFD, s)
		}
		e.fd = fd
	}
	return e, nil
}

// sendRaw sends one record as it is (tests use it to send malformed ones).
func sendRaw(ctx context.Context, e childEnv, rec []byte) error {
	var err error
	switch e.kind {
	case "file":
		err = sendFile(e, rec)
	case "pipe":
		err = sendPipe(ctx, e, rec)
	case "fifo":
		err = sendFIFO(ctx, e, rec)
	case "unix", "tcp":
		err = sendStream(ctx, e, rec)
	case "socketpair":
		err = sendSocketpair(ctx, e, rec)
	case "posixmq":
		err = sendPosixMQ(ctx, e, rec)
	case "sysvmq":
		err = sendSysVMQ(ctx, e, rec)
	case "redis":
		err = sendRedis(ctx, e, rec)
	}
	if err != nil {
		return fmt.Errorf("transport: %s: send worker %d: %w", e.kind, e.worker, err)
	}
	return nil
}

// commonEnv returns the entries every kind sets for worker i.
func commonEnv(kind string, i int) []string {
	return []string{envKind + "=" + kind, envWorker + "=" + strconv.Itoa(i)}
}
