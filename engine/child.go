package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
)

// The environment a child is started with. A process is a pishm child
// exactly when envSegment is set.
const (
	envSegment = "PISHM_SEGMENT" // "posix:NAME" or "file:PATH"
	envWorker  = "PISHM_WORKER"  // the worker index, 0-based
)

// getenv is os.Getenv; a variable so tests can see what a child would.
var getenv = os.Getenv

// IsChild reports whether this process was started by Run as a worker.
// Programs that embed the engine call it first thing in main:
//
//	func main() {
//		if engine.IsChild() {
//			os.Exit(engine.ChildMain())
//		}
//		...
//	}
func IsChild() bool { return getenv(envSegment) != "" }

// ChildMain runs this process as worker: it attaches to the segment named in
// the environment, waits at the start barrier, sums its range, publishes,
// and returns the exit status (0 on success, 1 after printing the error to
// stderr).
func ChildMain() int {
	if err := childMain(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "pishm worker %s: %v\n", getenv(envWorker), err)
		return 1
	}
	return 0
}

func childMain(ctx context.Context) error {
	backing, name, ok := strings.Cut(getenv(envSegment), ":")
	if !ok {
		return fmt.Errorf("bad %s=%q", envSegment, getenv(envSegment))
	}
	seg, err := shmem.Open(shmem.Backing(backing), name)
	if err != nil {
		return err
	}
	defer seg.Close()
	h := seg.Header()
	i, err := strconv.Atoi(getenv(envWorker))
	if err != nil || i < 0 || i >= int(h.Slots) {
		return fmt.Errorf("bad %s=%q for a segment of %d workers", envWorker, getenv(envWorker), h.Slots)
	}
	mode, ok := modeFromCode(h.Mode)
	if !ok {
		return fmt.Errorf("segment has unknown mode code %d", h.Mode)
	}
	k, err := kernel.ByName(strings.TrimRight(string(h.Kernel[:]), "\x00"))
	if err != nil {
		return err
	}
	s := slotOf(seg, i)
	lo, hi := s.lo.Load(), s.hi.Load()
	s.pid.Store(uint32(os.Getpid()))

	// Start barrier: announce arrival, then sleep until the parent opens
	// the gate, so that timing measures work and not spawn skew.
	h.Arrived.Add(1)
	if err := sem.WakeAll(&h.Arrived); err != nil {
		return err
	}
	for h.Go.Load() == 0 { // load-acquire: the parent's writes before Go are visible
		if err := sem.WaitWhile(&h.Go, 0, time.Second); err != nil {
			return err
		}
		if os.Getppid() == 1 {
			return errors.New("parent died before the start")
		}
	}
	s.state.Store(slotRunning)
	start := time.Now()
	publish, finish := publisher(mode, accumOf(seg), s)
	partial := sumRange(k, lo, hi, h.Chunk, publish)
	if err := finish(); err != nil {
		return err
	}
	if mode != Slots { // the slots mode's publisher already left it there
		s.partial.Store(math.Float64bits(partial))
		s.comp.Store(0)
	}
	s.elapsed.Store(int64(time.Since(start)))
	s.state.Store(slotDone) // store-release: everything above is published
	return ctx.Err()
}
