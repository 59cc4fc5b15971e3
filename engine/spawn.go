package engine

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pishm/pishm/internal/proc"
)

// spawner starts worker processes and reaps them.
//
// Every process is started by one goroutine locked to its OS thread for
// the spawner's whole life: the parent-death signal (Pdeathsig) fires when
// the thread that started a child exits, not the process, so a thread that
// Go could retire would kill the workers with it.
//
// Exits are reaped on SIGCHLD with wait4(pid, WNOHANG) for our own pids
// only, so an embedding program's other children are never touched, and
// no thread is parked per worker.
type spawner struct {
	exe   string   // the binary workers run
	argv0 string   // what ps shows before "worker N"
	env   []string // the environment every worker gets, before its own entries

	reqs  chan spawnReq
	quit  chan struct{}
	sigs  chan os.Signal
	ready chan struct{} // signalled when exits has grown
	wake  func()        // called after an exit is queued (wakes the caller's futex sleep)

	tid atomic.Int64 // the forking thread's id

	mu    sync.Mutex
	live  map[int]*process // by pid, not yet reaped
	exits []exit           // reaped, not yet taken
	done  sync.WaitGroup
}

// process is one worker process.
type process struct {
	exe     string // the binary it runs
	gen     uint32 // the crew's last call when it was started
	pid     int
	worker  int
	attempt int
	stderr  *os.File // a memfd the worker writes its stderr to
}

type spawnReq struct {
	exe   string
	argv  []string
	env   []string
	files []uintptr
	// forks, for Config.Spawn fork: run these in order instead of
	// forkExec, in one request, stopping at the first error.
	forks []func() (int, error)
	reply chan spawnReply
}

type spawnReply struct {
	pid  int
	pids []int // of forks, those that forked
	err  error
}

// exit is one reaped process.
type exit struct {
	p      *process
	status syscall.WaitStatus
}

func newSpawner(exe string, env []string) *spawner {
	sp := &spawner{
		exe: exe, argv0: os.Args[0], env: env,
		reqs:  make(chan spawnReq),
		quit:  make(chan struct{}),
		sigs:  make(chan os.Signal, 1),
		ready: make(chan struct{}, 1),
		wake:  func() {},
		live:  map[int]*process{},
	}
	if sp.argv0 == "" {
		sp.argv0 = "pishm"
	}
	signal.Notify(sp.sigs, syscall.SIGCHLD)
	sp.done.Add(2)
	go sp.forker()
	go sp.reaper()
	return sp
}

func (sp *spawner) forker() {
	defer sp.done.Done()
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine, after the children
	sp.tid.Store(int64(gettid()))
	for {
		select {
		case r := <-sp.reqs:
			var rep spawnReply
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
			r.reply <- rep
		case <-sp.quit:
			return
		}
	}
}

// reaper collects exits: on every SIGCHLD it polls each live pid.
func (sp *spawner) reaper() {
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
				sp.exits = append(sp.exits, exit{p, ws})
			}
		}
		n := len(sp.exits)
		sp.mu.Unlock()
		if n > 0 {
			select {
			case sp.ready <- struct{}{}:
			default:
			}
			sp.wake()
		}
	}
}

// takeExits returns the exits reaped since the last call.
func (sp *spawner) takeExits() []exit {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	e := sp.exits
	sp.exits = nil
	return e
}

// start runs attempt a of worker i with the extra environment entries and
// files (fd 3, 4, ... in the child, segment last).
func (sp *spawner) start(i, attempt int, env []string, files []*os.File) (*process, error) {
	null, err := devNull()
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
	e = append(e, envWorker+"="+strconv.Itoa(i), envAttempt+"="+strconv.Itoa(attempt))
	exe := sp.exe
	// The worker's name in ps and top: the program's, then "worker 3"
	// ("pishm worker 3").
	r := sp.fork(spawnReq{exe: exe, argv: []string{sp.argv0, "worker", strconv.Itoa(i)}, env: e, files: fds})
	if r.err != nil {
		stderr.Close()
		return nil, startError(i, r.err)
	}
	p := &process{exe: exe, pid: r.pid, worker: i, attempt: attempt, stderr: stderr}
	sp.track(p)
	return p, nil
}

