package report

import (
	"fmt"
	"runtime"
	"slices"
	"time"

	"github.com/pishm/pishm/engine/lab"
)

// Options choose the matrix and how it runs.
type Options struct {
	// Parts to run; nil means all.
	Parts []Part
	// Count is how many times each configuration runs; 0 means 5 (1 if
	// Quick).
	Count int
	// Quick shrinks every part to a few small runs that finish in seconds.
	Quick bool
	// Compare adds the anchors: the C OpenMP program (if gcc can build
	// it) and the in-process goroutines baseline where the part does not
	// have it already.
	Compare bool
	// Kernel is pi.Config.Kernel for every run ("" is auto).
	Kernel string
	// RedisURL is the server for the redis mode; "" starts a throwaway
	// redis-server if one is installed (the redis rows say so if not).
	RedisURL string
	// Timeout bounds each run (lab.Config.Timeout); 0 is none.
	Timeout time.Duration
	// Cores is the number of CPUs the worker counts are scaled to; 0 is
	// runtime.NumCPU().
	Cores int
}

func (o Options) withDefaults() Options {
	if o.Parts == nil {
		o.Parts = Parts()
	}
	if o.Count == 0 {
		o.Count = 5
		if o.Quick {
			o.Count = 1
		}
	}
	if o.Cores == 0 {
		o.Cores = runtime.NumCPU()
	}
	return o
}

// OpenMP is the Mode of the C OpenMP anchor's rows.
const OpenMP = "openmp"

// Case is one configuration of the matrix.
type Case struct {
	Part    Part
	Series  string
	Measure Measure
	// Anchor is OpenMP for the C program, "" for a pi.Run of Config
	// with Kernel.
	Anchor string
	Config lab.Config
	Kernel string
}

// Label names the case on the progress line.
func (c Case) Label() string {
	return fmt.Sprintf("%s %s workers=%d n=%s publish=%s", c.Part, c.Series, c.Config.Workers, Count(c.Config.N), chunkString(c.Config.Publish))
}

// contention strategies: the series of the contention part.
var contenders = []struct {
	series string
	mode   lab.Mode
	pad    int
}{
	{"slots pad=128", lab.Slots, 128},
	{"slots pad=8", lab.Slots, 8},
	{"cas", lab.CAS, 0},
	{"mutex", lab.Mutex, 0},
	{"racy", lab.Racy, 0},
}

// sizes of each part, full and quick.
type sizes struct {
	contentionN    uint64
	chunks         []uint64
	contentionWk   []int
	fixedN         uint64
	throughputN    uint64
	scalingNs      []uint64
	scalingWorkers []int
	scalingWorkerN uint64
}

func sizesFor(o Options) sizes {
	if o.Quick {
		return sizes{
			contentionN: 1e4, chunks: []uint64{1, 100, 1e4}, contentionWk: []int{2},
			fixedN: 1e4, throughputN: 1e6,
			scalingNs: []uint64{1e3, 1e5}, scalingWorkers: []int{1, 2}, scalingWorkerN: 1e5,
		}
	}
	s := sizes{
		contentionN: 1e7, contentionWk: []int{2, max(4, 2*o.Cores)},
		fixedN: 1e6, throughputN: 1e9,
		scalingNs: decades(1e5, 1e10), scalingWorkerN: 1e9,
	}
	s.chunks = decades(1, s.contentionN)
	if o.Cores == 2 {
		s.contentionWk = []int{2, 4}
	}
	for w := 1; w <= 2*o.Cores; w++ {
		s.scalingWorkers = append(s.scalingWorkers, w)
	}
	return s
}

// decades lists lo, 10*lo, ... up to hi.
func decades(lo, hi uint64) []uint64 {
	var out []uint64
	for x := lo; x <= hi; x *= 10 {
		out = append(out, x)
	}
	return out
}

// Plan lists the cases of the matrix o asks for, in report order.
func Plan(o Options) []Case {
	o = o.withDefaults()
	sz := sizesFor(o)
	var cases []Case
	add := func(p Part, series string, m Measure, cfg lab.Config) {
		cfg.RedisURL = o.RedisURL
		cfg.Timeout = o.Timeout
		cases = append(cases, Case{Part: p, Series: series, Measure: m, Config: cfg, Kernel: o.Kernel})
	}
	anchor := func(p Part, n uint64, workers int) {
		cases = append(cases, Case{Part: p, Series: OpenMP, Measure: Wall, Anchor: OpenMP, Config: lab.Config{N: n, Workers: workers}})
	}
	for _, p := range o.Parts {
		switch p {
		case Contention:
			for _, w := range sz.contentionWk {
				for _, c := range contenders {
					for _, chunk := range sz.chunks {
						add(p, c.series, Work, lab.Config{N: sz.contentionN, Workers: w, Mode: c.mode, Pad: c.pad, Publish: chunk, Grain: chunk, AllowRacy: c.mode == lab.Racy})
					}
				}
				if o.Compare {
					for _, chunk := range sz.chunks {
						add(p, string(lab.Goroutines), Work, lab.Config{N: sz.contentionN, Workers: w, Mode: lab.Goroutines, Publish: chunk, Grain: chunk})
					}
				}
			}
		case Fixed, Throughput:
			n := sz.fixedN
			if p == Throughput {
				n = sz.throughputN
			}
			for _, m := range lab.Modes() {
				add(p, string(m), Wall, lab.Config{N: n, Workers: o.Cores, Mode: m})
			}
			if o.Compare {
				anchor(p, n, o.Cores)
			}
		case ScalingN:
			for _, m := range scalingModes(o) {
				for _, n := range sz.scalingNs {
					add(p, string(m), Wall, lab.Config{N: n, Workers: o.Cores, Mode: m})
				}
			}
			if o.Compare {
				for _, n := range sz.scalingNs {
					anchor(p, n, o.Cores)
				}
			}
		case ScalingWorkers:
			for _, m := range scalingModes(o) {
				for _, w := range sz.scalingWorkers {
					add(p, string(m), Wall, lab.Config{N: sz.scalingWorkerN, Workers: w, Mode: m})
				}
			}
			if o.Compare {
				for _, w := range sz.scalingWorkers {
					anchor(p, sz.scalingWorkerN, w)
				}
			}
		}
	}
	return cases
}

func scalingModes(o Options) []lab.Mode {
	ms := []lab.Mode{lab.Slots}
	if o.Compare && slices.Contains(lab.Modes(), lab.Goroutines) {
		ms = append(ms, lab.Goroutines)
	}
	return ms
}
