package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"time"
)

// chunkClass is the -chunk a run uses: 1, 1000 or none (the whole share).
type chunkClass int

const (
	chunk1 chunkClass = iota
	chunk1000
	chunkWhole
	numChunks
)

// flag is the -publish (static) or -chunk (dynamic) flag for c.
func (c chunkClass) flag(sched string) []string {
	name := "-publish"
	if sched == "dynamic" {
		name = "-chunk"
	}
	// The grid's pieces are the chunk's own size, so that the publishes
	// and claims happen as often as the class says.
	switch c {
	case chunk1:
		return []string{name, "1", "-grain", "1"}
	case chunk1000:
		return []string{name, "1000", "-grain", "1000"}
	}
	return nil
}

func (c chunkClass) String() string {
	return [...]string{"1", "1000", "whole"}[c]
}

// nRange is the range of n per chunk class, chosen so that a run takes
// about 50 to 300 ms on 2 cores (a publish per term is ~100x slower per
// term than the kernel alone).
var nRange = [numChunks][2]float64{
	chunk1:     {5e5, 3e6},
	chunk1000:  {1e8, 6e8},
	chunkWhole: {2e8, 1.5e9},
}

// kind is what a run does to its workers.
type kind int

const (
	none     kind = iota // nothing: the control
	kill                 // SIGKILL one worker after Delay
	early                // SIGKILL the first worker Delay after it appears (while it attaches)
	kill2                // SIGKILL two workers at once after Delay
	killSeq              // SIGKILL one worker after Delay, another (maybe the retry) Delay2 later
	holder               // mutex: SIGKILL a running worker while another sleeps on the lock
	stop                 // SIGSTOP one worker after Delay and leave it stopped
	stopCont             // SIGSTOP one worker after Delay, SIGCONT it Delay2 later
	numKinds
)

func (k kind) String() string {
	return [...]string{"none", "kill", "early", "kill2", "killseq", "holder", "stop", "stopcont"}[k]
}

// kindWeights is how often each kind is drawn, in percent; holder is
// drawn for mutex only and is kill elsewhere.
var kindWeights = [numKinds]int{none: 5, kill: 28, early: 10, kill2: 10, killSeq: 12, holder: 15, stop: 12, stopCont: 8}

// modes are pishm's -mode values, and "fork": slots with -spawn fork,
// which takes only the static schedule and one publish per worker.
var modes = []string{"slots", "cas", "mutex", "fork"}
var scheds = []string{"static", "dynamic"}

// plan is one run: pishm's flags and what happens to its workers.
type plan struct {
	Index   int
	Mode    string
	Sched   string
	Chunk   chunkClass
	N       uint64
	Workers int
	Kind    kind
	Delay   time.Duration // from pishm's start (early: from the worker's)
	Delay2  time.Duration // killseq: from the first kill; stopcont: how long stopped
}

// estimator gives a run's expected wall time; nil estimates 200 ms.
type estimator func(mode, sched string, c chunkClass, n uint64) time.Duration

// draw makes run i's plan from its own stream of seed, so that -only i
// replays it without the runs before it.
func draw(seed uint64, i int, ms, ss []string, est estimator) plan {
	r := rand.New(rand.NewPCG(seed, uint64(i)))
	p := plan{Index: i, Mode: ms[r.IntN(len(ms))], Sched: ss[r.IntN(len(ss))], Chunk: chunkClass(r.IntN(int(numChunks)))}
	if p.Fork() {
		p.Sched, p.Chunk = "static", chunkWhole
	}
	lo, hi := nRange[p.Chunk][0], nRange[p.Chunk][1]
	p.N = uint64(lo * math.Pow(hi/lo, r.Float64())) // log-uniform
	p.Workers = 2 + r.IntN(3)
	w := r.IntN(100)
	for k := kind(0); k < numKinds; k++ {
		if w < kindWeights[k] {
			p.Kind = k
			break
		}
		w -= kindWeights[k]
	}
	if p.Kind == holder && p.Mode != "mutex" {
		p.Kind = kill
	}
	t := 200 * time.Millisecond
	if est != nil {
		t = est(p.Mode, p.Sched, p.Chunk, p.N)
	}
	// Mostly inside the run; some before the first worker is up and some
	// after the last has finished, which must be harmless.
	p.Delay = time.Duration(r.Float64() * 0.9 * float64(t))
	switch p.Kind {
	case early:
		p.Delay = time.Duration(r.IntN(3000)) * time.Microsecond
	case killSeq:
		p.Delay2 = time.Millisecond + time.Duration(r.Float64()*0.5*float64(t))
	case stopCont:
		p.Delay2 = 200*time.Millisecond + time.Duration(r.IntN(2800))*time.Millisecond // sometimes past the 2 s grace
	}
	return p
}

// Fork reports whether p's workers are forked, not exec'd.
func (p plan) Fork() bool { return p.Mode == "fork" }

// args are pishm's arguments for p.
func (p plan) args() []string {
	a := []string{"-n", strconv.FormatUint(p.N, 10), "-mode", p.Mode, "-sched", p.Sched}
	if p.Fork() {
		a = []string{"-n", strconv.FormatUint(p.N, 10), "-mode", "slots", "-spawn", "fork", "-sched", p.Sched}
	}
	a = append(a, p.Chunk.flag(p.Sched)...)
	return append(a, "-workers", strconv.Itoa(p.Workers), "-json")
}

func (p plan) String() string {
	s := fmt.Sprintf("%s@%v", p.Kind, p.Delay.Round(time.Millisecond/10))
	switch p.Kind {
	case none:
		s = "none"
	case killSeq, stopCont:
		s += fmt.Sprintf("+%v", p.Delay2.Round(time.Millisecond/10))
	}
	return fmt.Sprintf("mode=%s sched=%s chunk=%s n=%d workers=%d plan=%s", p.Mode, p.Sched, p.Chunk, p.N, p.Workers, s)
}
