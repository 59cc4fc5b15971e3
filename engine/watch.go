package engine

import (
	"fmt"
	"time"

	"github.com/pishm/pishm/internal/proc"
)

// watch notices workers that are stopped or make no progress, and kills
// them, so that their share is redone instead of the call hanging.
type watch struct {
	c      *crew
	last   []uint64    // progress at the last move
	moved  []time.Time // when progress last moved
	killed map[int]string
}

// watch returns the crew's watch, reset: it is reused call after call.
func (c *crew) watch() *watch {
	if c.w == nil {
		c.w = newWatch(c)
		return c.w
	}
	now := time.Now()
	for i := range c.w.moved {
		c.w.moved[i], c.w.last[i] = now, 0
	}
	clear(c.w.killed)
	return c.w
}

func newWatch(c *crew) *watch {
	now := time.Now()
	w := &watch{c: c, last: make([]uint64, c.opt.workers), moved: make([]time.Time, c.opt.workers), killed: map[int]string{}}
	for i := range w.moved {
		w.moved[i] = now
	}
	return w
}

func (w *watch) forget(i int) { w.moved[i] = time.Now(); w.last[i] = 0 }

// check looks at every worker still on call g (or not yet arrived, g 0).
func (w *watch) check(g uint32) {
	now := time.Now()
	for i, p := range w.c.proc {
		if p == nil {
			continue
		}
		s := w.c.v.Slot(i)
		if g != 0 && s.DoneGen.Load() == g {
			continue
		}
		if pr := s.Progress.Load(); pr != w.last[i] {
			w.last[i], w.moved[i] = pr, now
			continue
		}
		idle := now.Sub(w.moved[i])
		if idle < stoppedGrace {
			continue
		}
		why := ""
		switch {
		case proc.Stopped(p.Pid):
			why = fmt.Sprintf("stopped (state T) for over %v", stoppedGrace)
		case w.c.opt.stall > 0 && idle > w.c.opt.stall:
			why = fmt.Sprintf("made no progress for %v", idle.Round(time.Second))
		}
		if why != "" && w.killed[p.Pid] == "" {
			w.killed[p.Pid] = why
			w.c.sp.Kill(p)
		}
	}
}
