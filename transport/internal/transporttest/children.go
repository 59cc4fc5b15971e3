package transporttest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/pishm/pishm/transport"
)

// Children are real child processes: the test binary re-executed.
type Children struct {
	cmds   []*exec.Cmd
	stderr []*bytes.Buffer
	errs   []error
	done   []chan struct{}
}

// Spawn starts n children the way the engine does: Child(i), start with
// the env and ExtraFiles, Started(i), and Exited(i) after a zero exit.
// mode(i) is child i's behaviour (ModeOK, ...). With col nil the children
// get no transport (ModeNone). The children are killed at cleanup.
func Spawn(tb testing.TB, col transport.Collector, n int, seed uint64, mode func(i int) string) *Children {
	tb.Helper()
	ch, err := startChildren(col, n, seed, mode)
	tb.Cleanup(ch.Kill)
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

func startChildren(col transport.Collector, n int, seed uint64, mode func(i int) string) (*Children, error) {
	ch := &Children{
		cmds:   make([]*exec.Cmd, n),
		stderr: make([]*bytes.Buffer, n),
		errs:   make([]error, n),
		done:   make([]chan struct{}, n),
	}
	for i := range n {
		var env []string
		var files []*os.File
		if col != nil {
			var err error
			if env, files, err = col.Child(i); err != nil {
				return ch, err
			}
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), env...)
		cmd.Env = append(cmd.Env,
			envTestChild+"="+mode(i),
			fmt.Sprintf("%s=%d", envTestSeed, seed),
			fmt.Sprintf("%s=%d", envTestWorkers, n))
		cmd.ExtraFiles = files
		ch.stderr[i] = new(bytes.Buffer)
		cmd.Stderr = ch.stderr[i]
		if err := cmd.Start(); err != nil {
			return ch, err
		}
		ch.cmds[i] = cmd
		ch.done[i] = make(chan struct{})
		if col == nil {
			go func() { defer close(ch.done[i]); ch.errs[i] = cmd.Wait() }()
			continue
		}
		col.Started(i)
		go func() {
			defer close(ch.done[i])
			ch.errs[i] = cmd.Wait()
			if ch.errs[i] == nil {
				col.Exited(i)
			}
		}()
	}
	return ch, nil
}

// Wait waits for every child and returns their exit errors, with stderr.
func (ch *Children) Wait() error {
	var errs []error
	for i, d := range ch.done {
		if d == nil {
			continue
		}
		<-d
		if ch.errs[i] != nil {
			errs = append(errs, fmt.Errorf("child %d: %v: %s", i, ch.errs[i], ch.stderr[i]))
		}
	}
	return errors.Join(errs...)
}

// Done is closed when child i has exited.
func (ch *Children) Done(i int) <-chan struct{} { return ch.done[i] }

// Kill kills every child and waits for it.
func (ch *Children) Kill() {
	for i, cmd := range ch.cmds {
		if cmd != nil {
			cmd.Process.Kill()
			<-ch.done[i]
		}
	}
}

// All gives every child mode m.
func All(m string) func(int) string { return func(int) string { return m } }
