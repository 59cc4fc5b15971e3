package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pishm/pishm/sem"
	"github.com/pishm/pishm/shmem"
)

// selfExe is the binary children run: this one.
const selfExe = "/proc/self/exe"

// group is the set of children of one run.
type group struct {
	cmds   []*exec.Cmd
	stderr []*tailBuffer
	exits  chan exit     // one per child, as each is reaped
	reaped []bool        // by worker index
	left   int           // children not yet reaped
	done   chan struct{} // closed to let the spawning thread go
}

type exit struct {
	worker int
	err    error
}

// startChildren starts one child per worker. The children are started from
// one goroutine locked to its OS thread that lives until the run ends,
// because the parent-death signal fires when the thread that forked a child
// exits, not the process (PITFALLS.md #8).
func startChildren(ctx context.Context, seg *shmem.Segment, workers int) (*group, error) {
	g := &group{
		cmds:   make([]*exec.Cmd, workers),
		stderr: make([]*tailBuffer, workers),
		exits:  make(chan exit, workers),
		reaped: make([]bool, workers),
		done:   make(chan struct{}),
	}
	env := append(os.Environ(), envSegment+"="+string(seg.Backing())+":"+seg.Name())
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine, after the children
		for i := range workers {
			cmd := exec.Command(selfExe)
			cmd.Args[0] = os.Args[0]
			cmd.Env = append(env[:len(env):len(env)], envWorker+"="+strconv.Itoa(i))
			g.stderr[i] = &tailBuffer{max: 2048}
			cmd.Stderr = g.stderr[i]
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			if err := cmd.Start(); err != nil {
				started <- fmt.Errorf("start worker %d: %w", i, err)
				return
			}
			g.cmds[i] = cmd
			g.left++
			go func() { g.exits <- exit{i, cmd.Wait()} }()
		}
		started <- nil
		<-g.done
	}()
	if err := <-started; err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// barrier waits until every child has attached and arrived, failing early
// if one dies first or ctx ends.
func (g *group) barrier(ctx context.Context, arrived *atomic.Uint32) error {
	for {
		n := arrived.Load()
		if int(n) >= len(g.cmds) {
			return nil
		}
		select {
		case e := <-g.exits:
			if err := g.reap(e); err != nil {
				return err
			}
			return fmt.Errorf("worker %d exited before the start", e.worker)
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if err := sem.WaitWhile(arrived, n, 10*time.Millisecond); err != nil {
			return err
		}
	}
}

// release opens the start gate.
func (g *group) release(gate *atomic.Uint32) error {
	gate.Store(1) // store-release: the header and slots written before are visible to the children
	return sem.WakeAll(gate)
}

// wait reaps every child, failing on the first that did not exit 0.
func (g *group) wait(ctx context.Context) error {
	for g.left > 0 {
		select {
		case e := <-g.exits:
			if err := g.reap(e); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// reap records one child's exit and turns a failure into a *WorkerError.
func (g *group) reap(e exit) error {
	g.reaped[e.worker] = true
	g.left--
	if e.err == nil {
		return nil
	}
	we := &WorkerError{Worker: e.worker, Pid: g.cmds[e.worker].Process.Pid, How: e.err.Error()}
	var ee *exec.ExitError
	if errors.As(e.err, &ee) {
		we.How = ee.ProcessState.String()
	}
	we.Stderr = string(bytes.TrimSpace(g.stderr[e.worker].Bytes()))
	return we
}

// stop kills every child not yet reaped and reaps it, then lets the
// spawning thread go. It is safe to call more than once.
func (g *group) stop() {
	for i, cmd := range g.cmds {
		if cmd != nil && !g.reaped[i] {
			cmd.Process.Kill()
		}
	}
	for g.left > 0 {
		g.reap(<-g.exits)
	}
	select {
	case <-g.done:
	default:
		close(g.done)
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
