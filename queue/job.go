package queue

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

// Protocol is the version of the keys, scripts and records this package
// speaks. A worker refuses a job, and a coordinator rejects a result, of
// another version.
const Protocol = 6

// Job describes one distributed reduction: the Func registered under
// Func reduced over [0, N), cut into
// Chunks ranges on the engine's grid of Grain terms per piece. Each chunk's
// result is the exact state of its reduction (partial.Partial), and the
// coordinator merges them and rounds once, so the job's value is bit for
// bit that of engine.Reduce(Func, N, WithGrain(Grain), WithParams(Params))
// on one machine, whichever hosts computed the chunks.
type Job struct {
	// ID names the job's keys: by default derived from the settings below
	// (DefaultID), so the same flags find the same job again.
	ID string `json:"id"`
	// Protocol is the Protocol of the coordinator that queued the job.
	Protocol int `json:"protocol"`
	// Build is the coordinator's build stamp (BuildStamp), for reports.
	Build string `json:"build,omitempty"`
	// Func is the name the program registered its Func under
	// (engine.Register). A Func registered with a closed form
	// (engine.WithClosedForm) has every chunk checked against it.
	Func string `json:"func"`
	// Op is Func's Op in the coordinator's program ("sum", "min", "max";
	// for a vector Func one per element, "sum,sum,max"): a worker whose
	// program registered Func with others refuses the job.
	Op string `json:"op"`
	// Params are the bytes passed to every call of the Func
	// (engine.WithParams).
	Params []byte `json:"params,omitempty"`
	// Grain is the terms per piece of the engine's grid: the chunks'
	// boundaries are on it, so their exact results merge into those of one
	// reduction over [0, N). 0 means catalog.DefaultGrain(N), halved until
	// [0, N) has at least Chunks pieces.
	Grain uint64 `json:"grain"`
	// Engine is the coordinator program's catalog.BuildID. A worker of
	// another build refuses a job of a Func without a closed form (its
	// Func may have changed), with a dead letter saying so; a Func with
	// one is checked against it instead, chunk by chunk, so any build may
	// serve it.
	Engine string `json:"engine"`
	// Redundancy is how many distinct workers compute each chunk: with 2
	// or more, a chunk is accepted only when that many results are equal
	// bit for bit (exact states), a disagreement sends it to another
	// worker, and a worker outvoted ShunAfter times is shunned. It is the
	// integrity check of a Func without a closed form; 0 means 1.
	Redundancy int `json:"redundancy"`
	// N is the number of terms: the job reduces [0, N).
	N uint64 `json:"n"`
	// Chunks is how many pieces [0, N) is cut into (see Bounds).
	Chunks int `json:"chunks"`
	// Workers is the number of engine child processes per chunk
	// (lab.Config.Workers). It does not change the bits (the engine's
	// reductions are reproducible), but the job fixes it so that a chunk
	// costs the same wherever it runs.
	Workers int `json:"workers"`
	// Mode is the engine's shared-memory strategy for a chunk (every one
	// gives the same bits).
	Mode lab.Mode `json:"mode"`
	// Publish is lab.Config.Publish inside a chunk: terms between
	// publishes, 0 for one publish per engine worker.
	Publish uint64 `json:"publish,omitempty"`
	// Lease is how long a chunk stays with a worker that reports no
	// progress on it: the worker extends its lease only when the engine's
	// term count has grown, so a chunk whose engine is stuck (a child
	// stopped, a host frozen) is taken back after Lease, even though the
	// worker process itself still answers.
	Lease time.Duration `json:"lease_ns"`
	// Retain is the TTL of every key of the job, renewed by its
	// coordinator: how long the chunks done so far survive a coordinator
	// that died or lost redis, for a resume.
	Retain time.Duration `json:"retain_ns"`
	// MaxAttempts is how many times a chunk may be taken without a result
	// before it goes to the dead-letter list (and the job fails).
	MaxAttempts int `json:"max_attempts"`
	// KeyID names the job key the coordinator holds, "" for none (see
	// auth.go): set by Coordinate from CoordinateOptions.Key.
	KeyID string `json:"key_id,omitempty"`
	// Check is what the Func computes in the coordinator's program over
	// two small ranges of the job (knownAnswer): a worker whose Func
	// gives other bits refuses the job. Set by Coordinate.
	Check string `json:"check,omitempty"`
}

// Limits and defaults of a Job.
const (
	MaxChunks          = 1 << 22
	DefaultChunks      = 4096
	DefaultLease       = 5 * time.Second
	MinLease           = 50 * time.Millisecond
	DefaultRetain      = 10 * time.Minute
	DefaultMaxAttempts = 5
	MaxRedundancy      = 8
	// ShunAfter is how many times a worker's result may be outvoted before
	// the coordinator shuns it: it takes no more chunks of the job, and its
	// results are rejected.
	ShunAfter = 2
)

