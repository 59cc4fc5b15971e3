package queue

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/engine"
)

// Job describes one distributed reduction. The coordinator fixes every
// setting that changes the bits of a chunk's result, so a chunk sums to the
// same float64 whichever host computes it.
type Job struct {
	// ID names the job's keys; random, 16 hex digits.
	ID string `json:"id"`
	// N is the number of terms: the job sums [0, N).
	N uint64 `json:"n"`
	// Chunks is how many pieces [0, N) is cut into (see Bounds).
	Chunks int `json:"chunks"`
	// Workers is the number of engine child processes per chunk
	// (engine.Config.Workers): it changes the order of the additions, so
	// it belongs to the job, not to the host.
	Workers int `json:"workers"`
	// Mode is the engine's shared-memory strategy for a chunk. Slots
	// reduces in worker order; cas and mutex add in arrival order, so they
	// are bit-reproducible only with Workers 1.
	Mode engine.Mode `json:"mode"`
	// Kernel is the engine's inner loop, a concrete name ("avx2", never
	// "auto": auto may pick differently on another CPU).
	Kernel string `json:"kernel"`
	// Chunk is engine.Config.Chunk inside a chunk: terms between publishes,
	// 0 for one publish per engine worker.
	Chunk uint64 `json:"chunk,omitempty"`
	// Heartbeat is the TTL of a worker's heartbeat key: a worker silent for
	// that long is taken for dead and its chunks go back to the queue.
	Heartbeat time.Duration `json:"heartbeat_ns"`
}

// Limits and defaults of a Job.
const (
	MaxChunks        = 1 << 22
	DefaultChunks    = 4096
	DefaultHeartbeat = 5 * time.Second
	MinHeartbeat     = 50 * time.Millisecond
)

// ErrBadJob is wrapped by the errors of Job.Validate.
var ErrBadJob = errors.New("queue: bad job")

// NewJob returns a Job with a fresh random ID and the defaults filled in:
// Chunks DefaultChunks (at most n), Workers 1, Mode slots, Kernel the best
// this CPU runs, Heartbeat DefaultHeartbeat.
func NewJob(n uint64) Job {
	return Job{ID: randomID(), N: n}.withDefaults()
}

func (j Job) withDefaults() Job {
	if j.ID == "" {
		j.ID = randomID()
	}
	if j.Chunks == 0 {
		j.Chunks = int(min(uint64(DefaultChunks), max(j.N, 1)))
	}
	if j.Workers == 0 {
		j.Workers = 1
	}
	if j.Mode == "" {
		j.Mode = engine.Slots
	}
	if j.Kernel == "" || j.Kernel == "auto" {
		j.Kernel = engine.BestKernel()
	}
	if j.Heartbeat == 0 {
		j.Heartbeat = DefaultHeartbeat
	}
	return j
}

// shmModes are the modes a chunk may run in.
var shmModes = []engine.Mode{engine.Slots, engine.CAS, engine.Mutex}

// Validate checks j; errors name the field and wrap ErrBadJob.
func (j Job) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadJob}, args...)...)
	}
	switch {
	case len(j.ID) == 0 || len(j.ID) > 64 || strings.ContainsAny(j.ID, "{}: \t\r\n*?[]"):
		return bad("ID %q must be 1 to 64 characters without braces, colons, spaces or glob characters", j.ID)
	case j.N == 0 || j.N > engine.MaxN:
		return bad("N must be in [1, %d], got %d", uint64(engine.MaxN), j.N)
	case j.Chunks < 1 || j.Chunks > MaxChunks || uint64(j.Chunks) > j.N:
		return bad("Chunks must be in [1, min(N, %d)], got %d", MaxChunks, j.Chunks)
	case j.Workers < 1 || j.Workers > engine.MaxWorkers:
		return bad("Workers must be in [1, %d], got %d", engine.MaxWorkers, j.Workers)
	case !slices.Contains(shmModes, j.Mode):
		return bad("Mode must be slots, cas or mutex, got %q", j.Mode)
	case j.Heartbeat < MinHeartbeat:
		return bad("Heartbeat must be at least %v, got %v", MinHeartbeat, j.Heartbeat)
	}
	if !slices.ContainsFunc(engine.Kernels(), func(k engine.KernelInfo) bool { return k.Name == j.Kernel }) {
		return bad("Kernel %q is not a kernel of this build (auto is resolved by NewJob)", j.Kernel)
	}
	return nil
}

