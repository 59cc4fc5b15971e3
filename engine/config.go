package engine

import (
	"errors"
	"runtime"
	"time"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// Limits on a run.
const (
	maxN       = 1_000_000_000_000_000 // 1e15 terms
	maxWorkers = 1024
)

// config describes one call. The zero value of every field but N means
// its default; withDefaults fills them in and validates. A ConfigError
// names its fields (Workers, Sched, ...): they are the option's name
// without With, and engine/lab's Config fields.
type config struct {
	N       uint64   // terms, 1..maxN
	Offset  uint64   // the terms are [Offset, Offset+N)
	Workers int      // processes (goroutines in the goroutines mode); 0: one per CPU
	Mode    strategy // "": Slots
	Grain   uint64   // terms per piece of the grid; 0: defaultGrain(N)
	Chunk   uint64   // the dynamic schedule's terms per chunk; 0: N/(32 Workers)
	Publish uint64   // the static schedule's terms between publishes; 0: a worker's share
	Retries int      // attempts after a worker dies: 0 the default (1), negative none
	Sched   schedule
	// Progress, if set, is called about every progressEvery.
	Progress    func(Progress)
	Stall       time.Duration // 0: defaultStall, negative never
	Timeout     time.Duration // 0: none
	Params      []byte
	CallerShare bool
	// The lab's (opt.Lab).
	AllowRacy    bool
	Pad          int
	Spawn        string
	Shm          shmem.Backing
	Path         string
	Force        bool
	RedisURL     string
	WorkerBinary string
	Detail       *[]workerResult // where a call writes its per-worker shares (opt.Lab.Detail, for lab.Run)
}

// schedule is how the terms are shared among workers: static ranges, or
// dynamic chunks (WithDynamic).
type schedule string

const (
	schedStatic  schedule = "static"
	schedDynamic schedule = "dynamic"
)

// defaultStall is WithStall's default: generous, since a registered
// Func may take long over one piece of the grid (progress moves only
// between pieces).
const defaultStall = 2 * time.Minute

// step is the terms between publishes: Publish (static) or Chunk
// (dynamic), after withDefaults.
func (c config) step() uint64 {
	if c.Sched == schedDynamic {
		return c.Chunk
	}
	return c.Publish
}

func (c config) stall() time.Duration {
	if c.Stall == 0 {
		return defaultStall
	}
	return c.Stall
}

// progressEvery is how often WithProgress's function is called.
const progressEvery = 100 * time.Millisecond

// Progress is a snapshot of a running reduction.
type Progress struct {
	N       uint64        // terms in all
	Done    uint64        // terms summed so far, all workers
	Worker  []uint64      // terms summed so far, by worker
	Share   []uint64      // each worker's range (static), 0 if dynamic
	Elapsed time.Duration // since the start barrier opened
	Final   bool          // the last call, after every worker finished
}

// defaultRetries is the number of retries when config.Retries is 0.
const defaultRetries = 1

// maxRetries bounds config.Retries.
const maxRetries = 100

func (c config) retries() int {
	switch {
	case c.Retries == 0:
		return defaultRetries
	case c.Retries < 0:
		return 0
	}
	return c.Retries
}

// withDefaults fills the zero fields and validates; errors name the field.
func (c config) withDefaults() (config, error) {
	if c.N == 0 || c.N > maxN {
		return c, configErr("N", " must be in [1, %d], got %d", uint64(maxN), c.N)
	}
	if c.Offset > maxN-c.N {
		return c, configErr("Offset", "+{N} must be at most %d, got %d+%d", uint64(maxN), c.Offset, c.N)
	}
	if c.Pad != 0 && (c.Pad < 8 || c.Pad > 4096 || c.Pad&(c.Pad-1) != 0) {
		return c, configErr("Pad", " must be 0 or a power of two in [8, 4096], got %d", c.Pad)
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		return c, configErr("Workers", " must be in [1, %d], got %d", maxWorkers, c.Workers)
	}
	if c.Mode == "" {
		c.Mode = modeSlots
	}
	if !c.Mode.valid() {
		return c, configErr("Mode", ": unknown mode %q (want %s)", c.Mode, modeList())
	}
	if c.Mode == modeRacy && !c.AllowRacy {
		return c, configErr("Mode", " racy loses updates on purpose: set {AllowRacy} to use it")
	}
	if len(c.Params) > segment.MaxParamBytes {
		return c, configErr("Params", " holds %d bytes, at most %d", len(c.Params), segment.MaxParamBytes)
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
		c.Sched = schedStatic
	case schedStatic, schedDynamic:
	default:
		return c, configErr("Sched", ": unknown schedule %q (want static or dynamic)", c.Sched)
	}
	if c.Mode.isTransport() {
		if _, err := transport.Lookup(string(c.Mode)); errors.Is(err, transport.ErrNotLinked) {
			return c, configErr("Mode", " %s needs its transport linked in: import _ %q", c.Mode, transport.Import(string(c.Mode)))
		}
	}
	if c.CallerShare && c.Mode.isTransport() {
		return c, configErr("CallerShare", " needs a shared-memory mode (the caller publishes into the segment), not %s", c.Mode)
	}
	if c.Mode.isTransport() && c.Sched == schedDynamic {
		return c, configErr("Mode", " %s sends one message per worker range: it needs {Sched} static", c.Mode)
	}
	if c.RedisURL != "" && c.Mode != modeRedis {
		return c, configErr("RedisURL", " is the server of {Mode} redis, not %s", c.Mode)
	}
	if c.Mode == modeRedis && c.RedisURL == "" {
		c.RedisURL = transport.DefaultRedisURL
	}
	switch {
	case c.Sched == schedStatic && c.Chunk != 0:
		return c, configErr("Chunk", " is the dynamic schedule's unit of work: the static schedule publishes every {Publish} terms")
	case c.Sched == schedDynamic && c.Publish != 0:
		return c, configErr("Publish", " is the static schedule's interval: the dynamic schedule publishes each {Chunk}")
	case c.Sched == schedDynamic && c.Chunk == 0:
		c.Chunk = defaultChunk(c.N, c.Workers)
	case c.Sched == schedStatic && c.Publish == 0:
		c.Publish = c.N // one publish per worker
	}
	if c.Grain == 0 {
		c.Grain = defaultGrain(c.N)
	}
	if c.Grain > maxGrain {
		return c, configErr("Grain", " must be at most %d terms, got %d", uint64(maxGrain), c.Grain)
	}
	c.Chunk, c.Publish = wholePieces(c.Chunk, c.Grain), wholePieces(c.Publish, c.Grain)
	if c.Sched == schedDynamic && (c.N-1)/c.Chunk+1 > segment.MaxChunkTable {
		return c, configErr("Chunk", " %d cuts %d terms into more than %d chunks: raise it", c.Chunk, c.N, segment.MaxChunkTable)
	}
	if c.Retries > maxRetries {
		return c, configErr("Retries", " must be at most %d, got %d", maxRetries, c.Retries)
	}
	if err := c.checkSpawn(); err != nil {
		return c, err
	}
	return c, nil
}

// span returns worker i's range of [0, n) split over w workers.
func span(n, grain uint64, w, i int) (lo, hi uint64) {
	// Whole pieces: p <= 1e15 and w <= 1024 keep p*i far from overflow.
	p := (n + grain - 1) / grain
	lo = min(n, p*uint64(i)/uint64(w)*grain)
	hi = min(n, p*uint64(i+1)/uint64(w)*grain)
	return lo, hi
}

// defaultGrain is the piece size for n terms when Config.Grain is 0: the
// smallest power of two, at least mindefaultGrain, that cuts n into at
// most 128 pieces, but no larger than smallGrainCap until n needs more
// than maxDefaultPieces of those; from there the smallest that keeps the
// pieces within maxDefaultPieces. So a small call still spreads over the
// workers, and a large one pays its per-piece costs (one Func call, one
// exact add, a journal entry: a few hundred nanoseconds) at most 1024
// times: at 65536 terms a piece of an assembly kernel's series is 3 µs of one Zen 5
// core's work, and those costs were a tenth of it. 1024 pieces still
// balance 16 workers within 2%. It depends on n alone.
func defaultGrain(n uint64) uint64 {
	g := uint64(mindefaultGrain)
	for g < maxGrain && (g < smallGrainCap && g*128 < n || g*maxDefaultPieces < n) {
		g *= 2
	}
	return g
}

// Grain bounds.
const (
	mindefaultGrain = 1 << 9
	// smallGrainCap is the largest default grain for n up to
	// smallGrainCap*maxDefaultPieces (2^26) terms.
	smallGrainCap = 1 << 16
	// maxDefaultPieces bounds the pieces of the default grid from 2^23
	// terms on.
	maxDefaultPieces = 1 << 10
	maxGrain         = 1 << 30
)

// chunksPerShare is how many chunks the dynamic schedule cuts a worker's
// share into unless told (WithDynamic(0), and a Pool's own pick): enough
// that a worker slowed to half speed still finishes with the others, few
// enough to cost nothing.
const chunksPerShare = 32

// defaultChunk is the dynamic schedule's chunk for n terms among workers,
// before it is rounded up to whole pieces.
func defaultChunk(n uint64, workers int) uint64 { return max(1, n/uint64(chunksPerShare*workers)) }

// wholePieces rounds k up to a multiple of grain (0 stays 0).
func wholePieces(k, grain uint64) uint64 {
	if k == 0 || k%grain == 0 {
		return k
	}
	return (k/grain + 1) * grain
}

// spanOf is worker i's range of cfg's terms.
func spanOf(cfg config, i int) (lo, hi uint64) {
	lo, hi = span(cfg.N, cfg.Grain, cfg.Workers, i)
	return cfg.Offset + lo, cfg.Offset + hi
}
