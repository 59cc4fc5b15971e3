package cli

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pishm/pishm/engine"
	"golang.org/x/term"
)

// progressDelay is how long a run goes before bars appear: short runs
// print nothing but their result.
const progressDelay = time.Second

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f := fileOf(w)
	return f != nil && term.IsTerminal(int(f.Fd()))
}

// ProgressView draws one bar per worker and a total with terms/s, from the
// snapshots lab.Config.Progress delivers (read from the segment's slots
// without locks), redrawing them in place at each snapshot (the engine
// sends one every lab.ProgressEvery). It draws with two ANSI sequences
// (cursor up, erase line) and starts no goroutine: a bar library costs
// the run about 0.7 ms of package initialisation (its regexps and Unicode
// width tables) whether or not a bar is ever drawn.
type ProgressView struct {
	out     io.Writer
	started bool
	lines   int // lines on screen, to move back over at the next draw
	width   int // of a bar itself
	buf     strings.Builder
}

func NewProgressView(out io.Writer) *ProgressView { return &ProgressView{out: out} }

// Update is the lab.Config.Progress callback.
func (v *ProgressView) Update(s engine.Progress) {
	if !v.started {
		if s.Final || s.Elapsed < progressDelay {
			return
		}
		v.started, v.width = true, barFits(v.out)
	}
	var rate float64
	if s.Elapsed > 0 {
		rate = float64(s.Done) / s.Elapsed.Seconds()
	}
	b := &v.buf
	b.Reset()
	if v.lines > 0 {
		fmt.Fprintf(b, "\x1b[%dA", v.lines)
	}
	for i, done := range s.Worker {
		total := s.N // dynamic: any worker may end up doing any share
		if s.Share != nil && s.Share[i] > 0 {
			total = s.Share[i]
		}
		v.line(fmt.Sprintf("worker %-3d", i), done, total, "")
	}
	v.line("total     ", s.Done, s.N, fmt.Sprintf("  %.3g terms/s%s", rate, ETA(s.Done, s.N, s.Elapsed)))
	v.lines = len(s.Worker) + 1
	io.WriteString(v.out, b.String())
}

// line adds one bar: name [=====>    ] 42 %.
func (v *ProgressView) line(name string, done, total uint64, tail string) {
	frac := 1.0
	if total > 0 {
		frac = min(1, float64(done)/float64(total))
	}
	fill := int(frac * float64(v.width))
	head := ""
	if fill < v.width {
		head = ">"
	}
	fmt.Fprintf(&v.buf, "\r\x1b[K%s [%s%s%s] %3d %%%s\n", name, strings.Repeat("=", fill), head,
		strings.Repeat(" ", max(0, v.width-fill-len(head))), int(frac*100), tail)
}

// barWidth is the width of a bar itself; defaultWidth is the width of a
// line (name, bar, figures) where the terminal's is not known.
const (
	barWidth     = 48
	defaultWidth = 80
	// barFrame is what a line holds beside its bar: the name, brackets,
	// percentage and the total's rate.
	barFrame = 40
)

// barFits is the bar width for out: barWidth, shortened so that a line
// never wraps on a narrower terminal (a wrapped line would break the
// cursor-up redraw). A terminal that reports 0×0 (a serial console, a
// pty nobody sized) is taken to be defaultWidth wide.
func barFits(out io.Writer) int {
	cols := defaultWidth
	if f := fileOf(out); f != nil && term.IsTerminal(int(f.Fd())) {
		if w, h, err := term.GetSize(int(f.Fd())); err == nil && w > 0 && h > 0 {
			cols = w
		}
	}
	return max(10, min(barWidth, cols-barFrame))
}

// Close ends the view: the bars stay on screen where they stand (a
// dynamic worker's bar, out of n, never fills). Safe to call when nothing
// was drawn.
func (v *ProgressView) Close() { v.started, v.lines = false, 0 }

// progressLines is progress where no bars can be drawn (stderr a log or a
// pipe): one line every progressLineEvery, from the first on, so that a
// long run says how far it is and a short one says nothing.
type progressLines struct {
	out  io.Writer
	next time.Duration
}

// progressLineEvery is how often a run off a terminal reports.
const progressLineEvery = 5 * time.Second

func newProgressLines(out io.Writer) *progressLines {
	return &progressLines{out: out, next: progressLineEvery}
}

func (p *progressLines) update(s engine.Progress) {
	if s.Final || s.Elapsed < p.next {
		return
	}
	p.next = s.Elapsed + progressLineEvery
	var rate float64
	if s.Elapsed > 0 {
		rate = float64(s.Done) / s.Elapsed.Seconds()
	}
	fmt.Fprintf(p.out, "pishm: %.0f%% (%d of %d terms) after %v, %.3g terms/s%s\n",
		100*float64(s.Done)/float64(max(s.N, 1)), s.Done, s.N, s.Elapsed.Round(time.Second), rate, ETA(s.Done, s.N, s.Elapsed))
}

// ETA is ", about D left" for a run that has done done of total in
// elapsed, at the rate so far; "" before anything is done or after all
// is.
func ETA(done, total uint64, elapsed time.Duration) string {
	if done == 0 || done >= total || elapsed <= 0 {
		return ""
	}
	left := time.Duration(float64(elapsed) * float64(total-done) / float64(done))
	round := time.Second
	if left < 10*time.Second {
		round = 100 * time.Millisecond
	}
	return fmt.Sprintf(", about %v left", left.Round(round))
}

// fileOf is the file w writes to, if it is one (or a checkedWriter of one).
func fileOf(w io.Writer) *os.File {
	switch w := w.(type) {
	case *os.File:
		return w
	case *checkedWriter:
		return fileOf(w.w)
	}
	return nil
}

// checkedWriter keeps the first error of its writes, so that a command
// whose output could not be written (a full disk, a closed pipe) fails
// even where it did not look at what each write returned.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
