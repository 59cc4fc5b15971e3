// Package spawn starts the engine's worker processes and reaps them: one
// OS thread that forks them all (so that their parent-death signal stays
// armed), a SIGCHLD reaper that waits only for its own pids, and the
// guard that keeps a child stopped between fork and exec from holding
// that thread.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pishm/pishm/internal/proc"
)

// Spawner starts worker processes and reaps them.
//
// Every process is started by one goroutine locked to its OS thread for
// the spawner's whole life: the parent-death signal (Pdeathsig) fires when
// the thread that started a child exits, not the process, so a thread that
// Go could retire would kill the workers with it.
//
// Exits are reaped on SIGCHLD with wait4(pid, WNOHANG) for our own pids
// only, so an embedding program's other children are never touched, and
// no thread is parked per worker.
type Spawner struct {
	exe   atomic.Pointer[string] // the binary workers run (SetExe)
	argv0 string                 // what ps shows before "worker N"
	env   []string               // the environment every worker gets, before its own entries

	reqs  chan request
	quit  chan struct{}
	sigs  chan os.Signal
	ready chan struct{} // signalled when exits has grown
	// Wake, if set before the first Start, is called after an exit is
	// queued (it wakes a caller asleep on a futex).
	Wake func()

	tid atomic.Int64 // the forking thread's id

	mu    sync.Mutex
	live  map[int]*Process // by pid, not yet reaped
	exits []Exit           // reaped, not yet taken
	done  sync.WaitGroup
}

// Process is one worker process.
type Process struct {
	Exe     string // the binary it runs
	Gen     uint32 // the engine's last call when it was started
	Pid     int
	Worker  int
	Attempt int
	Stderr  *os.File // a memfd the worker writes its stderr to (nil for a forked one)
}

type request struct {
	exe   string
	argv  []string
	env   []string
	files []uintptr
	// forks, for Config.Spawn fork: run these in order instead of
	// forkExec, in one request, stopping at the first error.
	forks   []func() (int, error)
	replyTo chan reply
}

type reply struct {
	pid  int
	pids []int // of forks, those that forked
	err  error
}

// Exit is one reaped process.
type Exit struct {
	P      *Process
	Status syscall.WaitStatus
}

// New starts a Spawner of workers that run exe with env (and each its own
// entries, Start's). Stop ends it.
func New(exe string, env []string) *Spawner {
	sp := &Spawner{
		argv0: os.Args[0], env: env,
		reqs:  make(chan request),
		quit:  make(chan struct{}),
		sigs:  make(chan os.Signal, 1),
		ready: make(chan struct{}, 1),
		Wake:  func() {},
		live:  map[int]*Process{},
	}
	sp.exe.Store(&exe)
	if sp.argv0 == "" {
		sp.argv0 = "pishm"
	}
	signal.Notify(sp.sigs, syscall.SIGCHLD)
	sp.done.Add(2)
	go sp.forker()
	go sp.reaper()
	return sp
}

func (sp *Spawner) forker() {
	defer sp.done.Done()
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after the children
	sp.tid.Store(int64(gettid()))
	for {
		select {
		case r := <-sp.reqs:
			var rep reply
			if r.forks != nil {
				for _, f := range r.forks {
					pid, err := f()
					if err != nil {
						rep.err = err
						break
					}
					rep.pids = append(rep.pids, pid)
				}
			} else {
				rep.pid, rep.err = forkExec(r.exe, r.argv, r.env, r.files)
			}
			r.replyTo <- rep
		case <-sp.quit:
			return
		}
	}
}

// reaper collects exits: on every SIGCHLD it polls each live pid.
func (sp *Spawner) reaper() {
	defer sp.done.Done()
	for {
		select {
		case <-sp.sigs:
		case <-sp.quit:
			return
		}
		sp.mu.Lock()
		for pid, p := range sp.live {
			var ws syscall.WaitStatus
			got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			if got == pid || err == syscall.ECHILD {
				if err == syscall.ECHILD {
					ws = syscall.WaitStatus(0xff << 8) // reaped by someone else: call it exit 255
				}
				delete(sp.live, pid)
				sp.exits = append(sp.exits, Exit{p, ws})
			}
		}
		n := len(sp.exits)
		sp.mu.Unlock()
		if n > 0 {
			select {
			case sp.ready <- struct{}{}:
			default:
			}
			sp.Wake()
		}
	}
}

// TakeExits returns the exits reaped since the last call.
func (sp *Spawner) TakeExits() []Exit {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.exits
	sp.exits = nil
	return e
}

// Start runs attempt a of worker i with the extra environment entries and
// files (fd 3, 4, ... in the child, in order).
func (sp *Spawner) Start(i, attempt int, env []string, files []*os.File) (*Process, error) {
	null, err := DevNull()
	if err != nil {
		return nil, startError(i, err)
	}
	stderr, err := memfd("pishm-worker-stderr")
	if err != nil {
		return nil, startError(i, err)
	}
	fds := []uintptr{null.Fd(), null.Fd(), stderr.Fd()}
	for _, f := range files {
		fds = append(fds, f.Fd())
	}
	e := append(sp.env[:len(sp.env):len(sp.env)], env...)
	exe := *sp.exe.Load()
	// The worker's name in ps and top: the program's, then "worker 3"
	// ("pishm worker 3").
	r := sp.fork(request{exe: exe, argv: []string{sp.argv0, "worker", strconv.Itoa(i)}, env: e, files: fds})
	if r.err != nil {
		stderr.Close()
		return nil, startError(i, r.err)
	}
	p := &Process{Exe: exe, Pid: r.pid, Worker: i, Attempt: attempt, Stderr: stderr}
	sp.track(p)
	return p, nil
}

