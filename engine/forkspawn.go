package engine

import (
	"fmt"
	"runtime"
	"slices"
	"strings"

	"github.com/pishm/pishm/engine/internal/kernel"
)

// Spawn methods (Config.Spawn).
//
// spawnExec starts each worker by fork and exec of a binary that serves
// the worker protocol (protocol.go) in Go. spawnFork starts each worker by
// a fork alone: the child is a copy of the parent that runs only an
// assembly routine of the kernel package (forkWorker), which keeps the
// protocol's start barrier, waits for the call on the gen futex, then runs
// the blocks kernel once per piece of the grid in its static range (its
// whole iterations), leaving each piece's raw lanes in a record of a
// shared anonymous mapping, and stores its progress after each piece.
// When the parent reaps it, it turns each record into the piece's value
// as the kernel's Go wrapper does (the top terms and the fold of the
// lanes), adds the values into the fold in grid order and writes the
// slot's journal entry and doneGen itself (settle), so that everything
// after (result, the checks, retries) is the exec path's. A forked worker
// killed at any point leaves no Done word for the call and is re-forked
// like any dead worker.
//
// A forked worker skips exec and the Go runtime's start-up in the child,
// the bulk of a short run's cost. Its result always equals the exec
// worker's bit for bit: both add the same value for every piece, the
// kernel's Sum of the piece, in the same order. A forked call keeps one
// 128-byte record per piece, so it is limited to kernel.MaxForkPieces
// (2^18) pieces in all: the default grain stays within them up to 2^48
// terms (2^34 at a grain of 2^16 set by hand); beyond, use exec or a
// larger Config.Grain.
//
// spawnAuto, the default, forks where fork can run the call (a Func
// registered as an assembly kernel (opt.Kernel), under the
// conditions checkFork lists) and execs otherwise:
// forking cuts a short run's start-up and never changes its bits.
const (
	spawnAuto = "auto"
	spawnExec = "exec"
	spawnFork = "fork"
)

// forkVetoed, if set, makes spawnAuto exec: the engine's tests arm their
// fault hooks (a kill at a protocol store) in exec'd workers only.
var forkVetoed func() bool

// spawnFor is how Run starts the workers of j under the defaulted c:
// "" in the goroutines mode, fork or exec as c.Spawn says (checked
// against j), and for auto fork if fork can run the call, else exec. A
// worker binary is what exec would run, so it does not keep auto from
// forking.
func spawnFor(c config, j job) (string, error) {
	switch {
	case c.Spawn == spawnFork:
		return spawnFork, checkFork(c, j)
	case c.Mode == modeGoroutines:
		return "", nil
	case c.Spawn == spawnExec:
		return spawnExec, nil
	}
	c.WorkerBinary = ""
	if checkFork(c, j) != nil || forkVetoed != nil && forkVetoed() {
		return spawnExec, nil
	}
	return spawnFork, nil
}

// checkSpawn validates Config.Spawn for any Func: the method, and for
// fork what the rest of the defaulted c must be (checkForkConfig).
func (c config) checkSpawn() error {
	switch c.Spawn {
	case "", spawnAuto, spawnExec:
		return nil
	case spawnFork:
		return c.checkForkConfig()
	}
	return configErr("Spawn", ": unknown spawn method %q (want auto, exec or fork)", c.Spawn)
}

// execOnly refuses fork where only Run forks: Reduce and Pool.
func (c config) execOnly() error {
	if c.Spawn == spawnFork {
		return configErr("Spawn", " fork is a one-shot call's alone: a Pool execs its workers")
	}
	return nil
}

// checkFork says why forked workers cannot run j under the defaulted c,
// or nil if they can.
func checkFork(c config, j job) error {
	if err := c.checkForkConfig(); err != nil {
		return err
	}
	if !j.forkable() {
		return configErr("Spawn", " fork runs only a Func that is an assembly kernel (%s), not %q", strings.Join(forkKernels, " or "), j.name)
	}
	return nil
}

// checkForkConfig says what in the defaulted c keeps forked workers from
// running any Func, or nil.
func (c config) checkForkConfig() error {
	bad := func(format string, args ...any) error {
		return configErr("Spawn", " fork "+format, args...)
	}
	switch {
	case !forkSupported:
		return bad("needs linux/amd64 and the assembly kernels, this is %s/%s: use exec", runtime.GOOS, runtime.GOARCH)
	case c.Mode != modeSlots:
		return bad("needs {Mode} slots, got %s", c.Mode)
	case c.Sched != schedStatic:
		return bad("needs {Sched} static, got %s", c.Sched)
	case c.Publish < c.N:
		return bad("publishes once per worker: {Publish} must be 0, got %d", c.Publish)
	case c.Pad != 0:
		return bad("has no lanes: {Pad} must be 0, got %d", c.Pad)
	case c.WorkerBinary != "":
		return bad("runs no binary: {WorkerBinary} must be empty, got %q", c.WorkerBinary)
	}
	if p := (c.N-1)/c.Grain + 1; p > forkMaxPieces {
		fix := "use exec"
		if g := (c.N-1)/forkMaxPieces + 1; g <= maxGrain {
			fix += fmt.Sprintf(", or {Grain} >= %d", g)
		}
		return bad("keeps a record per piece, at most %d pieces: {N} %d in pieces of {Grain} %d makes %d: %s",
			forkMaxPieces, c.N, c.Grain, p, fix)
	}
	return nil
}

// forkable says forked workers can run j: its Func is one of the assembly
// kernels a forked child runs without Go (opt.Kernel).
func (j job) forkable() bool { return j.kernel != "" && slices.Contains(forkKernels, j.kernel) }

// runnable fails for a kernel's Func that this CPU cannot run (the
// kernel's instructions would kill every worker with SIGILL).
func (j job) runnable() error {
	if j.kernel == "" {
		return nil
	}
	if _, err := kernel.ByName(j.kernel); err != nil {
		return fmt.Errorf("engine: %q: %w", j.name, err)
	}
	return nil
}
