// Package chart draws a pishm bench report with gonum.org/v1/plot: a panel
// per part of the matrix, the median of each configuration with min-max
// bars, one color per series across panels.
//
// It is kept out of the pishm binary: linking gonum/plot adds about 0.7 ms
// of package initialisation (font tables) and 8 MB to every process
// pishm starts, workers included, which is what the fixed-cost part of the
// bench measures. The pishm-chart command (Main) draws what `pishm bench
// -json` wrote, and `pishm bench -svg` runs it.
package chart

import (
	"fmt"
	"image/color"
	"io"
	"slices"
	"strings"

	"github.com/pishm/pishm/cmd/internal/report"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Chart size: two panels a row, each about 14 x 10 cm.
const (
	panelW    = 14 * vg.Centimeter
	panelH    = 10 * vg.Centimeter
	headerH   = 1.4 * vg.Centimeter
	chartCols = 2
)

// WriteSVG draws r's charts as one SVG image: a panel per part (the
// contention part a panel per worker count), medians with min-max bars.
func WriteSVG(w io.Writer, r report.Report) error {
	panels, err := charts(r)
	if err != nil {
		return err
	}
	width, height := size(panels)
	c := vgsvg.NewWith(vgsvg.UseWH(width, height))
	c.SetColor(color.White)
	c.Fill(rect(width, height))
	drawAll(draw.New(c), r.Header, panels)
	_, err = c.WriteTo(w)
	return err
}

// WritePNG draws the same charts as WriteSVG as a PNG image.
func WritePNG(w io.Writer, r report.Report) error {
	panels, err := charts(r)
	if err != nil {
		return err
	}
	width, height := size(panels)
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110), vgimg.UseBackgroundColor(color.White))
	drawAll(draw.New(c), r.Header, panels)
	_, err = vgimg.PngCanvas{Canvas: c}.WriteTo(w)
	return err
}

func rect(w, h vg.Length) vg.Path {
	var p vg.Path
	p.Move(vg.Point{})
	p.Line(vg.Point{X: w})
	p.Line(vg.Point{X: w, Y: h})
	p.Line(vg.Point{Y: h})
	p.Close()
	return p
}

func size(panels []*plot.Plot) (w, h vg.Length) {
	rows := (len(panels) + chartCols - 1) / chartCols
	return chartCols * panelW, vg.Length(rows)*panelH + headerH
}

// drawAll writes the header line and lays the panels out in a grid.
func drawAll(dc draw.Canvas, h report.Header, panels []*plot.Plot) {
	sty := text.Style{Color: color.Black, Font: font.From(plot.DefaultFont, 10), XAlign: draw.XCenter, YAlign: draw.YTop, Handler: plot.DefaultTextHandler}
	top := dc.Max.Y - vg.Points(6)
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: top}, fmt.Sprintf(
		"pishm bench: kernel %s, %s (%d cores), cache line %d B, slot stride %d B, %s; median of %d runs, bars min-max",
		h.Kernel, h.CPU, h.Cores, h.CacheLine, h.SlotStride, h.Go, h.Count))
	dc.FillText(sty, vg.Point{X: dc.Center().X, Y: top - vg.Points(13)},
		"work = slowest worker's summing time; wall = whole run with process start-up; lower is better")
	rows := (len(panels) + chartCols - 1) / chartCols
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, chartCols)
		for j := range chartCols {
			if k := i*chartCols + j; k < len(panels) {
				grid[i][j] = panels[k]
			}
		}
	}
	tiles := draw.Tiles{Rows: rows, Cols: chartCols, PadTop: headerH, PadX: vg.Centimeter, PadY: vg.Centimeter,
		PadLeft: vg.Points(6), PadRight: vg.Points(12), PadBottom: vg.Points(6)}
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
}

