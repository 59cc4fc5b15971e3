package engine

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
)

// selfExe is the binary children run: this one.
const selfExe = "/proc/self/exe"

// group is the children of one run: at most one live process per worker,
// a fresh attempt replacing one that died.
type group struct {
	env     []string   // the environment every child gets
	files   []*os.File // inherited by every child, after its own files: files[0] is the segment
	backing string     // the segment's backing, for envSegment
	setup   func(worker int) (env []string, files []*os.File, err error)
	started func(worker int) // after a child starts, if set

	spawn chan spawnReq // served by the one thread that forks
	exits chan exit     // one per started process, as each is reaped
	procs []*proc       // the current attempt of each worker
	live  int           // processes started and not yet reaped
	quit  chan struct{} // closed to let the forking thread go
}

type proc struct {
	cmd     *exec.Cmd
	stderr  *tailBuffer
	attempt int
	reaped  bool
}

type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

type exit struct {
	worker, attempt int
	err             error
}

// newGroup starts the thread that forks children. It is locked to its OS
// thread and lives until stop, because the parent-death signal fires when
// the thread that forked a child exits, not the process (PITFALLS.md #8).
func newGroup(workers int, env []string, files []*os.File, backing string) *group {
	g := &group{
		env:     env,
		files:   files,
		backing: backing,
		spawn:   make(chan spawnReq),
		exits:   make(chan exit, workers),
		procs:   make([]*proc, workers),
		quit:    make(chan struct{}),
	}
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with this goroutine, after the children
		for {
			select {
			case r := <-g.spawn:
				r.reply <- r.cmd.Start()
			case <-g.quit:
				return
			}
		}
	}()
	return g
}

// start runs attempt a of worker i.
func (g *group) start(i, attempt int) error {
	var env []string
	var files []*os.File
	if g.setup != nil {
		var err error
		if env, files, err = g.setup(i); err != nil {
			return err
		}
	}
	segFD := fdOf(len(files))
	files = append(files, g.files...)
	cmd := exec.Command(selfExe)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(append(g.env[:len(g.env):len(g.env)], env...),
		envSegment+"="+g.backing+":"+strconv.Itoa(segFD),
		envWorker+"="+strconv.Itoa(i), envAttempt+"="+strconv.Itoa(attempt))
	cmd.ExtraFiles = files
	p := &proc{cmd: cmd, stderr: &tailBuffer{max: 2048}, attempt: attempt}
	cmd.Stderr = p.stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	reply := make(chan error)
	g.spawn <- spawnReq{cmd, reply}
	if err := <-reply; err != nil {
		return fmt.Errorf("start worker %d: %w", i, err)
	}
	g.procs[i] = p
	g.live++
	if g.started != nil {
		g.started(i)
	}
	go func() { g.exits <- exit{i, attempt, cmd.Wait()} }()
	return nil
}

// fdOf is the descriptor number the k-th inherited file has in the child.
func fdOf(k int) int { return 3 + k }

// reaped marks e's process reaped and describes how it ended: nil for exit
// status 0, else a *WorkerError.
func (g *group) reaped(e exit) error {
	p := g.procs[e.worker]
	p.reaped = true
	g.live--
	if e.err == nil {
		return nil
	}
	we := &WorkerError{Worker: e.worker, Attempt: e.attempt, Pid: p.cmd.Process.Pid, How: e.err.Error()}
	var ee *exec.ExitError
	if errors.As(e.err, &ee) {
		we.How = ee.ProcessState.String()
	}
	we.Stderr = string(bytes.TrimSpace(p.stderr.Bytes()))
	return we
}

// pid is worker i's current process id.
func (g *group) pid(i int) int { return g.procs[i].cmd.Process.Pid }

// stop kills every child not yet reaped, reaps it, and lets the forking
// thread go. It is safe to call more than once.
func (g *group) stop() {
	for _, p := range g.procs {
		if p != nil && !p.reaped {
			p.cmd.Process.Kill()
		}
	}
	for g.live > 0 {
		g.reaped(<-g.exits)
	}
	select {
	case <-g.quit:
	default:
		close(g.quit)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.buf...)
}
