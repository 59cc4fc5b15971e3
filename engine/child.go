package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// The environment a child is started with. A process is a pishm child
// exactly when envSegment is set.
const (
	envSegment = "PISHM_SEGMENT" // "BACKING:FD": the inherited segment, e.g. "posix:3"
	envWorker  = "PISHM_WORKER"  // the worker index, 0-based
	envAttempt = "PISHM_ATTEMPT" // 0 for the first try at a range, 1.. for retries
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

// ChildMain runs this process as worker: it attaches to the segment it
// inherited, waits at the start barrier, sums its range, publishes, and
// returns the exit status (0 on success, 1 after printing the error to
// stderr).
func ChildMain() int {
	if err := childMain(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "pishm worker %s: %v\n", getenv(envWorker), err)
		return 1
	}
	return 0
}

// openInherited attaches to the segment named by envSegment.
func openInherited() (*shmem.Segment, error) {
	backing, fdText, ok := strings.Cut(getenv(envSegment), ":")
	fd, err := strconv.Atoi(fdText)
	if !ok || err != nil || fd < 3 {
		return nil, fmt.Errorf("bad %s=%q", envSegment, getenv(envSegment))
	}
	return shmem.OpenFile(os.NewFile(uintptr(fd), "inherited segment"), shmem.Backing(backing))
}

func childMain(ctx context.Context) error {
	fault("attach")
	seg, err := openInherited()
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
	jh := readJob(h)
	j, err := childJob(jh, strings.TrimRight(string(h.Kernel[:]), "\x00"))
	if err != nil {
		return err
	}
	s := slotOf(seg, i)
	s.pid.Store(uint32(os.Getpid()))

	// Start barrier: announce arrival, then sleep until the parent opens
	// the gate, so that timing measures work and not spawn skew.
	s.state.Store(slotArrived)
	h.Arrived.Add(1)
	if err := sem.WakeAll(&h.Arrived); err != nil {
		return err
	}
	fault("arrived")
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
	publish, finish := publisher(mode, j.op, accumOf(seg), s, (*atomic.Uint64)(seg.Lane(i)))
	first := true
	publishAndMark := func(p float64, terms uint64) {
		publish(p, terms)
		if first {
			first = false
			fault("sum")
		}
	}
	if jh.sched == Dynamic {
		claim := func(c uint64) {
			if c != 0 {
				s.claimDone.Store(s.done.Load())
			}
			s.claim.Store(c)
		}
		sumDynamic(j, h.Offset, h.N, h.Chunk, counter{&h.Next}, s.redo.Load(), &s.progress, claim, publishAndMark)
	} else {
		sumRange(j, s.lo.Load(), s.hi.Load(), h.Chunk, &s.progress, publishAndMark)
	}
	if err := finish(); err != nil {
		return err
	}
	if mode.IsTransport() {
		m := transport.Message{Worker: uint32(i), Lo: s.lo.Load(), Hi: s.hi.Load(),
			ElapsedNs: int64(time.Since(start)), Partial: s.total()}
		sctx, cancel := context.WithTimeout(ctx, sendTimeout)
		err := transport.Send(sctx, m)
		cancel()
		if err != nil {
			return err
		}
	}
	s.elapsed.Store(int64(time.Since(start)))
	s.state.Store(slotDone) // store-release: everything above is published
	fault("done")
	return ctx.Err()
}

// sendTimeout bounds a child's send of its one message.
const sendTimeout = time.Minute

// childJob finds the job the header names: the pi series with the header's
// kernel, or a registered Func.
func childJob(jh jobHeader, kernelName string) (job, error) {
	if jh.name == piJob {
		if _, err := kernel.ByName(kernelName); err != nil {
			return job{}, err
		}
		return piKernelJob(kernelName), nil
	}
	j, ok := lookup(jh.name)
	if !ok {
		return job{}, fmt.Errorf("no Func registered as %q in this binary (Register it from an init function)", jh.name)
	}
	if j.op != jh.op {
		return job{}, fmt.Errorf("Func %q is registered with op %v here, %v in the parent", jh.name, j.op, jh.op)
	}
	return j, nil
}
