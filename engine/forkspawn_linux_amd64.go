//go:build gc && !purego && !noasm

package engine

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/internal/segment"
)

const forkSupported = true

var forkKernels = kernel.ForkKernels

// forkMaxPieces bounds the pieces of the grid of a forked call: the
// records the workers leave (see kernel.MaxForkPieces).
const forkMaxPieces = kernel.MaxForkPieces

// forkSpawn is a one-shot crew's forked workers: their shares, and where
// they leave their results, in an anonymous MAP_SHARED mapping that fork
// passes on to every child (nothing to name, nothing left behind once it is
// unmapped): one kernel.ForkPiece record (128 bytes) per piece of the grid,
// in grid order, then one kernel.ForkOut header (128 bytes) per worker.
// Worker i's records are recs[first[i]:][:share[i].Pieces()], its own
// pieces of the grid.
type forkSpawn struct {
	mem    []byte
	out    []kernel.ForkOut
	recs   []kernel.ForkPiece
	share  []kernel.ForkShare
	first  []int
	lo, hi []uint64
	ppid   uint64
}

// forkHook, when set (by this package's tests only), is called on the
// spawner's thread right after each fork with the new worker's pid, so
// that a test can kill it where it wants.
var forkHook func(c *crew, i, attempt, pid int)

func newForkSpawn(cfg config, j job) (*forkSpawn, error) {
	if !j.forkable() {
		return nil, configErr("Spawn", " fork runs only a Func that is an assembly kernel, not %q", j.name)
	}
	f := &forkSpawn{ppid: uint64(os.Getpid())}
	pieces := 0
	for i := range cfg.Workers {
		lo, hi := spanOf(cfg, i)
		s, err := kernel.NewForkShare(j.kernel, lo, hi, cfg.Grain)
		if err != nil {
			return nil, &ConfigError{Field: "Spawn", Reason: " fork: " + err.Error(), Err: err}
		}
		f.share, f.lo, f.hi = append(f.share, s), append(f.lo, lo), append(f.hi, hi)
		f.first = append(f.first, pieces)
		pieces += s.Pieces()
	}
	if pieces > forkMaxPieces { // checkFork refuses such a config
		return nil, configErr("Spawn", " fork: %d pieces, at most %d", pieces, forkMaxPieces)
	}
	recSize := pieces * int(unsafe.Sizeof(kernel.ForkPiece{}))
	size := recSize + cfg.Workers*int(unsafe.Sizeof(kernel.ForkOut{}))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	f.mem = mem
	f.recs = unsafe.Slice((*kernel.ForkPiece)(unsafe.Pointer(&mem[0])), pieces)
	f.out = unsafe.Slice((*kernel.ForkOut)(unsafe.Pointer(&mem[recSize])), cfg.Workers)
	return f, nil
}

// records is worker i's piece records.
func (f *forkSpawn) records(i int) []kernel.ForkPiece {
	return f.recs[f.first[i] : f.first[i]+f.share[i].Pieces()]
}

// close unmaps the records; every forked worker has been reaped by then.
func (f *forkSpawn) close() error {
	if err := syscall.Munmap(f.mem); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

// startForks forks attempt a of each worker in workers, in one request to
// the spawner. No process of those workers is alive (the last one, if any,
// has been reaped), so their headers are ours to clear; their records need
// no clearing (a worker writes every one that settle reads).
func (c *crew) startForks(attempt int, workers ...int) error {
	f := c.opt.fork
	ctl := c.v.Ctl
	forks := make([]func() (int, error), len(workers))
	for k, i := range workers {
		out := &f.out[i]
		out.Done.Store(0)
		s := c.v.Slot(i)
		task := &kernel.ForkTask{
			Ppid: f.ppid, Pid: &s.Pid, State: &s.State, Arrived: &ctl.Arrived, Gen: &ctl.Gen, GenSleepers: &ctl.GenSleepers,
			Progress: &s.Progress, Elapsed: &s.Elapsed, Finished: &ctl.Finished, Out: out, Pieces: f.records(i),
			StateArrived: segment.SlotArrived, StateRunning: segment.SlotRunning, Quit: segment.GenQuit,
			Share: f.share[i],
		}
		copy(task.Name[:len(task.Name)-1], fmt.Sprintf("pishm worker %d", i))
		forks[k] = func() (int, error) {
			pid, err := kernel.Fork(task)
			if err == nil && forkHook != nil {
				forkHook(c, i, attempt, pid)
			}
			return pid, err
		}
	}
	ps, err := c.sp.StartForks(selfExe, workers, attempt, forks)
	for _, p := range ps {
		c.setProc(p.Worker, p)
	}
	return err
}

// settle turns the records of worker i, just reaped, into its journal
// entry for call cs, if it finished the call: each piece's value, what the
// kernel's Sum returns for the piece (the top terms and the fold its Go
// wrapper adds to the raw lanes), added into the fold in grid order as an
// exec'd worker adds them, then one publish of the whole range, as an
// exec'd worker journals it, then slotDone and doneGen. The worker is dead,
// so nothing else writes its slot or records.
func (f *forkSpawn) settle(c *crew, i int, cs *callState) {
	s, out := c.v.Slot(i), &f.out[i]
	if out.Done.Load() != cs.g || s.DoneGen.Load() == cs.g {
		return
	}
	sh, recs := f.share[i], f.records(i)
	fl := folds{fold.New(fold.Sum)}
	for k := range recs {
		fl[0].Add(sh.Value(k, &recs[k]))
	}
	var pb publisher
	pb.init(modeSlots, []fold.Op{fold.Sum}, c.v, i, nil, nil)
	pb.publish(fl, f.hi[i]-f.lo[i], 0)
	s.State.Store(segment.SlotDone)
	s.DoneGen.Store(cs.g) // store-release, as a worker's
}