// charts builds one panel per part present in r.
func charts(r report.Report) ([]*plot.Plot, error) {
	colors := seriesColors(r.Rows)
	var panels []*plot.Plot
	for _, part := range report.Parts() {
		rows := rowsOf(r.Rows, part)
		if len(rows) == 0 {
			continue
		}
		switch part {
		case report.Contention:
			var workers []int
			for _, row := range rows {
				if !slices.Contains(workers, row.Workers) {
					workers = append(workers, row.Workers)
				}
			}
			for _, w := range workers {
				var sub []report.Row
				for _, row := range rows {
					if row.Workers == w {
						sub = append(sub, row)
					}
				}
				p, err := linePanel(sub, colors, func(r report.Row) float64 { return float64(r.Publish) }, true,
					fmt.Sprintf("contention: %d workers on %d cores, n=%s", w, r.Header.Cores, report.Count(sub[0].N)),
					"chunk (terms between publishes)", "work ns/term", contentionLabel)
				if err != nil {
					return nil, err
				}
				panels = append(panels, p)
			}
		case report.Fixed:
			p, err := dotPanel(rows, colors, func(r report.Row) (float64, report.Stats) {
				return r.WallS.Median * 1e3, scale(r.NsPerTerm, float64(r.N)/1e6) // ns/term * n = ns; /1e6 = ms
			}, fmt.Sprintf("fixed cost: a whole run at n=%s, %d workers", report.Count(rows[0].N), rows[0].Workers), "wall ms per run")
			if err != nil {
				return nil, err
			}
			panels = append(panels, p)
		case report.Throughput:
			p, err := dotPanel(rows, colors, func(r report.Row) (float64, report.Stats) { return r.NsPerTerm.Median, r.NsPerTerm },
				fmt.Sprintf("throughput: n=%s, %d workers", report.Count(rows[0].N), rows[0].Workers), "wall ns/term")
			if err != nil {
				return nil, err
			}
			panels = append(panels, p)
		case report.ScalingN:
			p, err := linePanel(rows, colors, func(r report.Row) float64 { return float64(r.N) }, true,
				fmt.Sprintf("scaling with n, %d workers", rows[0].Workers), "n (terms)", "wall ns/term", nil)
			if err != nil {
				return nil, err
			}
			panels = append(panels, p)
		case report.ScalingWorkers:
			p, err := linePanel(rows, colors, func(r report.Row) float64 { return float64(r.Workers) }, false,
				fmt.Sprintf("scaling with workers, n=%s, %d cores", report.Count(rows[0].N), r.Header.Cores), "workers", "wall ns/term", nil)
			if err != nil {
				return nil, err
			}
			panels = append(panels, p)
		}
	}
	if len(panels) == 0 {
		return nil, fmt.Errorf("report: nothing to chart: no rows")
	}
	return panels, nil
}

func scale(s report.Stats, f float64) report.Stats {
	return report.Stats{Median: s.Median * f, Min: s.Min * f, Q1: s.Q1 * f, Q3: s.Q3 * f, Max: s.Max * f}
}

func rowsOf(rows []report.Row, p report.Part) []report.Row {
	var out []report.Row
	for _, r := range rows {
		if r.Part == p {
			out = append(out, r)
		}
	}
	return out
}

// fixedColors are the series every reader looks for: shared memory in
// blues, the lock-free and locked adds apart, the baselines in grey and
// black.
var fixedColors = map[string]color.Color{
	"slots":         color.RGBA{0, 90, 200, 255},
	"slots pad=128": color.RGBA{0, 90, 200, 255},
	"slots pad=8":   color.RGBA{90, 170, 250, 255},
	"cas":           color.RGBA{0, 150, 60, 255},
	"mutex":         color.RGBA{230, 120, 0, 255},
	"racy":          color.RGBA{200, 30, 30, 255},
	"goroutines":    color.RGBA{120, 120, 120, 255},
	report.OpenMP:   color.RGBA{0, 0, 0, 255},
}

// seriesColors gives every series one color in all panels.
func seriesColors(rows []report.Row) map[string]color.Color {
	m := map[string]color.Color{}
	palette := plotutil.SoftColors
	n := 0
	for _, r := range rows {
		if _, ok := m[r.Series]; ok {
			continue
		}
		if c, ok := fixedColors[r.Series]; ok {
			m[r.Series] = c
			continue
		}
		m[r.Series] = palette[n%len(palette)]
		n++
	}
	return m
}

