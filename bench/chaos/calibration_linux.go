package main

import (
	"context"
	"time"
)

// calibration measures, on first use of a mode, schedule and chunk, two
// runs without kills (at the ends of its n range) and estimates a run's
// time by the line through them; 200 ms if either was not exact.
type calibration struct {
	ctx     context.Context
	pishm   string
	hang    time.Duration
	fits    map[string][2]float64 // seconds = a + b n
	results []runResult
}

func newCalibration(ctx context.Context, pishm string, hang time.Duration) *calibration {
	return &calibration{ctx: ctx, pishm: pishm, hang: hang, fits: map[string][2]float64{}}
}

func (c *calibration) estimate(mode, sched string, ch chunkClass, n uint64) time.Duration {
	key := mode + "/" + sched + "/" + ch.String()
	fit, ok := c.fits[key]
	if !ok {
		var pts [2][2]float64
		bad := false
		for i, x := range nRange[ch] {
			p := plan{Index: -1, Mode: mode, Sched: sched, Chunk: ch, N: uint64(x), Workers: 2, Kind: none}
			r := execute(c.ctx, c.pishm, p, 0, c.hang+10*time.Second)
			c.results = append(c.results, r)
			pts[i] = [2]float64{x, r.wall.Seconds()}
			bad = bad || r.class != exact
		}
		b := max(0, (pts[1][1]-pts[0][1])/(pts[1][0]-pts[0][0]))
		fit = [2]float64{max(0, pts[0][1]-b*pts[0][0]), b}
		if bad { // a run that was not exact measured nothing (a hung one: the limit)
			fit = [2]float64{0.2, 0}
		}
		c.fits[key] = fit
	}
	return max(10*time.Millisecond, time.Duration((fit[0]+fit[1]*float64(n))*1e9))
}