// SetExe makes the workers started from now on run exe.
func (sp *Spawner) SetExe(exe string) { sp.exe.Store(&exe) }

// StoppedGrace is how long a child may sit stopped (SIGSTOP, a tracer)
// before it is taken for dead and killed: here between fork and exec, and
// in the engine's watch during a call.
const StoppedGrace = 2 * time.Second

// pollEvery is how often a fork in progress looks for a stopped child.
const pollEvery = 50 * time.Millisecond

// fork runs req on the forking thread and waits for it. The fork is a
// vfork (syscall.ForkExec's, and os/exec's): the thread waits until the
// child has exec'd, so a child stopped (SIGSTOP) in that instant would hold
// it, and this call, forever. So while it waits it looks at the thread's
// children, and kills one that has sat stopped for stoppedGrace: the fork
// then returns, and the child's death is a death like any other.
func (sp *Spawner) fork(req request) reply {
	req.replyTo = make(chan reply, 1)
	sp.reqs <- req
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	stopped := map[int]time.Time{}
	for {
		select {
		case r := <-req.replyTo:
			return r
		case now := <-t.C:
			for _, pid := range proc.ThreadChildren(int(sp.tid.Load())) {
				if !proc.Stopped(pid) {
					delete(stopped, pid)
				} else if since, ok := stopped[pid]; !ok {
					stopped[pid] = now
				} else if now.Sub(since) >= StoppedGrace {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

// track adds a started process to the reaped ones. A SIGCHLD for an exit
// before the pid was in live was handled without it: poll once more.
func (sp *Spawner) track(p *Process) {
	sp.mu.Lock()
	sp.live[p.Pid] = p
	sp.mu.Unlock()
	select {
	case sp.sigs <- syscall.SIGCHLD:
	default:
	}
}

// Alive reports whether pid is one of ours not yet reaped.
func (sp *Spawner) Alive(pid int) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	_, ok := sp.live[pid]
	return ok
}

// Kill sends SIGKILL to a live process.
func (sp *Spawner) Kill(p *Process) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if _, ok := sp.live[p.Pid]; ok {
		syscall.Kill(p.Pid, syscall.SIGKILL)
	}
}

// Stop kills every live process, reaps them all, and ends the spawner's
// goroutines. The exits channel is drained.
func (sp *Spawner) Stop() {
	sp.mu.Lock()
	for pid := range sp.live {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	for pid, p := range sp.live {
		var ws syscall.WaitStatus
		for {
			_, err := syscall.Wait4(pid, &ws, 0, nil)
			if err != syscall.EINTR {
				break
			}
		}
		delete(sp.live, pid)
		p.Stderr.Close()
	}
	sp.mu.Unlock()
	close(sp.quit)
	signal.Stop(sp.sigs)
	sp.done.Wait()
	for _, e := range sp.TakeExits() {
		e.P.Stderr.Close()
	}
}

// WaitExit waits up to d for the reaper to queue an exit.
func (sp *Spawner) WaitExit(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sp.ready:
	case <-t.C:
	}
}

// devNullFile is /dev/null, opened once it opens: a failure (out of
// descriptors) is returned to that call and tried again by the next.
var devNullFile struct {
	sync.Mutex
	f *os.File
}

// DevNull is /dev/null, opened once for good by the first Start (or
// call) that needs it.
func DevNull() (*os.File, error) {
	devNullFile.Lock()
	defer devNullFile.Unlock()
	if devNullFile.f == nil {
		f, err := os.OpenFile(os.DevNull, os.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open /dev/null: %w", err)
		}
		devNullFile.f = f
	}
	return devNullFile.f, nil
}

// startError is why worker i could not start, naming the limit it ran
// into when that is what it was (out of descriptors).
func startError(i int, err error) error {
	var lim syscall.Rlimit
	if errors.Is(err, syscall.EMFILE) && syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		return fmt.Errorf("engine: start worker %d: %w (RLIMIT_NOFILE %d)", i, err, lim.Cur)
	}
	return fmt.Errorf("engine: start worker %d: %w", i, err)
}

// StartForks is Start for forked workers: attempt a of each worker in
// workers, forks[k] making workers[k], each running exe's code (this
// binary's). The forks run back to back in one request on the forking
// thread, whose exit is what the children's parent-death signal watches;
// track's SIGCHLD poll catches a child that exited before its pid was
// tracked. It returns the processes that forked, in order, and the error
// that stopped the rest.
func (sp *Spawner) StartForks(exe string, workers []int, attempt int, forks []func() (int, error)) ([]*Process, error) {
	r := sp.fork(request{forks: forks})
	ps := make([]*Process, len(r.pids))
	for k, pid := range r.pids {
		// A forked worker writes nothing, so it has no stderr file: a nil
		// *os.File reads as empty and closes as a no-op.
		ps[k] = &Process{Exe: exe, Pid: pid, Worker: workers[k], Attempt: attempt}
		sp.track(ps[k])
	}
	if r.err != nil {
		return ps, fmt.Errorf("engine: fork worker %d: %w", workers[len(ps)], r.err)
	}
	return ps, nil
}
