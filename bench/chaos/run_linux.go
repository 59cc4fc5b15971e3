package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// event is one signal chaos sent.
type event struct {
	at     time.Duration // since pishm started
	sig    string        // KILL, STOP, CONT
	worker string        // the N of "pishm worker N"
	pid    int
	note   string
}

func (e event) String() string {
	s := fmt.Sprintf("%s worker %s (pid %d) at %v", e.sig, e.worker, e.pid, e.at.Round(time.Millisecond/10))
	if e.note != "" {
		s += " (" + e.note + ")"
	}
	return s
}

// runResult is one executed plan.
type runResult struct {
	plan
	outcome
	rc       int
	wall     time.Duration
	stdout   string
	stderr   string
	events   []event
	leaks    []string      // workers left behind, segments left in /dev/shm
	foreign  int           // new pishm-* entries in /dev/shm that another process made
	stopExit time.Duration // stop: from the SIGSTOP to pishm's exit; 0 if none
	hangInfo []string      // the processes' states when the run was declared hung

	firstWorker time.Duration // when chaos first saw a worker; -1 never
	maxGap      time.Duration // the longest time between two looks at the workers
}

// signalled says whether chaos sent any signal before pishm exited.
func (r *runResult) signalled() bool { return len(r.events) > 0 }

// execute runs pishm as p says, signals its workers, waits at most limit,
// and checks what it left behind. seed and p.Index choose the targets.
func execute(ctx context.Context, pishm string, p plan, seed uint64, limit time.Duration) runResult {
	rng := rand.New(rand.NewPCG(seed^0x5ca1ab1e, uint64(p.Index)))
	res := runResult{plan: p}
	before := shmEntries()

	// Unlinked files rather than pipes: Wait returns when pishm exits even
	// if a worker it left behind holds them open.
	stdout, err1 := unlinkedFile()
	stderr, err2 := unlinkedFile()
	if err := errors.Join(err1, err2); err != nil {
		res.rc = -1
		res.outcome = outcome{class: wrong, detail: err.Error()}
		return res
	}
	defer stdout.Close()
	defer stderr.Close()
	cmd := exec.Command(pishm, p.args()...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = childEnv()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		res.rc = -1
		res.outcome = outcome{class: wrong, detail: "cannot start pishm: " + err.Error()}
		return res
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	pid := cmd.Process.Pid

	seen := map[int]proc{} // every worker process seen, by pid
	var firstWorker time.Duration = -1
	workers := func() []proc {
		var ws []proc
		for _, c := range children(pid) {
			q, ok := readProc(c)
			// An exec'd worker is "pishm worker N"; a forked one is a copy
			// of pishm, and pishm has no other children in these modes.
			if !ok || q.ppid != pid || !p.Fork() && (len(q.argv) < 3 || q.argv[1] != "worker") {
				continue
			}
			if _, ok := seen[c]; !ok {
				seen[c] = q
			}
			if q.state != 'Z' && q.state != 'X' {
				ws = append(ws, q)
			}
		}
		slices.SortFunc(ws, func(a, b proc) int { return a.pid - b.pid })
		return ws
	}
	send := func(el time.Duration, q proc, sig syscall.Signal, name, note string) {
		if err := sendSignal(q, sig); err == nil {
			res.events = append(res.events, event{at: el, sig: name, worker: workerLabel(q), pid: q.pid, note: note})
		}
	}
	var stopped proc
	var stopAt, firstAt time.Duration
	step := 0 // actions taken
	var lastLook time.Duration
	finished := func() bool {
		switch p.Kind {
		case none:
			return true
		case killSeq, stopCont:
			return step >= 2
		}
		return step >= 1
	}

	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	interrupted := false
wait:
	for n := 0; ; n++ {
		select {
		case <-done:
			break wait
		case <-ctx.Done():
			interrupted = true
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			break wait
		case <-tick.C:
		}
		el := time.Since(start)
		if !finished() {
			res.maxGap = max(res.maxGap, el-lastLook)
			lastLook = el
		}
		if el > limit {
			res.hangInfo = append(res.hangInfo, describeProc(pid))
			for _, c := range children(pid) {
				res.hangInfo = append(res.hangInfo, describeProc(c))
			}
			cmd.Process.Signal(syscall.SIGQUIT) // a Go program prints its goroutines and exits
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				cmd.Process.Kill()
				<-done
			}
			res.outcome = outcome{class: hung, detail: fmt.Sprintf("no exit within %v", limit)}
			break wait
		}
		if finished() && n%10 != 0 {
			continue // only look for retries now and then
		}
		ws := workers()
		if len(ws) > 0 && firstWorker < 0 {
			firstWorker = el
		}
		if finished() || len(ws) == 0 {
			continue
		}
		pick := func() proc { return ws[rng.IntN(len(ws))] }
		switch {
		case p.Kind == early && step == 0 && el >= firstWorker+p.Delay:
			send(el, ws[0], syscall.SIGKILL, "KILL", fmt.Sprintf("%v after the first worker appeared", (el-firstWorker).Round(time.Millisecond/10)))
			step++
		case p.Kind == early:
		case step == 0 && el < p.Delay:
		case step == 0 && p.Kind == kill2:
			rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
			for _, q := range ws[:min(2, len(ws))] {
				send(el, q, syscall.SIGKILL, "KILL", "")
			}
			step++
		case step == 0 && p.Kind == holder:
			var run, sleep []proc
			for _, q := range ws {
				if running(q.pid) {
					run = append(run, q)
				} else if q.state == 'S' {
					sleep = append(sleep, q)
				}
			}
			switch {
			case len(run) > 0 && len(sleep) > 0:
				send(el, run[rng.IntN(len(run))], syscall.SIGKILL, "KILL", fmt.Sprintf("running while %d slept: likely the holder", len(sleep)))
				step++
			case el > p.Delay+30*time.Millisecond:
				send(el, pick(), syscall.SIGKILL, "KILL", "no worker seen asleep on the lock")
				step++
			}
		case step == 0 && (p.Kind == stop || p.Kind == stopCont):
			stopped = pick()
			send(el, stopped, syscall.SIGSTOP, "STOP", "")
			stopAt = el
			step++
		case step == 0:
			send(el, pick(), syscall.SIGKILL, "KILL", "")
			firstAt = el
			step++
		case p.Kind == killSeq && el >= firstAt+p.Delay2:
			send(el, pick(), syscall.SIGKILL, "KILL", "")
			step++
		case p.Kind == stopCont && el >= stopAt+p.Delay2:
			send(el, stopped, syscall.SIGCONT, "CONT", "")
			step++
		}
	}
	res.wall = time.Since(start)
	res.firstWorker = firstWorker
	res.stdout, res.stderr = readAll(stdout), readAll(stderr)
	res.rc = cmd.ProcessState.ExitCode()
	if interrupted {
		for _, c := range children(os.Getpid()) {
			reap(c, true)
		}
		res.detail = "interrupted"
		return res
	}
	if res.class != hung {
		res.outcome = classify(p.N, res.rc, res.stdout, res.stderr)
	}
	if p.Kind == stop && stopAt > 0 && len(res.events) > 0 {
		res.stopExit = res.wall - stopAt
	}

	// Workers left behind: pishm must reap every one before it exits. As
	// a subreaper we inherit any it orphaned, alive or a zombie.
	for _, c := range children(os.Getpid()) {
		q, _ := readProc(c)
		res.leaks = append(res.leaks, fmt.Sprintf("process %d (%s, state %c) outlived pishm", c, strings.Join(q.argv, " "), q.state))
		reap(c, true)
	}
	for _, q := range seen {
		if r, ok := readProc(q.pid); ok && r.start == q.start {
			res.leaks = append(res.leaks, fmt.Sprintf("worker %s (pid %d, state %c) outlived pishm", workerLabel(q), q.pid, r.state))
			syscall.Kill(q.pid, syscall.SIGKILL)
			syscall.Kill(q.pid, syscall.SIGCONT)
		}
	}
	// Segments left behind: a name of this run carries pishm's pid.
	mine := "pishm-" + strconv.Itoa(pid) + "-"
	for name := range shmEntries() {
		switch {
		case before[name]:
		case strings.HasPrefix(name, mine):
			res.leaks = append(res.leaks, "segment "+shmDir+"/"+name+" left behind")
			os.Remove(shmDir + "/" + name)
		default:
			res.foreign++
		}
	}
	return res
}

// unlinkedFile is a temporary file that is already removed.
func unlinkedFile() (*os.File, error) {
	f, err := os.CreateTemp("", "chaos-out-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

// readAll is what was written to f, from its start.
func readAll(f *os.File) string {
	b, _ := os.ReadFile("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	return string(b)
}

// childEnv is our environment without what would make pishm a worker or
// change its kernel.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "PISHM_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// workerLabel is the N of "pishm worker N", or "?" for a forked worker,
// whose argv is its parent's.
func workerLabel(q proc) string {
	if len(q.argv) >= 3 && q.argv[1] == "worker" {
		return q.argv[2]
	}
	return "?"
}
