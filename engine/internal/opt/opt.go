// Package opt holds the types behind package engine's options, so that
// engine's own sibling packages can hand engine settings it does not
// export: engine/lab the strategy comparison's knobs (a transport, false
// sharing, fork or exec, the segment's backing), engine/pi the mark of an
// assembly kernel that a forked worker may run. An embedder meets these
// types only under engine's names (engine.PoolOption, engine.CallOption,
// engine.RegisterOption) and makes them only with engine's, lab's or
// pi's functions.
package opt

import (
	"strings"
	"time"

	"github.com/pishm/pishm/shmem"
)

// Target is what an option sets: package engine's settings of one call
// or of a Pool. Only package engine implements it.
type Target interface {
	// Lab returns the settings only engine/lab reaches.
	Lab() *Lab
}

// Lab is the settings of the strategy lab: how a run is made, for
// comparing the ways, never what it computes.
type Lab struct {
	Mode         string        // the publishing strategy ("": slots)
	AllowRacy    bool          // the racy mode may run
	Pad          int           // each worker's lane, Pad bytes from the next (false sharing)
	Spawn        string        // "", "auto", "exec" or "fork"
	Shm          shmem.Backing // the segment's backing ("" for posix)
	Path         string        // the file of the file backing
	Force        bool          // the file may replace an existing one
	Publish      uint64        // the static schedule's publish interval
	RedisURL     string        // the redis mode's server
	WorkerBinary string        // a lean program for the workers
	Timeout      time.Duration // the call's bound (0: none)
	// Sched and Chunk are the schedule as a name and its chunk, unchecked
	// (engine.WithDynamic sets them checked): the lab's Config passes
	// what its user typed, for the engine to refuse by field.
	Sched string
	Chunk uint64
	// DryRun makes a one-shot call check its settings and the Func,
	// then return before it starts anything.
	DryRun bool
	// Wait is a Pool's wait policy: "" or "adaptive", "active",
	// "passive".
	Wait string
	// MaxChunks is how many dynamic chunks one call on a Pool may have
	// (0: the default).
	MaxChunks int
	// Detail, if set, receives each worker's share of the call.
	Detail *[]WorkerResult
}

// WorkerResult is one worker's share of a call.
type WorkerResult struct {
	Index   int
	Lo, Hi  uint64 // its range, static schedule (0, 0 when dynamic)
	Terms   uint64 // how many terms it summed
	Elapsed time.Duration
	Partial float64 // its element 0, rounded
}

// PoolOption sets a Pool's settings, or a one-shot call's: how many
// workers, how they start and what they share.
type PoolOption interface {
	Apply(Target)
	pool()
}

// CallOption sets a call's settings: what it computes over and how the
// work is shared. Given to NewPool, it sets the Pool's default for every
// call.
type CallOption interface {
	PoolOption
	call()
}

type poolOption func(Target)

func (o poolOption) Apply(t Target) { o(t) }
func (poolOption) pool()            {}

type callOption func(Target)

func (o callOption) Apply(t Target) { o(t) }
func (callOption) pool()            {}
func (callOption) call()            {}

// Pool makes a PoolOption of f.
func Pool(f func(Target)) PoolOption { return poolOption(f) }

// Call makes a CallOption of f.
func Call(f func(Target)) CallOption { return callOption(f) }

// Registration is what registering a Func records beside it.
type Registration struct {
	// ClosedForm is the Func's exact sum, that every result is checked
	// against.
	ClosedForm func(params []byte, lo, hi uint64) float64
	// Kernel names the assembly loop of package engine/internal/kernel
	// that the Func is: a forked worker runs it without the Go runtime,
	// and a CPU that lacks its instructions is refused before any worker
	// starts. "" for a Func written in Go.
	Kernel string
}

// RegisterOption sets part of a Registration.
type RegisterOption func(*Registration)

// Kernel marks a Func as the kernel package's loop of that name.
func Kernel(name string) RegisterOption {
	return func(r *Registration) { r.Kernel = name }
}

// Catalog is what package engine tells engine/catalog of this program:
// set once, when engine initializes, and only read after.
var Catalog struct {
	// Funcs lists the registered names, sorted.
	Funcs func() []string
	// Ops are a registered Func's ops (partial.Op values), or false.
	Ops func(name string) ([]uint8, bool)
	// ClosedForm is a registered Func's closed form, or nil.
	ClosedForm func(name string) func(params []byte, lo, hi uint64) float64
	// BuildID names the build as far as results go.
	BuildID func() string
	// BuildFromSource says whether BuildID names the source built.
	BuildFromSource func() bool
	// DefaultGrain is the grain of a call of n terms given none.
	DefaultGrain func(n uint64) uint64
	// Runnable says why this CPU cannot run a registered Func, or nil.
	Runnable func(name string) error
}

// Explain is a ConfigError's text, field and reason, with every field it
// names (field, and the {Name}s of reason) written as name says.
func Explain(field, reason string, name func(field string) string) string {
	var b strings.Builder
	if field != "" {
		b.WriteString(name(field))
	}
	r := reason
	for {
		i := strings.IndexByte(r, '{')
		j := strings.IndexByte(r[i+1:], '}')
		if i < 0 || j < 0 {
			b.WriteString(r)
			return b.String()
		}
		b.WriteString(r[:i])
		b.WriteString(name(r[i+1 : i+1+j]))
		r = r[i+j+2:]
	}
}
