package engine

import (
	"fmt"
	"time"

	"github.com/pishm/pishm/engine/internal/opt"
)

// PoolOption sets what a Pool fixes when it starts (its workers, their
// faults, the segment's capacities), given to NewPool; or, given to
// Reduce, the same for the workers one call starts. Every CallOption is
// a PoolOption too: given to NewPool, it sets the default of the Pool's
// calls. A capacity (WithMaxK, WithMaxParams, WithInProcessBelow) given to
// Reduce is refused with a *ConfigError: a one-shot call sizes its
// segment to fit.
type PoolOption = opt.PoolOption

// CallOption sets what one call computes and how it shares the work:
// given to Reduce, a Pool's Reduce, or NewPool (the Pool's default).
type CallOption = opt.CallOption

// settings is what options set: a config, the lab's settings (copied
// into it by settingsOf), and what only a Pool uses.
type settings struct {
	config
	lab            opt.Lab
	maxParams      int
	maxK           int
	inProcessBelow uint64
	inProcessSet   bool
	given          given // the options a one-shot call refuses, as given
}

// Lab is the settings package engine/lab reaches.
func (s *settings) Lab() *opt.Lab { return &s.lab }

// given records the options whose place is a Pool: a one-shot call
// refuses them rather than ignore them.
type given uint8

const (
	givenMaxParams given = 1 << iota
	givenMaxK
	givenInProcess
)

// refusePoolOnly is the error of a one-shot call given an option that
// sizes or shapes a Pool when it starts, naming the first.
func (s *settings) refusePoolOnly() error {
	for _, o := range []struct {
		given bool
		name  string
	}{
		{s.given&givenMaxParams != 0, "WithMaxParams"}, {s.given&givenMaxK != 0, "WithMaxK"},
		{s.given&givenInProcess != 0, "WithInProcessBelow"},
		{s.lab.MaxChunks != 0, "lab.WithMaxChunks"}, {s.lab.Wait != "", "lab.WithWaitPolicy"},
	} {
		if o.given {
			return &ConfigError{Reason: fmt.Sprintf("%s shapes a Pool when it starts: give it to NewPool, not to Reduce", o.name)}
		}
	}
	return nil
}

// apply sets s as opts say, over what s holds.
func apply[O PoolOption](s *settings, opts []O) {
	s.lab = s.config.lab()
	for _, o := range opts {
		o.Apply(s)
	}
	s.config.setLab(s.lab)
}

// lab is the part of c that the lab's options set, as they see it. The
// fields live flat in config, where the engine (and its tests' literals)
// read them; options write them through opt.Lab, the one type engine/lab
// can reach.
func (c config) lab() opt.Lab {
	return opt.Lab{Mode: string(c.Mode), AllowRacy: c.AllowRacy, Pad: c.Pad, Spawn: c.Spawn, Shm: c.Shm, Path: c.Path, Force: c.Force,
		Publish: c.Publish, RedisURL: c.RedisURL, WorkerBinary: c.WorkerBinary, Timeout: c.Timeout, Detail: c.Detail,
		Sched: string(c.Sched), Chunk: c.Chunk}
}

// setLab sets c's lab part from l (lab's inverse; l's Pool-only fields,
// DryRun, Wait and MaxChunks, stay in settings.lab).
func (c *config) setLab(l opt.Lab) {
	c.Mode, c.AllowRacy, c.Pad, c.Spawn, c.Shm, c.Path, c.Force = strategy(l.Mode), l.AllowRacy, l.Pad, l.Spawn, l.Shm, l.Path, l.Force
	c.Publish, c.RedisURL, c.WorkerBinary, c.Timeout, c.Detail = l.Publish, l.RedisURL, l.WorkerBinary, l.Timeout, l.Detail
	c.Sched, c.Chunk = schedule(l.Sched), l.Chunk
}

// set is the option that runs f on the engine's settings.
func set(f func(*settings)) PoolOption { return opt.Pool(func(t opt.Target) { f(t.(*settings)) }) }

// setCall is set for a call's setting.
func setCall(f func(*settings)) CallOption { return opt.Call(func(t opt.Target) { f(t.(*settings)) }) }

// WithWorkers sets the number of worker processes (default one per CPU,
// at most 1024).
func WithWorkers(n int) PoolOption { return set(func(s *settings) { s.Workers = n }) }

// WithCallerShare makes the caller sum a share of each call itself, as an
// OpenMP master thread does: W workers are then the caller and W-1
// processes, and the result is the same bits. On a Pool a small call then
// costs no wake-up of the caller, only a spin. It is off by default
// because the caller's share runs the Func in the calling process: a
// panic is recovered into the call's *WorkerError (Worker 0), but a Func
// that crashes the process (os.Exit, a fatal signal) takes the caller
// with it, and a cancelled call returns only once the caller's current
// piece ends (a worker process is killed instead). It needs a
// shared-memory mode.
func WithCallerShare(on bool) PoolOption { return set(func(s *settings) { s.CallerShare = on }) }

