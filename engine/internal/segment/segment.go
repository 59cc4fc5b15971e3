// Package segment is the layout of the engine's shared segment and the
// structures in it: the control block, the shared accumulator, each
// worker's slot and journal, the chunk table and the tail's areas, and
// the checks a worker makes before it trusts what it reads. Package engine
// writes and reads them by the worker protocol (engine/protocol.go says
// who writes what, in which order).
package segment

import (
	"errors"
	"math"
	"sync/atomic"

	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/sem"
)

// MaxJobName bounds a registered Func's name: it travels in the job.
const MaxJobName = 40

// ErrMismatch is wrapped by the error of a segment or job a worker cannot
// work with: another protocol, another build, or a field out of bounds
// (engine.ErrProtocol).
var ErrMismatch = errors.New("engine: worker protocol mismatch")

// Version changes whenever anything below changes meaning.
const Version = 8

// GenQuit in control.gen tells pool workers to exit.
const GenQuit = math.MaxUint32

// ChunkDone marks a chunk in the table whose result is in a journal.
const ChunkDone = math.MaxUint32

// JobSpec is one call's work, written by the parent while the workers
// sleep and read by them after they load the new gen.
type JobSpec struct {
	N, Offset uint64
	Step      uint64 // static: terms between publishes; dynamic: terms per chunk
	Chunks    uint64 // dynamic: how many chunks (0 for static)
	Grain     uint64 // terms per piece of the grid (chunk is a multiple)
	Mode      uint32 // modeCode
	Dynamic   bool
	_         [3]byte
	Params    uint32 // bytes of parameters at the start of the params area
	K         uint32 // elements: their ops are the first k bytes of the ops area
	// Workers is how many slots take part in the call, slots [0, Workers):
	// the shares are cut among them, and the rest sit the call out (the
	// parent marks them done with it before it posts the call).
	Workers uint32
	Name    [MaxJobName]byte
}

// Control is the engine's Control block at the start of the segment.
type Control struct {
	Protocol  uint32 // protocolVersion
	Workers   uint32
	Stamp     [16]byte // buildStamp of the parent
	LanePad   uint32   // bytes between lanes (Config.Pad), 0 for none
	MaxChunks uint32   // chunk table capacity
	MaxParams uint32   // params area capacity
	MaxK      uint32   // elements a call may have: ops area, accElems and journal folds
	Job       JobSpec

	Gen      atomic.Uint32 // the current call; futex word the workers sleep on
	Arrived  atomic.Uint32 // workers attached; futex word for the start barrier
	Finished atomic.Uint32 // workers done with the current call; futex word the parent sleeps on
	Cancel   atomic.Uint32 // = gen when the parent gave up on the call
	Next     atomic.Uint64 // dynamic: the next chunk index to hand out

	// The wait policy (see "Waiting" in engine/protocol.go): how long a worker spins on gen
	// before it sleeps, and who sleeps, so that a wake-up costs a system
	// call only when somebody sleeps.
	SpinNs      atomic.Int64  // ns a worker spins on gen before sleeping
	GenSleepers atomic.Uint32 // workers asleep (or about to be) on gen
	// WakeParentAt is the value of Finished at which the parent, asleep
	// on it (or about to be), wants waking: then every worker it waits
	// for has finished, so a worker that is not the last one makes no
	// system call and the parent no round trip. 0 while it is awake.
	WakeParentAt atomic.Uint32
}

// Accum is the shared accumulator's lock; its elements are accElems in
// the tail.
type Accum struct {
	Lock sem.Mutex
}

// AccElem is one element of the shared accumulator: cas adds into exact
// with atomic adds (Sum) or into best with CompareAndSwap (Min, Max);
// mutex adds into either holding accum.lock; racy adds into best with
// plain loads and stores.
type AccElem struct {
	Best  atomic.Uint64 // float64 bits: Min or Max so far; racy's running sum
	Exact superacc.Acc  // Sum: the exact total
}

// JournalEntry is one published total (see "The journal" in engine/protocol.go); its folds, the
// exact total (Sum) or the extreme (Min, Max) of each element, are at
// View.EntryFolds.
type JournalEntry struct {
	Terms     uint64 // terms covered
	Publishes uint64 // how many publishes it took
	Last      uint64 // dynamic: 1 + the last chunk covered, 0 for none
}

// Slot is one worker's block. Only worker i writes Slot i during a call;
// the parent writes it between calls and after a death, when no live
// worker of that Slot runs.
type Slot struct {
	Entry    [2]JournalEntry
	Seq      atomic.Uint64 // entry[seq&1] is the active one
	State    atomic.Uint32 // slotIdle .. slotDone
	Pid      atomic.Uint32
	DoneGen  atomic.Uint32 // the last call this worker finished
	_        uint32
	Elapsed  atomic.Int64  // ns from the call's start to the worker's finish
	Progress atomic.Uint64 // terms summed in this call, published or not
}

// A slot's states in one call, in the order a worker passes them.
const (
	SlotIdle    uint32 = iota // not attached yet
	SlotArrived               // attached, waiting for a call
	SlotRunning               // summing and publishing
	SlotDone                  // everything published
)

var SlotStates = [...]string{"before attaching", "waiting for work", "while summing", "after publishing"}

// MaxChunkTable bounds the dynamic schedule's chunk count (4 bytes each
// in the segment).
const MaxChunkTable = 1 << 24

// MaxParamBytes bounds the parameter bytes of one call (WithParams).
const MaxParamBytes = 1 << 20

// ChunkTable is the dynamic schedule's one word per chunk.
type ChunkTable []atomic.Uint32