// ErrBadJob is wrapped by the errors of Job.Validate.
var ErrBadJob = errors.New("queue: bad job")

// NewJob returns a Job of the Func registered as name over n terms, with
// the defaults filled in: Chunks DefaultChunks (at most n), Workers 1,
// Mode slots, Lease DefaultLease, Retain DefaultRetain, ID DefaultID.
func NewJob(name string, n uint64) Job {
	j := Job{Func: name, N: n}.withDefaults()
	j.ID = j.DefaultID()
	return j
}

// WithDefaults returns j with its zero fields filled in as NewJob does;
// an empty ID becomes a random one.
func (j Job) WithDefaults() Job { return j.withDefaults() }

// withDefaults fills in the zero fields; an empty ID becomes a random one.
func (j Job) withDefaults() Job {
	if j.ID == "" {
		j.ID = randomID()
	}
	if j.Protocol == 0 {
		j.Protocol = Protocol
	}
	if j.Build == "" {
		j.Build = BuildStamp()
	}
	if j.Op == "" {
		if ops, ok := catalog.Ops(j.Func); ok {
			j.Op = catalog.FormatOps(ops)
		}
	}
	if j.Engine == "" {
		j.Engine = catalog.BuildID()
	}
	if j.Redundancy == 0 {
		j.Redundancy = 1
	}
	if j.Chunks == 0 {
		j.Chunks = int(min(uint64(DefaultChunks), max(j.N, 1)))
	}
	j.Grain = j.grain()
	if j.Workers == 0 {
		j.Workers = 1
	}
	if j.Mode == "" {
		j.Mode = lab.Slots
	}
	if j.Lease == 0 {
		j.Lease = DefaultLease
	}
	if j.Retain == 0 {
		j.Retain = DefaultRetain
	}
	if j.MaxAttempts == 0 {
		j.MaxAttempts = DefaultMaxAttempts
	}
	return j
}

// DefaultID derives an ID from the settings that define the job's work
// (Func, Op, Params, Grain, Redundancy, N, Chunks, Workers, Mode,
// Publish, Protocol): a coordinator started again with the same flags
// finds the job it left.
func (j Job) DefaultID() string {
	h := sha256.Sum256(fmt.Appendf(nil, "pishm/queue v%d func=%q op=%s params=%x grain=%d k=%d n=%d chunks=%d workers=%d mode=%s publish=%d",
		Protocol, j.Func, j.Op, j.Params, j.Grain, j.Redundancy, j.N, j.Chunks, j.Workers, j.Mode, j.Publish))
	return hex.EncodeToString(h[:8])
}

// sameWork reports whether j and o compute the same chunks to the same
// bits (their IDs, builds and durations aside).
func (j Job) sameWork(o Job) bool {
	return j.Protocol == o.Protocol && j.Func == o.Func && j.Op == o.Op && string(j.Params) == string(o.Params) &&
		j.Grain == o.Grain && j.Redundancy == o.Redundancy && j.N == o.N && j.Chunks == o.Chunks &&
		j.Workers == o.Workers && j.Mode == o.Mode && j.Publish == o.Publish && j.KeyID == o.KeyID && j.Check == o.Check
}

// grain is Grain, or when it is 0 its default: catalog.DefaultGrain(N),
// halved until [0, N) has at least Chunks pieces.
func (j Job) grain() uint64 {
	if j.Grain != 0 || j.N == 0 {
		return j.Grain
	}
	g := catalog.DefaultGrain(j.N)
	for g > 1 && (j.N-1)/g+1 < uint64(j.Chunks) {
		g /= 2
	}
	return g
}

// pieces is how many pieces of the grid [0, N) has.
func (j Job) pieces() uint64 { return (j.N-1)/j.grain() + 1 }

// ops is j.Op as engine.Ops, one per element (nil if it names none).
func (j Job) ops() []partial.Op {
	ops, err := catalog.ParseOps(j.Op)
	if err != nil {
		return nil
	}
	return ops
}

// shmModes are the modes a chunk may run in.
var shmModes = []lab.Mode{lab.Slots, lab.CAS, lab.Mutex}

// badIDChars may not appear in an ID: braces are the hash tag, colons
// separate the key's parts, the rest are glob or whitespace.
const badIDChars = "{}: \t\r\n*?[]"

// ValidID checks a job or worker name from the command line.
func ValidID(s string) bool {
	return len(s) > 0 && len(s) <= 64 && !strings.ContainsAny(s, badIDChars)
}