// Bounds returns chunk i's terms [lo, hi): floor(N*i/Chunks) to
// floor(N*(i+1)/Chunks), computed in 128 bits, so the boundaries depend on
// nothing but N and Chunks.
func (j Job) Bounds(i int) (lo, hi uint64) {
	at := func(k uint64) uint64 {
		h, l := bits.Mul64(j.N, k)
		q, _ := bits.Div64(h, l, uint64(j.Chunks))
		return q
	}
	return at(uint64(i)), at(uint64(i) + 1)
}

// config is the engine configuration that computes chunk i.
func (j Job) config(i int) engine.Config {
	lo, hi := j.Bounds(i)
	return engine.Config{
		N: hi - lo, Offset: lo, Workers: j.Workers, Mode: j.Mode,
		Kernel: j.Kernel, Chunk: j.Chunk, Sched: engine.Static,
	}
}

func (j Job) encode() string {
	b, err := json.Marshal(j)
	if err != nil {
		panic(err) // a Job always marshals
	}
	return string(b)
}

func decodeJob(s string) (Job, error) {
	var j Job
	if err := json.Unmarshal([]byte(s), &j); err != nil {
		return Job{}, fmt.Errorf("%w: %v", ErrBadJob, err)
	}
	return j, j.Validate()
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// The job's keys. The braces are a hash tag: every key of a job is in one
// cluster slot, so the scripts below may touch them together.
//
//	pishm:dist:jobs              set of live job IDs (how workers find jobs)
//	pishm:dist:{ID}:job          the Job as JSON; its absence means the job is over
//	pishm:dist:{ID}:queue        list of chunk indices (decimal) not yet taken
//	pishm:dist:{ID}:proc:WORKER  chunks WORKER has taken and not acknowledged
//	pishm:dist:{ID}:hb:WORKER    WORKER's heartbeat, with a TTL of Job.Heartbeat
//	pishm:dist:{ID}:workers      set of the workers that registered
//	pishm:dist:{ID}:results      list of result records (binary, see record)
//	pishm:dist:{ID}:done         the done marker, set when every chunk has a result
const jobsKey = "pishm:dist:jobs"

type keys struct{ base string }

func keysOf(id string) keys { return keys{"pishm:dist:{" + id + "}"} }

func (k keys) job() string                { return k.base + ":job" }
func (k keys) queue() string              { return k.base + ":queue" }
func (k keys) workers() string            { return k.base + ":workers" }
func (k keys) results() string            { return k.base + ":results" }
func (k keys) done() string               { return k.base + ":done" }
func (k keys) proc(worker string) string  { return k.base + ":proc:" + worker }
func (k keys) hb(worker string) string    { return k.base + ":hb:" + worker }
func (k keys) pattern() string            { return k.base + ":*" }
func (k keys) prefixes() (string, string) { return k.base + ":proc:", k.base + ":hb:" }

// record is one chunk's result as a worker sends it: the partial travels
// as its float64 bits, never as decimal text.
type record struct {
	Chunk   uint64
	Sum     float64
	Elapsed time.Duration // the engine's compute time for the chunk
	Worker  string
}

// recordHeader is the fixed part: chunk, sum bits, elapsed, little-endian.
const recordHeader = 24

func (r record) marshal() []byte {
	b := make([]byte, recordHeader, recordHeader+len(r.Worker))
	binary.LittleEndian.PutUint64(b[0:], r.Chunk)
	binary.LittleEndian.PutUint64(b[8:], math.Float64bits(r.Sum))
	binary.LittleEndian.PutUint64(b[16:], uint64(r.Elapsed))
	return append(b, r.Worker...)
}

func unmarshalRecord(b []byte) (record, error) {
	if len(b) < recordHeader {
		return record{}, fmt.Errorf("queue: result record of %d bytes, want at least %d", len(b), recordHeader)
	}
	return record{
		Chunk:   binary.LittleEndian.Uint64(b[0:]),
		Sum:     math.Float64frombits(binary.LittleEndian.Uint64(b[8:])),
		Elapsed: time.Duration(binary.LittleEndian.Uint64(b[16:])),
		Worker:  string(b[recordHeader:]),
	}, nil
}

// fold is a compensated running sum: hi holds the total, lo the exact
// rounding errors of the adds into hi (TwoSum), rounded together once at
// the end, as the engine reduces its workers' partials.
type fold struct{ hi, lo float64 }

func (f *fold) add(x float64) {
	s := f.hi + x
	bb := s - f.hi
	f.lo += (f.hi - (s - bb)) + (x - bb)
	f.hi = s
}

func (f fold) value() float64 { return f.hi + f.lo }