// contentionLabel adds the racy mode's worst loss to its legend entry.
func contentionLabel(series string, rows []report.Row) string {
	worst, racy := 0.0, false
	for _, r := range rows {
		if r.Publishes > 0 && r.OK() {
			racy = true
			if !r.LostNothing() {
				worst = max(worst, r.LostShare)
			}
		}
	}
	switch {
	case !racy:
		return series
	case worst == 0:
		return series + " (lost no update in these runs)"
	}
	return fmt.Sprintf("%s (loses up to %.2g%% of the sum)", series, 100*worst)
}

// linePanel draws a line per series: the median at x(row), min-max bars.
// With logX the x axis is logarithmic (and so is y); else x counts
// workers and y is linear from 0.
func linePanel(rows []report.Row, colors map[string]color.Color, x func(report.Row) float64, logX bool, title, xlabel, ylabel string,
	label func(string, []report.Row) string) (*plot.Plot, error) {
	p := newPlot(title, xlabel, ylabel)
	if logX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = logTicks{}
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logTicks{}
	} else {
		p.X.Tick.Marker = intTicks{}
		p.Y.Min = 0
	}
	var order []string
	bySeries := map[string][]report.Row{}
	for _, r := range rows {
		if _, ok := bySeries[r.Series]; !ok {
			order = append(order, r.Series)
		}
		bySeries[r.Series] = append(bySeries[r.Series], r)
	}
	for _, s := range order {
		var pts plotter.XYs
		var errs plotter.YErrors
		var failed []string
		for _, r := range bySeries[s] {
			if !r.OK() {
				failed = append(failed, r.Note)
				continue
			}
			pts = append(pts, plotter.XY{X: x(r), Y: r.NsPerTerm.Median})
			errs = append(errs, struct{ Low, High float64 }{r.NsPerTerm.Median - r.NsPerTerm.Min, r.NsPerTerm.Max - r.NsPerTerm.Median})
		}
		name := s
		if label != nil {
			name = label(s, bySeries[s])
		}
		if len(pts) == 0 {
			continue
		}
		if len(failed) > 0 {
			name += fmt.Sprintf(" (%d not run)", len(failed))
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, err
		}
		line.Color, points.Color = colors[s], colors[s]
		points.Shape = draw.CircleGlyph{}
		points.Radius = vg.Points(2)
		if strings.HasPrefix(s, "slots pad=8") || s == report.OpenMP {
			line.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		bars, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return nil, err
		}
		bars.Color = colors[s]
		p.Add(line, points, bars)
		p.Legend.Add(name, line, points)
	}
	return p, nil
}

// dotPanel draws one row per series: a dot at the median, bars min-max,
// on a log axis (the modes differ by orders of magnitude).
func dotPanel(rows []report.Row, colors map[string]color.Color, val func(report.Row) (float64, report.Stats), title, xlabel string) (*plot.Plot, error) {
	p := newPlot(title, xlabel, "")
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = logTicks{}
	p.Legend.Top = false
	var names []string
	for k := len(rows) - 1; k >= 0; k-- { // NominalY counts up: first row on top
		r := rows[k]
		name := r.Series
		if !r.OK() {
			name += " (not run)"
			names = append(names, name)
			continue
		}
		names = append(names, name)
		med, s := val(r)
		y := float64(len(names) - 1)
		pts := plotter.XYs{{X: med, Y: y}}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return nil, err
		}
		sc.Color = colors[r.Series]
		sc.Shape = draw.CircleGlyph{}
		sc.Radius = vg.Points(3)
		bars, err := plotter.NewXErrorBars(struct {
			plotter.XYs
			plotter.XErrors
		}{pts, plotter.XErrors{{Low: s.Median - s.Min, High: s.Max - s.Median}}})
		if err != nil {
			return nil, err
		}
		bars.Color = colors[r.Series]
		p.Add(sc, bars)
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.5, float64(len(names))-0.5 // rows not run have no dot to stretch the axis
	p.Y.Padding = 0
	// Room for the dots and bars at both ends of the log axis.
	p.X.Min /= 1.5
	p.X.Max *= 1.5
	return p, nil
}

func newPlot(title, xlabel, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 11
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.X.Label.TextStyle.Font.Size = 10
	p.Y.Label.TextStyle.Font.Size = 10
	p.Legend.Top = true
	p.Legend.Left = false
	p.Legend.TextStyle.Font.Size = 8
	p.Legend.ThumbnailWidth = vg.Points(16)
	p.Add(plotter.NewGrid())
	return p
}
