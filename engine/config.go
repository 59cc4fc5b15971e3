package engine

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// Limits on a run.
const (
	MaxN       = 1_000_000_000_000_000 // 1e15 terms
	MaxWorkers = 1024
)

// Config describes one run. The zero value of every field but N means its
// default.
type Config struct {
	// N is the number of series terms, 1..MaxN.
	N uint64
	// Offset starts the terms at Offset instead of 0: [Offset, Offset+N).
	Offset uint64
	// Workers is the number of child processes (goroutines in the
	// goroutines mode); 0 means runtime.NumCPU().
	Workers int
	// Mode is the publishing strategy; "" means Slots.
	Mode Mode
	// Shm is the segment's backing: ShmPosix (default) or ShmFile.
	Shm Backing
	// Path is the file for the File backing; Force lets it replace an
	// existing regular file.
	Path  string
	Force bool
	// Publish is the static schedule's publish interval: how many terms
	// a worker sums between publishes; 0 means its whole share (one
	// publish per worker).
	Publish uint64
	// Grain is the terms per piece of the grid the Func is called on
	// (0: DefaultGrain(N)). The grid depends on N and Grain alone, never
	// on workers, mode, schedule, chunk or retries, so a deterministic
	// Func gives the same bits every time; setting Grain makes it part of
	// the result's identity. Publish and Chunk are rounded up to whole
	// pieces.
	Grain uint64
	// Chunk is the dynamic schedule's unit of work: how many terms a
	// worker takes from the chunk counter at a time, and publishes; 0
	// means n/(32 workers).
	Chunk uint64
	// RedisURL is the server of the redis mode (default
	// transport.DefaultRedisURL); credentials and rediss:// TLS go in it.
	RedisURL string
	// Timeout bounds the whole run; 0 means none.
	Timeout time.Duration
	// Retries is how many fresh attempts a worker's range gets after its
	// process dies: 0 means the default (1), negative means none.
	Retries int
	// Sched is how work is shared: Static ranges (default) or Dynamic
	// chunks taken from a counter in the segment.
	Sched Schedule
	// Pad, if not 0, gives every worker a lane Pad bytes from the next
	// (8, 64, 128, ...) that the slots mode writes at every publish, beside
	// its padded journal: Pad 8 packs the lanes into shared cache lines to
	// show what false sharing costs. 0 (no lanes) is the safe default.
	Pad int
	// Progress, if set, is called about every ProgressEvery while the
	// workers run, with their progress read from the segment without
	// locks, and once more at the end.
	Progress func(Progress)
	// Stall is how long a worker may make no progress before it is killed
	// and its share redone: 0 means DefaultStall, negative never. A
	// worker stopped by a signal (SIGSTOP) is killed after 2 s whatever
	// Stall says.
	Stall time.Duration
	// WorkerBinary is a lean program for workers to run instead of this
	// one ("" for this one): a main that calls ChildMain and links only
	// what the job needs, built from the same source with the same
	// settings. Every worker checks its build stamp against the parent's,
	// and if they differ the parent falls back to its own binary.
	WorkerBinary string
	// Params is handed to a ParamsFunc (Run, Reduce and Pool calls):
	// at most MaxParams bytes.
	Params []byte
	// AllowRacy must be set to use the Racy mode, which loses updates on
	// purpose.
	AllowRacy bool
	// CallerShare makes the calling process sum worker 0's share itself
	// while the processes sum theirs, as an OpenMP master thread does:
	// Workers counts the caller, which starts Workers-1 processes, and the
	// result is the same bits. It needs a shared-memory mode. A panic of
	// the Func in the caller is recovered into the call's *FuncPanic, but a
	// Func that crashes the process (os.Exit, a fatal signal) takes the
	// caller with it, and a cancelled call returns only once the caller's
	// current piece ends. A Pool fixes it when it starts (WithCallerShare).
	CallerShare bool
	// Spawn is how Run's worker processes start: SpawnExec ("exec")
	// re-executes a binary; SpawnFork ("fork") forks without exec, for a
	// Func with an assembly kernel (the pi series' avx2 and avx512 ones) on
	// linux/amd64, Mode slots, Sched static and one publish per worker (see
	// forkspawn.go);
	// SpawnAuto ("" or "auto", the default) forks where fork can run the
	// call and execs otherwise. A forked worker reports its progress after
	// each piece of the grid, and gives the same bits as an exec'd one.
	// Reduce and Pool always exec.
	Spawn string
}

// DefaultStall is Config.Stall's default: generous, since a registered
// Func may take long over one piece of the grid (progress moves only
// between pieces).
const DefaultStall = 2 * time.Minute

