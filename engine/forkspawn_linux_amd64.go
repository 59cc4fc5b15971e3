//go:build gc && !purego && !noasm

package engine

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/kernel"
)

const forkSupported = true

var forkKernels = kernel.ForkKernels

// forkSpawn is a one-shot crew's forked workers: their shares, and the
// areas where they leave their raw lanes, in an anonymous MAP_SHARED
// mapping that fork passes on to every child (nothing to name, nothing
// left behind once it is unmapped).
type forkSpawn struct {
	mem    []byte
	out    []kernel.ForkOut
	share  []kernel.ForkShare
	lo, hi []uint64
	ppid   uint64
}

// forkHook, when set (by this package's tests only), is called on the
// spawner's thread right after each fork with the new worker's pid, so
// that a test can kill it where it wants.
var forkHook func(c *crew, i, attempt, pid int)

func newForkSpawn(cfg Config, j job) (*forkSpawn, error) {
	if j.name != piJob {
		return nil, fmt.Errorf("engine: Config.Spawn fork runs only the pi series, not %q", j.name)
	}
	f := &forkSpawn{ppid: uint64(os.Getpid())}
	for i := range cfg.Workers {
		lo, hi := spanOf(cfg, i)
		s, err := kernel.NewForkShare(cfg.Kernel, lo, hi)
		if err != nil {
			return nil, fmt.Errorf("engine: Config.Spawn fork: %w", err)
		}
		f.share, f.lo, f.hi = append(f.share, s), append(f.lo, lo), append(f.hi, hi)
	}
	size := cfg.Workers * int(unsafe.Sizeof(kernel.ForkOut{}))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_ANON)
	if err != nil {
		return nil, os.NewSyscallError("mmap", err)
	}
	f.mem = mem
	f.out = unsafe.Slice((*kernel.ForkOut)(unsafe.Pointer(&mem[0])), cfg.Workers)
	return f, nil
}

// close unmaps the lanes; every forked worker has been reaped by then.
func (f *forkSpawn) close() error {
	if err := syscall.Munmap(f.mem); err != nil {
		return os.NewSyscallError("munmap", err)
	}
	return nil
}

// startFork forks attempt a of worker i. No process of worker i is alive
// (the last one, if any, has been reaped), so its lanes are ours to clear.
func (c *crew) startFork(i, attempt int) error {
	f := c.opt.fork
	out := &f.out[i]
	out.Sum, out.Comp = [8]float64{}, [8]float64{}
	out.Done.Store(0)
	ctl, s := c.v.ctl, c.v.slot(i)
	task := &kernel.ForkTask{
		Ppid: f.ppid, Pid: &s.pid, State: &s.state, Arrived: &ctl.arrived, Gen: &ctl.gen,
		Progress: &s.progress, Elapsed: &s.elapsed, Finished: &ctl.finished, Out: out,
		StateArrived: slotArrived, StateRunning: slotRunning, Quit: genQuit,
		Share: f.share[i],
	}
	p, err := c.sp.startFork(i, attempt, func() (int, error) {
		pid, err := kernel.Fork(task)
		if err == nil && forkHook != nil {
			forkHook(c, i, attempt, pid)
		}
		return pid, err
	})
	if err != nil {
		return err
	}
	c.setProc(i, p)
	return nil
}

// settle turns the raw lanes of worker i, just reaped, into its journal
// entry for call cs, if it finished the call: the top terms and the fold
// the kernel's Go wrapper adds, then one publish of the whole range, as an
// exec'd worker journals it, then slotDone and doneGen. The worker is dead,
// so nothing else writes its slot or lanes.
func (f *forkSpawn) settle(c *crew, i int, cs *callState) {
	s, out := c.v.slot(i), &f.out[i]
	if out.Done.Load() != cs.g || s.doneGen.Load() == cs.g {
		return
	}
	v := f.share[i].Result(out)
	pb := newPublisher(Slots, Sum, c.v.acc, s, nil)
	fl := newFold(Sum)
	fl.add(v)
	pb.publish(&fl, f.hi[i]-f.lo[i], 0)
	s.state.Store(slotDone)
	s.doneGen.Store(cs.g) // store-release, as a worker's
}