// Validate checks j; errors name the field and wrap ErrBadJob.
func (j Job) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadJob}, args...)...)
	}
	switch {
	case !ValidID(j.ID):
		return bad("ID %q must be 1 to 64 characters without braces, colons, spaces or glob characters", j.ID)
	case j.Protocol != Protocol:
		return bad("Protocol %d, this build speaks %d", j.Protocol, Protocol)
	case j.N == 0 || j.N > lab.MaxN:
		return bad("N must be in [1, %d], got %d", uint64(lab.MaxN), j.N)
	case j.Func == "" || len(j.Func) > 64 || strings.ContainsAny(j.Func, " \t\r\n"):
		return bad("Func %q must be the name of a registered Func", j.Func)
	case j.ops() == nil:
		return bad("Op %q must be sum, min or max, or a comma-separated list of them for a vector Func (is %q registered in this program?)", j.Op, j.Func)
	case len(j.Params) > lab.MaxParams:
		return bad("Params must be at most %d bytes, got %d", lab.MaxParams, len(j.Params))
	case j.Redundancy < 1 || j.Redundancy > MaxRedundancy:
		return bad("Redundancy must be in [1, %d], got %d", MaxRedundancy, j.Redundancy)
	case j.Grain < 1 || j.Grain > lab.MaxGrain:
		return bad("Grain must be in [1, %d], got %d", uint64(lab.MaxGrain), j.Grain)
	case j.Chunks < 1 || j.Chunks > MaxChunks || uint64(j.Chunks) > j.pieces():
		return bad("Chunks must be in [1, min(pieces of Grain %d terms in N = %d, %d)], got %d", j.Grain, j.pieces(), MaxChunks, j.Chunks)
	case j.Workers < 1 || j.Workers > lab.MaxWorkers:
		return bad("Workers must be in [1, %d], got %d", lab.MaxWorkers, j.Workers)
	case !slices.Contains(shmModes, j.Mode):
		return bad("Mode must be slots, cas or mutex, got %q", j.Mode)
	case j.Lease < MinLease:
		return bad("Lease must be at least %v, got %v", MinLease, j.Lease)
	case j.Retain < 2*j.Lease:
		return bad("Retain must be at least twice Lease (%v), got %v", 2*j.Lease, j.Retain)
	case j.MaxAttempts < 1:
		return bad("MaxAttempts must be at least 1, got %d", j.MaxAttempts)
	}
	return nil
}

// Bounds returns chunk i's terms [lo, hi): pieces floor(P*i/Chunks) to
// floor(P*(i+1)/Chunks) of the P pieces of Grain terms in [0, N) (the last
// piece may be shorter), computed in 128 bits, so the boundaries depend on
// nothing but N, Grain and Chunks, and lie on the grid of one reduction
// over [0, N).
func (j Job) Bounds(i int) (lo, hi uint64) {
	p := j.pieces()
	at := func(k uint64) uint64 {
		h, l := bits.Mul64(p, k)
		q, _ := bits.Div64(h, l, uint64(j.Chunks))
		if q >= p {
			return j.N
		}
		return q * j.grain()
	}
	return at(uint64(i)), at(uint64(i) + 1)
}

// Tolerances of the checks against the closed form.
const (
	// ChunkRelTol bounds a chunk's relative error. The engine's kernels
	// are compensated (a few ulps for any range), so 1e-12 leaves three
	// orders of magnitude of margin and still rejects any value that is
	// not this chunk's sum.
	ChunkRelTol = 1e-12
	// SumRelTol bounds the whole job's relative error; a result beyond it
	// fails the job. The reduction is compensated too, so honest runs stay
	// near 1e-16; a forger who nudges every chunk within ChunkRelTol is
	// caught here.
	SumRelTol = 1e-13
)

// closedForm is the closed form of the job's Func in this program
// (catalog.ClosedForm: one registered WithClosedForm), or nil: a Func
// without one, or one this program does not register, is not checked
// chunk by chunk.
func (j Job) closedForm() func(params []byte, lo, hi uint64) float64 {
	return catalog.ClosedForm(j.Func)
}

// Exact returns chunk i's exact sum from the closed form of the job's Func
// and how far a result may be from it and still be taken: ChunkRelTol
// relative. NaN for a Func without a closed form.
func (j Job) Exact(i int) (sum, tol float64) {
	cf := j.closedForm()
	if cf == nil {
		return math.NaN(), math.NaN()
	}
	lo, hi := j.Bounds(i)
	sum = cf(j.Params, lo, hi)
	return sum, ChunkRelTol * math.Abs(sum)
}

// checkChunk says why v cannot be chunk i's sum, or "" when it can (also
// for a Func without a closed form).
func (j Job) checkChunk(i int, v float64) string {
	if j.closedForm() == nil {
		return ""
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Sprintf("chunk %d: %v is not finite", i, v)
	}
	want, tol := j.Exact(i)
	if math.Abs(v-want) > tol {
		return fmt.Sprintf("chunk %d: %.17g is outside its closed-form bounds %.17g ± %.3g", i, v, want, tol)
	}
	return ""
}

// chunkTerms is how many terms chunk i has.
func (j Job) chunkTerms(i int) uint64 {
	lo, hi := j.Bounds(i)
	return hi - lo
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