// WithRetries sets how many fresh attempts a worker's range gets after
// its process dies (default 1, at most 100; 0 for none).
func WithRetries(n int) PoolOption {
	return set(func(s *settings) {
		s.Retries = n
		if n == 0 {
			s.Retries = -1
		}
	})
}

// WithStall sets how long a worker may make no progress before it is
// killed and its share redone (default 2 minutes: progress moves only
// between pieces of the grid, and a Func may take long over one; 0 for
// never). A worker stopped by a signal (SIGSTOP) is killed after 2 s
// whatever it says.
func WithStall(d time.Duration) PoolOption {
	return set(func(s *settings) {
		s.Stall = d
		if d == 0 {
			s.Stall = -1
		}
	})
}

// WithMaxParams sets how many parameter bytes one call on a Pool may pass
// (default 64 KiB, at most 1 MiB); they travel in the segment.
func WithMaxParams(b int) PoolOption {
	return set(func(s *settings) { s.maxParams = b; s.given |= givenMaxParams })
}

// WithMaxK sets the most elements a VectorFunc called on a Pool may have
// (default: the most of any Func registered when the Pool starts; at most
// 4096). Each element takes about 600 bytes of the segment per worker,
// twice, and once more for the shared accumulator, and the segment is
// allocated in full when the Pool starts: a program that registers a wide
// Func (a 4096-bin histogram) but runs narrow ones on a Pool should say
// so, or 16 workers hold some 80 MB of /dev/shm.
func WithMaxK(k int) PoolOption { return set(func(s *settings) { s.maxK = k; s.given |= givenMaxK }) }

// WithInProcessBelow makes a Pool run calls of fewer than n terms on
// goroutines in the calling process, where waking worker processes would
// cost more than the work (0: never). The default, 2^20 terms, was
// measured with an assembly kernel's series (about 0.05 ns a term on one core): below
// it two worker processes woken through the segment lose to goroutines in
// the caller. A Func that costs more per term crosses over at fewer
// terms: set it from its own cost. With WithCallerShare the default is 0.
func WithInProcessBelow(n uint64) PoolOption {
	return set(func(s *settings) { s.inProcessBelow, s.inProcessSet = n, true; s.given |= givenInProcess })
}

// WithDynamic shares the work by chunks of k terms (rounded up to whole
// pieces of the grid) that workers take from a lock-free counter in the
// segment until none are left, so that a slow worker takes fewer and all
// finish together; k 0 means n/(32 workers). Without it worker i of a
// one-shot call sums the fixed range [n*i/w, n*(i+1)/w), and a Pool picks
// for each call: chunks when the call's shares are expected (from the
// Func's last call) to last 2 ms or more, where a busy machine's time
// slices would leave a fixed range behind; fixed ranges below, where
// chunks only cost, and in the racy demo. lab.WithSchedule(lab.Static)
// and lab.WithPublish choose fixed ranges. Result.Sched and Result.Chunk
// say what ran. Either way the result is the same bits.
func WithDynamic(k uint64) CallOption {
	return setCall(func(s *settings) { s.lab.Sched, s.lab.Chunk = string(schedDynamic), k })
}

// WithGrain sets the terms per piece of the grid the Func is called on
// (default: at least 512, at most 65536 terms up to 2^26 terms, at most
// 1024 pieces beyond, at most 2^30). The grid depends on n and the grain
// alone, never on workers, mode, schedule or retries, so a deterministic
// Func gives the same bits every time; setting it makes it part of the
// result's identity.
func WithGrain(g uint64) CallOption { return setCall(func(s *settings) { s.Grain = g }) }

// WithOffset makes a call reduce the terms [lo, lo+n) instead of [0, n).
// The grid of pieces then starts at lo, so for the Partials of several
// calls to merge into the Partial of one call over their union, every
// call must use that call's grain (WithGrain) and start on its grid: lo a
// multiple of the grain.
func WithOffset(lo uint64) CallOption { return setCall(func(s *settings) { s.Offset = lo }) }

// WithParams passes p to the workers with the call: every call of the
// Func receives it (at most 1 MiB, or a Pool's WithMaxParams; the bytes
// travel in the shared segment).
func WithParams(p []byte) CallOption { return setCall(func(s *settings) { s.Params = p }) }

// WithProgress has f called about every 100 ms while the workers run,
// with their progress read from the segment without locks, and once more
// at the end. A panic in f becomes the call's error.
func WithProgress(f func(Progress)) CallOption { return setCall(func(s *settings) { s.Progress = f }) }
