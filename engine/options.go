package engine

import (
	"fmt"
	"time"
)

// Option adjusts a Reduce call, or a Pool.
type Option func(*settings)

// settings is what Options set: a Config, and what only a Pool uses.
type settings struct {
	Config
	maxChunks      int
	maxParams      int
	maxK           int
	inProcessBelow uint64
	inProcessSet   bool
	wait           WaitPolicy
	given          given // the options a receiver may refuse, as given
}

// given records the options whose place is one receiver's: a Pool's
// (fixed when it starts) or a call's. A receiver refuses one that is not
// its own rather than ignore it.
type given uint16

const (
	givenWorkers given = 1 << iota
	givenCallerShare
	givenMaxChunks
	givenMaxParams
	givenMaxK
	givenWait
	givenInProcess
	givenConfig
)

// poolOnly are the options that size or shape a Pool when it starts:
// NewPool's, no call's.
var poolOnly = []struct {
	bit  given
	name string
}{
	{givenMaxChunks, "WithMaxChunks"}, {givenMaxParams, "WithMaxParams"}, {givenMaxK, "WithMaxK"},
	{givenWait, "WithWaitPolicy"}, {givenInProcess, "WithInProcessBelow"},
}

// refusePoolOnly is the error of a call given a Pool's option (Reduce,
// or a Pool's call), naming the first.
func (s *settings) refusePoolOnly(receiver string) error {
	for _, o := range poolOnly {
		if s.given&o.bit != 0 {
			return &ConfigError{Reason: fmt.Sprintf("%s shapes a Pool when it starts: give it to NewPool, not to %s", o.name, receiver)}
		}
	}
	return nil
}

func settingsOf(opts []Option) settings {
	var s settings
	for _, o := range opts {
		o(&s)
	}
	return s
}

// WithWorkers sets the number of worker processes.
func WithWorkers(n int) Option {
	return func(s *settings) { s.Workers = n; s.given |= givenWorkers }
}

// WithMode sets the publishing strategy.
func WithMode(m Mode) Option { return func(s *settings) { s.Mode = m } }

// WithChunk sets the dynamic schedule's terms per chunk (Config.Chunk).
func WithChunk(k uint64) Option { return func(s *settings) { s.Chunk = k } }

// WithPublish sets the static schedule's publish interval
// (Config.Publish).
func WithPublish(k uint64) Option { return func(s *settings) { s.Publish = k } }

// WithGrain sets the terms per piece of the grid the Func is called on
// (Config.Grain; default DefaultGrain(n)).
func WithGrain(g uint64) Option { return func(s *settings) { s.Grain = g } }

// WithSchedule picks static ranges or dynamic chunks.
func WithSchedule(sc Schedule) Option { return func(s *settings) { s.Sched = sc } }

// WithTimeout bounds the call.
func WithTimeout(d time.Duration) Option { return func(s *settings) { s.Timeout = d } }

// WithParams passes p to the workers with the call, for a ParamsFunc
// (at most MaxParams bytes, or a Pool's WithMaxParams; the bytes travel
// in the shared segment).
func WithParams(p []byte) Option { return func(s *settings) { s.Params = p } }

// WithConfig replaces every Config setting but N with cfg's.
func WithConfig(cfg Config) Option {
	return func(s *settings) { n := s.N; s.Config = cfg; s.N = n; s.given |= givenConfig }
}

// WithMaxChunks sets how many dynamic chunks one Pool call may have
// (default 65536): the chunk table is this many words of the segment.
func WithMaxChunks(k int) Option {
	return func(s *settings) { s.maxChunks = k; s.given |= givenMaxChunks }
}

// WithMaxParams sets how many parameter bytes one Pool call may pass
// (default 64 KiB, at most MaxParams).
func WithMaxParams(b int) Option {
	return func(s *settings) { s.maxParams = b; s.given |= givenMaxParams }
}

// WithMaxK sets the most elements a vector Func called on a Pool may have
// (default: the most of any Func registered when the Pool starts; at most
// MaxK). Each element takes about 600 bytes of the segment per worker,
// twice, and once more for the shared accumulator, and the segment is
// allocated in full when the Pool starts: a program that registers a wide
// Func (a 4096-bin histogram) but runs narrow ones on a Pool should say
// so, or 16 workers hold some 80 MB of /dev/shm.
func WithMaxK(k int) Option { return func(s *settings) { s.maxK = k; s.given |= givenMaxK } }

// WithCallerShare makes the caller sum a share of each call itself, as an
// OpenMP master thread does (Config.CallerShare): W workers are then the
// caller and W-1 processes. In a Pool a small call then costs no wake-up
// of the caller, only a spin (see WaitPolicy); the Pool's setting holds
// for all its calls. It is off by default because the caller's share runs
// the Func in the calling process: a panic is recovered into the call's
// *FuncPanic, but a Func that crashes the process (os.Exit, a fatal
// signal) takes the caller with it, and a cancelled call returns only once
// the caller's current piece ends (a worker process is killed instead).
func WithCallerShare(on bool) Option {
	return func(s *settings) { s.CallerShare = on; s.given |= givenCallerShare }
}

// WithWaitPolicy sets how a Pool's workers and caller wait (default
// WaitAdaptive).
func WithWaitPolicy(p WaitPolicy) Option {
	return func(s *settings) { s.wait = p; s.given |= givenWait }
}

// WithInProcessBelow makes a Pool run calls of fewer than n terms on
// goroutines in the calling process, where waking worker processes would
// cost more than the work (default DefaultInProcessBelow; 0 never).
func WithInProcessBelow(n uint64) Option {
	return func(s *settings) { s.inProcessBelow, s.inProcessSet = n, true; s.given |= givenInProcess }
}