// step is the terms between publishes: Publish (static) or Chunk
// (dynamic), after withDefaults.
func (c Config) step() uint64 {
	if c.Sched == Dynamic {
		return c.Chunk
	}
	return c.Publish
}

func (c Config) stall() time.Duration {
	if c.Stall == 0 {
		return DefaultStall
	}
	return c.Stall
}

// Backing is where the shared segment lives (package shmem's type, so
// that callers need not import it).
type Backing = shmem.Backing

// The backings.
const (
	// ShmPosix: POSIX shared memory, an unnamed tmpfs file in /dev/shm.
	ShmPosix = shmem.Posix
	// ShmFile: a file at Config.Path, removed once the workers attached.
	ShmFile = shmem.File
)

// Schedule is how the terms are shared among workers.
type Schedule string

const (
	// Static gives worker i the fixed range [n*i/w, n*(i+1)/w).
	Static Schedule = "static"
	// Dynamic lets workers take Chunk-term pieces from a lock-free
	// counter in the segment (atomic fetch-add) until none are left, so a
	// slow worker takes fewer and all finish together.
	Dynamic Schedule = "dynamic"
)

// ProgressEvery is how often Config.Progress is called.
const ProgressEvery = 100 * time.Millisecond

// Progress is a snapshot of a running reduction.
type Progress struct {
	N       uint64        // terms in all
	Done    uint64        // terms summed so far, all workers
	Worker  []uint64      // terms summed so far, by worker
	Share   []uint64      // each worker's range (static), 0 if dynamic
	Elapsed time.Duration // since the start barrier opened
	Final   bool          // the last call, after every worker finished
}

// DefaultRetries is the number of retries when Config.Retries is 0.
const DefaultRetries = 1

// MaxRetries bounds Config.Retries.
const MaxRetries = 100

func (c Config) retries() int {
	switch {
	case c.Retries == 0:
		return DefaultRetries
	case c.Retries < 0:
		return 0
	}
	return c.Retries
}

// Validate reports what Run(ctx, name, c) would refuse before it starts
// anything, naming the field ("engine: Config.Workers must be ..."), or
// nil. With name "" it checks c alone, for no Func in particular.
func (c Config) Validate(name string) error {
	c, err := c.withDefaults()
	if err != nil || name == "" {
		return err
	}
	j, err := jobFor(name)
	if err != nil {
		return err
	}
	_, err = spawnFor(c, j)
	return err
}

