package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progressDelay is how long a run goes before bars appear: short runs
// print nothing but their result.
const progressDelay = time.Second

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressView draws one bar per worker and a total with terms/s, from the
// snapshots engine.Config.Progress delivers (read from the segment's slots
// without locks).
type progressView struct {
	out     io.Writer
	p       *mpb.Progress
	workers []*mpb.Bar
	total   *mpb.Bar
	rate    float64 // terms/s, for the total's decorator
}

func newProgressView(out io.Writer) *progressView { return &progressView{out: out} }

// update is the engine.Config.Progress callback.
func (v *progressView) update(s engine.Progress) {
	if v.p == nil {
		if s.Final || s.Elapsed < progressDelay {
			return
		}
		v.start(s)
	}
	if s.Elapsed > 0 {
		v.rate = float64(s.Done) / s.Elapsed.Seconds()
	}
	for i, b := range v.workers {
		b.SetCurrent(int64(s.Worker[i]))
	}
	v.total.SetCurrent(int64(s.Done))
	if s.Final {
		v.close()
	}
}

// barWidth is the width of a bar itself; defaultWidth is the width of a
// line (name, bar, figures) where the terminal's is not known.
const (
	barWidth     = 48
	defaultWidth = 80
)

// barOutput is what mpb draws on. mpb sizes its frame from the terminal
// and draws no line at all on one that reports 0×0 columns and rows (a
// serial console, a pty nobody sized), so such a terminal is handed over
// hidden behind a plain io.Writer, which mpb frames at defaultWidth.
func barOutput(out io.Writer) io.Writer {
	f, ok := out.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return out
	}
	if w, h, err := term.GetSize(int(f.Fd())); err != nil || w <= 0 || h <= 0 {
		return struct{ io.Writer }{out}
	}
	return out
}

func (v *progressView) start(s engine.Progress) {
	v.p = mpb.New(mpb.WithOutput(barOutput(v.out)), mpb.WithWidth(defaultWidth), mpb.WithRefreshRate(ProgressRefresh),
		mpb.WithAutoRefresh()) // the caller checked for a terminal; this also lets tests render to a buffer
	for i := range s.Worker {
		total := int64(s.N) // dynamic: any worker may end up doing any share
		if s.Share != nil && s.Share[i] > 0 {
			total = int64(s.Share[i])
		}
		v.workers = append(v.workers, v.p.AddBar(total, mpb.BarWidth(barWidth),
			mpb.PrependDecorators(decor.Name(fmt.Sprintf("worker %-3d", i))),
			mpb.AppendDecorators(decor.Percentage(decor.WC{W: 6}))))
	}
	v.total = v.p.AddBar(int64(s.N), mpb.BarWidth(barWidth),
		mpb.PrependDecorators(decor.Name("total     ")),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 6}),
			decor.Any(func(decor.Statistics) string { return fmt.Sprintf("  %.3g terms/s", v.rate) })))
}

// close stops every bar where it stands (a dynamic worker's bar, out of
// n, never fills) and waits for the last render; safe to call when nothing
// was drawn.
func (v *progressView) close() {
	if v.p == nil {
		return
	}
	for _, b := range append(v.workers, v.total) {
		b.Abort(false) // keeps the bar on screen; a no-op for a full one
	}
	v.p.Wait()
	v.p = nil
}

// ProgressRefresh is how often the bars are redrawn.
const ProgressRefresh = 150 * time.Millisecond
