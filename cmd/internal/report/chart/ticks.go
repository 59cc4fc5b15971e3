package chart

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"

	"github.com/pishm/pishm/cmd/internal/report"
)

// logTicks labels every power of ten, and 2 and 5 times it when the range
// spans less than three decades (plot.LogTicks alone leaves a short log
// axis with one label or none).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	if lo <= 0 || hi <= lo {
		return plot.LogTicks{Prec: -1}.Ticks(lo, hi)
	}
	dense := math.Log10(hi/lo) < 3
	var ts []plot.Tick
	for e := math.Floor(math.Log10(lo)); e <= math.Ceil(math.Log10(hi)); e++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, e)
			if v < lo || v > hi {
				continue
			}
			if m == 1 || dense {
				ts = append(ts, plot.Tick{Value: v, Label: tickLabel(v)})
			} else {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	labelled := 0
	for _, t := range ts {
		if t.Label != "" {
			labelled++
		}
	}
	if labelled < 2 { // less than a factor 2..5 apart: plain ticks
		ts = plot.DefaultTicks{}.Ticks(lo, hi)
	}
	return ts
}

// tickLabel writes 0.05, 20, 1000, 1e4, 1e10: powers from 1e4 on as the
// matrix writes n and chunk.
func tickLabel(v float64) string {
	if v >= 1e4 && v < 1e15 && v == math.Trunc(v) {
		return report.Count(uint64(v))
	}
	if v < 1e-3 {
		return fmt.Sprintf("%.0e", v)
	}
	return fmt.Sprint(math.Round(v*1e3) / 1e3)
}

// intTicks labels whole numbers (worker counts).
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for v := math.Ceil(lo); v <= hi; v++ {
		ts = append(ts, plot.Tick{Value: v, Label: fmt.Sprint(v)})
	}
	return ts
}