// withDefaults fills the zero fields and validates; errors name the field.
func (c Config) withDefaults() (Config, error) {
	if c.N == 0 || c.N > MaxN {
		return c, configErr("N", " must be in [1, %d], got %d", uint64(MaxN), c.N)
	}
	if c.Offset > MaxN-c.N {
		return c, configErr("Offset", "+{N} must be at most %d, got %d+%d", uint64(MaxN), c.Offset, c.N)
	}
	if c.Pad != 0 && (c.Pad < 8 || c.Pad > 4096 || c.Pad&(c.Pad-1) != 0) {
		return c, configErr("Pad", " must be 0 or a power of two in [8, 4096], got %d", c.Pad)
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Workers < 1 || c.Workers > MaxWorkers {
		return c, configErr("Workers", " must be in [1, %d], got %d", MaxWorkers, c.Workers)
	}
	if c.Mode == "" {
		c.Mode = Slots
	}
	if !c.Mode.valid() {
		return c, configErr("Mode", ": unknown mode %q (want %s)", c.Mode, modeList())
	}
	if c.Mode == Racy && !c.AllowRacy {
		return c, configErr("Mode", " racy loses updates on purpose: set {AllowRacy} to use it")
	}
	if len(c.Params) > MaxParams {
		return c, configErr("Params", " holds %d bytes, at most %d", len(c.Params), MaxParams)
	}
	if c.Shm == "" {
		c.Shm = shmem.Posix
	}
	switch c.Shm {
	case shmem.Posix:
		if c.Path != "" {
			return c, configErr("Path", " %q is only for {Shm} file", c.Path)
		}
	case shmem.File:
		if c.Path == "" {
			return c, configErr("Shm", " file needs {Path}: the file to map")
		}
	default:
		return c, configErr("Shm", ": unknown backing %q (want posix or file)", c.Shm)
	}
	switch c.Sched {
	case "":
		c.Sched = Static
	case Static, Dynamic:
	default:
		return c, configErr("Sched", ": unknown schedule %q (want static or dynamic)", c.Sched)
	}
	if c.Mode.IsTransport() {
		if _, err := transport.Lookup(string(c.Mode)); errors.Is(err, transport.ErrNotLinked) {
			return c, fmt.Errorf("engine: mode %s needs its transport linked in: import _ %q", c.Mode, transport.Import(string(c.Mode)))
		}
	}
	if c.CallerShare && c.Mode.IsTransport() {
		return c, configErr("CallerShare", " needs a shared-memory mode (the caller publishes into the segment), not %s", c.Mode)
	}
	if c.Mode.IsTransport() && c.Sched == Dynamic {
		return c, configErr("Mode", " %s sends one message per worker range: it needs {Sched} static", c.Mode)
	}
	if c.Mode == Redis && c.RedisURL == "" {
		c.RedisURL = transport.DefaultRedisURL
	}
	switch {
	case c.Sched == Static && c.Chunk != 0:
		return c, configErr("Chunk", " is the dynamic schedule's unit of work: the static schedule publishes every {Publish} terms")
	case c.Sched == Dynamic && c.Publish != 0:
		return c, configErr("Publish", " is the static schedule's interval: the dynamic schedule publishes each {Chunk}")
	case c.Sched == Dynamic && c.Chunk == 0:
		// Enough pieces that a worker slowed to half speed still
		// finishes with the others, few enough to cost nothing.
		c.Chunk = max(1, c.N/uint64(32*c.Workers))
	case c.Sched == Static && c.Publish == 0:
		c.Publish = c.N // one publish per worker
	}
	if c.Grain == 0 {
		c.Grain = DefaultGrain(c.N)
	}
	if c.Grain > MaxGrain {
		return c, configErr("Grain", " must be at most %d terms, got %d", uint64(MaxGrain), c.Grain)
	}
	c.Chunk, c.Publish = wholePieces(c.Chunk, c.Grain), wholePieces(c.Publish, c.Grain)
	if c.Sched == Dynamic && (c.N-1)/c.Chunk+1 > maxChunkTable {
		return c, configErr("Chunk", " %d cuts %d terms into more than %d chunks: raise it", c.Chunk, c.N, maxChunkTable)
	}
	if c.Retries > MaxRetries {
		return c, configErr("Retries", " must be at most %d, got %d", MaxRetries, c.Retries)
	}
	if c.Timeout < 0 {
		return c, configErr("Timeout", " must be >= 0, got %v", c.Timeout)
	}
	if err := c.checkSpawn(); err != nil {
		return c, err
	}
	return c, nil
}

// SlotStride is the bytes between workers' slots in a segment: the CPU's
// cache line, at least 128 (so that the adjacent-line prefetcher never
// pulls a neighbour's slot along).
func SlotStride() int { return shmem.DefaultBlockStride() }

// span returns worker i's range of [0, n) split over w workers.
func span(n, grain uint64, w, i int) (lo, hi uint64) {
	// Whole pieces: p <= 1e15 and w <= 1024 keep p*i far from overflow.
	p := (n + grain - 1) / grain
	lo = min(n, p*uint64(i)/uint64(w)*grain)
	hi = min(n, p*uint64(i+1)/uint64(w)*grain)
	return lo, hi
}

// DefaultGrain is the piece size for n terms when Config.Grain is 0: the
// smallest power of two, at least MinDefaultGrain, that cuts n into at
// most 128 pieces, but no larger than SmallGrainCap until n needs more
// than MaxDefaultPieces of those; from there the smallest that keeps the
// pieces within MaxDefaultPieces. So a small call still spreads over the
// workers, and a large one pays its per-piece costs (one Func call, one
// exact add, a journal entry: a few hundred nanoseconds) at most 1024
// times: at 65536 terms a piece of the pi series is 3 µs of one Zen 5
// core's work, and those costs were a tenth of it. 1024 pieces still
// balance 16 workers within 2%. It depends on n alone.
func DefaultGrain(n uint64) uint64 {
	g := uint64(MinDefaultGrain)
	for g < MaxGrain && (g < SmallGrainCap && g*128 < n || g*MaxDefaultPieces < n) {
		g *= 2
	}
	return g
}

// Grain bounds.
const (
	MinDefaultGrain = 1 << 9
	// SmallGrainCap is the largest default grain for n up to
	// SmallGrainCap*MaxDefaultPieces (2^26) terms.
	SmallGrainCap = 1 << 16
	// MaxDefaultPieces bounds the pieces of the default grid from 2^23
	// terms on.
	MaxDefaultPieces = 1 << 10
	MaxGrain         = 1 << 30
)

// wholePieces rounds k up to a multiple of grain (0 stays 0).
func wholePieces(k, grain uint64) uint64 {
	if k == 0 || k%grain == 0 {
		return k
	}
	return (k/grain + 1) * grain
}

// spanOf is worker i's range of cfg's terms.
func spanOf(cfg Config, i int) (lo, hi uint64) {
	lo, hi = span(cfg.N, cfg.Grain, cfg.Workers, i)
	return cfg.Offset + lo, cfg.Offset + hi
}
