// Package lab is the strategy comparison's side of the engine: the knobs
// that change how a reduction is made, never what it computes, so that the
// ways can be timed against each other on the same work. The message
// transports (Pipe, Redis, ...), the racy mode that loses updates on
// purpose, false sharing (WithPad), fork or exec (WithSpawn), the
// segment's backing (WithShm), the publish interval, a lean worker binary
// and a Pool's wait policy. An embedder needs none of them; the command
// line and the benchmarks use them all, through Config and Run or as
// options beside engine's.
package lab

import (
	"slices"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/internal/opt"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// Mode is how workers publish their partial results: the strategies this
// lab compares. Every mode gives the same bits; the engine's default is
// Slots.
type Mode string

// The shared-memory strategies, and the in-process baseline.
const (
	// Slots: each worker writes only its own padded slot; the parent
	// reduces in worker order after every child exits (wait-free).
	Slots Mode = "slots"
	// CAS: every worker adds into one shared accumulator with a
	// compare-and-swap loop (lock-free).
	CAS Mode = "cas"
	// Mutex: every worker adds into the accumulator under a
	// cross-process semaphore.
	Mutex Mode = "mutex"
	// Goroutines: the same work in the calling process on goroutines,
	// the baseline a Go user would write.
	Goroutines Mode = "goroutines"
)

// WithMode sets the publishing strategy of a call (default Slots).
func WithMode(m Mode) engine.CallOption { return call(func(l *opt.Lab) { l.Mode = string(m) }) }

// The message-passing modes: each worker sends its exact accumulator (and
// its rounded value, worker index, range, timing) to the parent over one
// of these, and the parent merges the messages' accumulators and rounds
// once, so the result is bit-identical to Slots; each message is
// checked against the worker's journal. Unix and TCP need package net and
// Redis needs go-redis, which engine does not link (every worker process
// would pay their initialisation): a program that uses those modes
// imports github.com/pishm/pishm/transport/netsock or .../transport/redis
// for its side effect; without it a call fails with an error naming the
// import.
const (
	File       Mode = "file"       // one file per worker in a private temp dir
	Pipe       Mode = "pipe"       // an anonymous pipe per worker (inherited fd)
	FIFO       Mode = "fifo"       // one named pipe all workers write to
	Unix       Mode = "unix"       // a unix stream socket the parent listens on
	TCP        Mode = "tcp"        // TCP on 127.0.0.1, kernel-chosen port
	Socketpair Mode = "socketpair" // a socketpair per worker (inherited fd)
	PosixMQ    Mode = "posixmq"    // a POSIX message queue
	SysVMQ     Mode = "sysvmq"     // a System V message queue
	Redis      Mode = "redis"      // RPUSH/BLPOP on a list of a real redis-server
)

// Racy adds into the accumulator with a plain load, add and store: the
// classic lost update, for the contention benchmark to count what it
// loses (Result.LostSum). It runs only with AllowRacy; Modes does not
// list it.
const Racy Mode = "racy"

// Modes lists every mode this build knows: shared memory, the in-process
// baseline, then the message-passing transports.
func Modes() []Mode {
	m := []Mode{Slots, CAS, Mutex, Goroutines}
	for _, k := range transport.Kinds() {
		if transport.Code(k) != 0 {
			m = append(m, Mode(k))
		}
	}
	return m
}

// IsTransport reports whether m passes messages instead of sharing memory.
func IsTransport(m Mode) bool {
	return slices.Contains(Modes()[4:], m)
}

// Spawn methods (WithSpawn).
const (
	// SpawnAuto, the default, forks where fork can run the call and
	// execs otherwise: forking cuts a short run's start-up and never
	// changes its bits.
	SpawnAuto = "auto"
	// SpawnExec starts each worker by fork and exec of a binary that
	// serves the worker protocol in Go.
	SpawnExec = "exec"
	// SpawnFork starts each worker by a fork alone: the child is a copy of
	// the parent that runs only an assembly kernel (a Func registered with
	// one, as package engine/pi's are), on linux/amd64, with mode slots,
	// the static schedule and one publish per worker. It keeps one
	// 128-byte record per piece of the grid, at most 2^18 pieces.
	SpawnFork = "fork"
)

// lab is the option that runs f on the lab's settings.
func lab(f func(*opt.Lab)) engine.PoolOption {
	return opt.Pool(func(t opt.Target) { f(t.Lab()) })
}

// call is lab for a call's setting.
func call(f func(*opt.Lab)) engine.CallOption {
	return opt.Call(func(t opt.Target) { f(t.Lab()) })
}

// AllowRacy lets the call run the Racy mode.
func AllowRacy() engine.CallOption { return call(func(l *opt.Lab) { l.AllowRacy = true }) }

// WithPublish makes each worker of the static schedule publish every k
// terms (rounded up to whole pieces of the grid) instead of once for its
// share: the contention benchmark's knob.
func WithPublish(k uint64) engine.CallOption { return call(func(l *opt.Lab) { l.Publish = k }) }

// WithSchedule sets the call's schedule: Static (each worker a fixed
// range) or Dynamic (chunks of engine.WithDynamic's default size). A
// Pool's call that sets neither it, engine.WithDynamic nor WithPublish
// has its schedule picked by the pool (engine.WithDynamic says how).
func WithSchedule(s Schedule) engine.CallOption {
	return call(func(l *opt.Lab) { l.Sched = string(s) })
}

// WithTimeout bounds the call, as a context deadline would, with an error
// that says "timed out after d".
func WithTimeout(d time.Duration) engine.CallOption { return call(func(l *opt.Lab) { l.Timeout = d }) }

// WithPad gives every worker a lane bytes from the next (a power of two
// from 8 to 4096) that the slots mode writes at every publish, beside its
// padded journal: 8 packs the lanes into shared cache lines to show what
// false sharing costs.
func WithPad(bytes int) engine.PoolOption { return lab(func(l *opt.Lab) { l.Pad = bytes }) }

// WithSpawn sets how a one-shot call starts its workers: SpawnAuto,
// SpawnExec or SpawnFork. A Pool always execs.
func WithSpawn(how string) engine.PoolOption { return lab(func(l *opt.Lab) { l.Spawn = how }) }

// WithShm puts the segment in backing b: shmem.Posix (the default, an
// unnamed tmpfs file in /dev/shm) or shmem.File at path, removed once the
// workers attached; force lets it replace an existing regular file.
func WithShm(b shmem.Backing, path string, force bool) engine.PoolOption {
	return lab(func(l *opt.Lab) { l.Shm, l.Path, l.Force = b, path, force })
}

// WithRedisURL is the server of the Redis mode (default
// transport.DefaultRedisURL); credentials and rediss:// TLS go in it.
func WithRedisURL(url string) engine.PoolOption { return lab(func(l *opt.Lab) { l.RedisURL = url }) }

// WithWorkerBinary makes the workers run a lean program instead of this
// one: a main that calls engine.ChildMain and links only what the job
// needs, built from the same source with the same settings. Every worker
// checks its build stamp against the parent's, and if they differ the
// parent falls back to its own binary.
func WithWorkerBinary(path string) engine.PoolOption {
	return lab(func(l *opt.Lab) { l.WorkerBinary = path })
}

// WithMaxChunks sets how many dynamic chunks one call on a Pool may have
// (default 65536): the chunk table is this many words of the segment.
func WithMaxChunks(k int) engine.PoolOption { return lab(func(l *opt.Lab) { l.MaxChunks = k }) }

// WaitPolicy says how a Pool's workers wait for the next call and its
// caller for the end of one, in the spirit of OMP_WAIT_POLICY.
type WaitPolicy string

const (
	// WaitAdaptive, the default, spins for 200 µs, then sleeps on the
	// futex, when every spinner has a CPU of its own (the workers, for
	// the next call; the workers and the caller, for the end of one),
	// and sleeps at once when they would oversubscribe the CPUs this
	// process may use, where spinning would steal the CPU from the very
	// process it waits for. A spinner offers its CPU to any thread
	// waiting for one every few microseconds.
	WaitAdaptive WaitPolicy = "adaptive"
	// WaitActive spins for 50 ms before sleeping, whatever the CPUs: an
	// answer in nanoseconds, for a CPU held.
	WaitActive WaitPolicy = "active"
	// WaitPassive sleeps at once: a CPU free, for a wake-up through the
	// scheduler (tens of microseconds).
	WaitPassive WaitPolicy = "passive"
)

// WithWaitPolicy sets a Pool's wait policy.
func WithWaitPolicy(p WaitPolicy) engine.PoolOption {
	return lab(func(l *opt.Lab) { l.Wait = string(p) })
}

// SlotStride is the bytes between workers' slots in a segment: the CPU's
// cache line, at least 128 (so that the adjacent-line prefetcher never
// pulls a neighbour's slot along).
func SlotStride() int { return shmem.DefaultBlockStride() }

// Limits and defaults of the engine's settings, for the command line's
// checks and messages. TestLimits holds them to what the engine does.
const (
	MaxN           = 1_000_000_000_000_000 // terms of one call
	MaxWorkers     = 1024
	MaxK           = 4096    // elements of a VectorFunc
	MaxParams      = 1 << 20 // bytes of WithParams
	MaxGrain       = 1 << 30 // terms per piece
	MaxRetries     = 100
	DefaultRetries = 1
	// ProgressEvery is how often engine.WithProgress's function is called.
	ProgressEvery = 100 * time.Millisecond
	// Tolerance is the relative error a Func with a closed form may show
	// before its result is an error wrapping engine.ErrInexact.
	Tolerance = 1e-15
	// DefaultInProcessBelow is engine.WithInProcessBelow's default.
	DefaultInProcessBelow = 1 << 20
)

// Explain is e's text, without the "engine: " prefix, with every setting
// it names (e.Field, and the {Name}s of e.Reason) written as name says:
// the command line names them by its flags.
func Explain(e *engine.ConfigError, name func(field string) string) string {
	return opt.Explain(e.Field, e.Reason, name)
}