// fork runs req on the forking thread and waits for it. The fork is a
// vfork (syscall.ForkExec's, and os/exec's): the thread waits until the
// child has exec'd, so a child stopped (SIGSTOP) in that instant would hold
// it, and this call, forever. So while it waits it looks at the thread's
// children, and kills one that has sat stopped for stoppedGrace: the fork
// then returns, and the child's death is a death like any other.
func (sp *spawner) fork(req spawnReq) spawnReply {
	req.reply = make(chan spawnReply, 1)
	sp.reqs <- req
	t := time.NewTicker(tick)
	defer t.Stop()
	stopped := map[int]time.Time{}
	for {
		select {
		case r := <-req.reply:
			return r
		case now := <-t.C:
			for _, pid := range proc.ThreadChildren(int(sp.tid.Load())) {
				if !proc.Stopped(pid) {
					delete(stopped, pid)
				} else if since, ok := stopped[pid]; !ok {
					stopped[pid] = now
				} else if now.Sub(since) >= stoppedGrace {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
}

// track adds a started process to the reaped ones. A SIGCHLD for an exit
// before the pid was in live was handled without it: poll once more.
func (sp *spawner) track(p *process) {
	sp.mu.Lock()
	sp.live[p.pid] = p
	sp.mu.Unlock()
	select {
	case sp.sigs <- syscall.SIGCHLD:
	default:
	}
}

// alive reports whether pid is one of ours not yet reaped.
func (sp *spawner) alive(pid int) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	_, ok := sp.live[pid]
	return ok
}

// kill sends SIGKILL to a live process.
func (sp *spawner) kill(p *process) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if _, ok := sp.live[p.pid]; ok {
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// stop kills every live process, reaps them all, and ends the spawner's
// goroutines. The exits channel is drained.
func (sp *spawner) stop() {
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
		p.stderr.Close()
	}
	sp.mu.Unlock()
	close(sp.quit)
	signal.Stop(sp.sigs)
	sp.done.Wait()
	for _, e := range sp.takeExits() {
		e.p.stderr.Close()
	}
}

// waitExit waits up to d for the reaper to queue an exit.
func (sp *spawner) waitExit(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-sp.ready:
	case <-t.C:
	}
}

// describe says how a reaped process ended: nil for exit status 0, else a
// *WorkerError with the tail of what it wrote to stderr, and for a Func
// that panicked, the panic's range, value and stack (see panicReport).
func (e exit) describe() *WorkerError {
	ws := e.status
	if ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	we := &WorkerError{Worker: e.p.worker, Attempt: e.p.attempt, Pid: e.p.pid}
	switch {
	case ws.Signaled():
		we.How = "signal: " + ws.Signal().String()
	default:
		we.How = "exit status " + strconv.Itoa(ws.ExitStatus())
	}
	we.Stderr, we.Cause = readStderr(e.p.stderr)
	if ws.Exited() && ws.ExitStatus() == exitPanic {
		if r, ok := parsePanicReport(head(e.p.stderr, 64<<10)); ok {
			we.How, we.Lo, we.Hi, we.Cause, we.Stack = howPanicked, r.lo, r.hi, r.cause, r.stack
		}
	}
	return we
}

// readStderr returns the tail of what a worker printed, and one line of
// it that says why it ended: a Go runtime's "panic:" or "fatal error:"
// line, else ChildMain's error line (its prefix cut), else the last line.
func readStderr(f *os.File) (text, cause string) {
	text = tail(f, 2048)
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "panic: ") || strings.HasPrefix(l, "fatal error: ") {
			return text, oneLine(l)
		}
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		if l == "" {
			continue
		}
		if _, rest, ok := strings.Cut(l, childPrefix); ok {
			if _, msg, ok := strings.Cut(rest, ": "); ok {
				l = msg
			}
		}
		return text, oneLine(l)
	}
	return text, ""
}

// tail reads the last max bytes of f.
func tail(f *os.File, limit int64) string {
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-limit)
	b := make([]byte, fi.Size()-off)
	n, _ := f.ReadAt(b, off)
	return strings.TrimSpace(string(b[:n]))
}

// head reads the first limit bytes of f.
func head(f *os.File, limit int) string {
	b := make([]byte, limit)
	n, _ := f.ReadAt(b, 0)
	return string(b[:n])
}

// devNullFile is /dev/null, opened once it opens: a failure (out of
// descriptors) is returned to that call and tried again by the next.
var devNullFile struct {
	sync.Mutex
	f *os.File
}

func devNull() (*os.File, error) {
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
