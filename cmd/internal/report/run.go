package report

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/cpuid/v2"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/pi"
	"github.com/pishm/pishm/internal/redisserver"
)

// Step is what Run is about to do, for a progress line.
type Step struct {
	Case         Case
	Pass, Passes int // 1-based
	Done, Total  int // runs finished, runs in all (skipped ones count as done)
}

// Config is how Run runs the matrix, beside the Options that choose it.
type Config struct {
	Options
	// AnchorSource is the path of pi_omp.c; "" looks for
	// bench/anchor/pi_omp.c in the working directory and its parents.
	AnchorSource string
	// Progress, if set, is called before every run.
	Progress func(Step)
}

// Run runs the matrix, each case Count times round-robin, and sums it
// up. A case whose run fails gets a note instead of stopping the bench;
// only ctx's cancellation does that.
func Run(ctx context.Context, c Config) (Report, error) {
	o := c.withDefaults()
	start := time.Now()
	cases := Plan(o)
	r := &runner{ctx: ctx, cfg: c, samples: make([][]Sample, len(cases)), errs: make([]error, len(cases)), fails: make([]int, len(cases))}
	defer r.close()

	total := len(cases) * o.Count
	done := 0
	for pass := 1; pass <= o.Count; pass++ {
		for i, cs := range cases {
			if r.errs[i] != nil && len(r.samples[i]) == 0 {
				done++ // it failed before: skip it
				continue
			}
			if c.Progress != nil {
				c.Progress(Step{Case: cs, Pass: pass, Passes: o.Count, Done: done, Total: total})
			}
			s, err := r.run(cs)
			done++
			if ctx.Err() != nil {
				return Report{}, context.Cause(ctx)
			}
			if err != nil {
				if r.errs[i] == nil {
					r.errs[i] = err
				}
				r.fails[i]++
				continue
			}
			r.samples[i] = append(r.samples[i], s)
		}
	}
	rep := Report{Header: header(o, start)}
	for i, cs := range cases {
		rep.Rows = append(rep.Rows, makeRow(cs, r.samples[i], r.errs[i], r.fails[i]))
	}
	savedVsCAS(rep.Rows)
	rep.Header.Duration = Duration(time.Since(start))
	return rep, nil
}

// header describes this machine and build.
func header(o Options, start time.Time) Header {
	k, err := pi.ResolveKernel(o.Kernel)
	if err != nil {
		k = o.Kernel // the runs fail and say why
	}
	return Header{
		Kernel: k, CPU: strings.TrimSpace(cpuid.CPU.BrandName), Cores: o.Cores,
		CacheLine: cpuid.CPU.CacheLine, SlotStride: lab.SlotStride(),
		Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH,
		Count: o.Count, Quick: o.Quick, Compare: o.Compare, Start: start.UTC().Truncate(time.Second),
	}
}

// runner holds what the runs share: the redis server and the built anchor.
type runner struct {
	ctx     context.Context
	cfg     Config
	samples [][]Sample
	errs    []error // the first error of each case
	fails   []int   // how many of its runs failed

	redisTried bool
	redis      *redisserver.Server
	redisErr   error

	anchorTried bool
	anchorDir   string
	anchorBin   string
	anchorErr   error
}

func (r *runner) close() {
	if r.redis != nil {
		r.redis.Stop()
	}
	if r.anchorDir != "" {
		os.RemoveAll(r.anchorDir)
	}
}

// run does one run of c.
func (r *runner) run(c Case) (Sample, error) {
	if c.Anchor == OpenMP {
		return r.runOpenMP(c)
	}
	cfg := c.Config
	if cfg.Mode == lab.Redis && cfg.RedisURL == "" {
		url, err := r.redisURL()
		if err != nil {
			return Sample{}, err
		}
		cfg.RedisURL = url
	}
	before := cpuNow()
	res, err := pi.Run(r.ctx, pi.Config{Config: cfg, Kernel: c.Kernel})
	cpu := cpuNow() - before
	if err != nil && !(cfg.Mode == lab.Racy && errors.Is(err, engine.ErrInexact)) {
		return Sample{}, err // the racy mode's lost updates fail the exact check on purpose
	}
	s := Sample{Wall: res.Wall, CPU: cpu, Publishes: res.Publishes, Spawn: res.Spawn, LostShare: res.LostSum / res.SumExact, SumRelError: res.SumRelError}
	for _, w := range res.WorkersDetail {
		s.Work = max(s.Work, w.Elapsed)
	}
	if s.Work == 0 {
		s.Work = res.Elapsed
	}
	return s, nil
}

// redisURL starts a throwaway redis-server the first time it is asked.
func (r *runner) redisURL() (string, error) {
	if !r.redisTried {
		r.redisTried = true
		r.redis, r.redisErr = redisserver.NewServer()
		if r.redisErr != nil {
			r.redisErr = fmt.Errorf("skipped: no redis-server to run it against (give -redis URL): %w", r.redisErr)
		}
	}
	if r.redisErr != nil {
		return "", r.redisErr
	}
	return r.redis.URL, nil
}

// runOpenMP times one run of the C anchor as a whole process.
func (r *runner) runOpenMP(c Case) (Sample, error) {
	bin, err := r.openMP()
	if err != nil {
		return Sample{}, err
	}
	ctx := r.ctx
	if r.cfg.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.Timeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, bin, strconv.FormatUint(c.Config.N, 10))
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS="+strconv.Itoa(c.Config.Workers))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	before := cpuNow()
	t := time.Now()
	err = cmd.Run()
	wall := time.Since(t)
	cpu := cpuNow() - before
	if err != nil {
		return Sample{}, fmt.Errorf("pi_omp %d: %v: %s", c.Config.N, err, firstLine(errb.String()))
	}
	f := fields(out.String())
	sec, err1 := strconv.ParseFloat(f["wall_s"], 64)
	sum, err2 := strconv.ParseFloat(f["S"], 64)
	if err := errors.Join(err1, err2); err != nil {
		return Sample{}, fmt.Errorf("pi_omp printed %q: %v", firstLine(out.String()), err)
	}
	exact := pi.ExactSum(c.Config.N)
	return Sample{Wall: wall, Work: time.Duration(sec * 1e9), CPU: cpu, SumRelError: (sum - exact) / exact}, nil
}

// fields reads "k=v k=v" into a map.
func fields(s string) map[string]string {
	m := map[string]string{}
	for f := range strings.FieldsSeq(s) {
		if k, v, ok := strings.Cut(f, "="); ok {
			m[k] = v
		}
	}
	return m
}

// openMP builds the anchor once with gcc -O3 -march=native -fopenmp.
func (r *runner) openMP() (string, error) {
	if r.anchorTried {
		return r.anchorBin, r.anchorErr
	}
	r.anchorTried = true
	r.anchorBin, r.anchorErr = r.buildOpenMP()
	if r.anchorErr != nil {
		r.anchorErr = fmt.Errorf("skipped: %w", r.anchorErr)
	}
	return r.anchorBin, r.anchorErr
}

func (r *runner) buildOpenMP() (string, error) {
	src := r.cfg.AnchorSource
	if src == "" {
		var err error
		if src, err = findAnchor(); err != nil {
			return "", err
		}
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return "", fmt.Errorf("no gcc to build the OpenMP anchor (apt-get install gcc libgomp1)")
	}
	dir, err := os.MkdirTemp("", "pishm-bench-")
	if err != nil {
		return "", err
	}
	r.anchorDir = dir
	bin := filepath.Join(dir, "pi_omp")
	out, err := exec.CommandContext(r.ctx, gcc, "-O3", "-march=native", "-fopenmp", "-o", bin, src, "-lm").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("gcc -fopenmp %s: %v: %s", src, err, firstLine(string(out)))
	}
	return bin, nil
}

// AnchorPath is where the OpenMP anchor's source lies in a checkout.
const AnchorPath = "bench/anchor/pi_omp.c"

// findAnchor looks for AnchorPath in the working directory and its parents.
func findAnchor() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, AnchorPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found here or above (run from the checkout or give -anchor FILE)", AnchorPath)
		}
		dir = parent
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// makeRow sums up one case's samples.
func makeRow(c Case, samples []Sample, err error, fails int) Row {
	cfg := c.Config
	row := Row{
		Part: c.Part, Series: c.Series, Mode: string(cfg.Mode), Pad: cfg.Pad, Workers: cfg.Workers,
		N: cfg.N, Publish: cfg.Publish, Measure: c.Measure, Count: len(samples), Samples: samples,
	}
	if c.Anchor != "" {
		row.Mode = c.Anchor
	}
	if row.Mode == "" {
		row.Mode = string(lab.Slots)
	}
	if row.Workers == 0 {
		row.Workers = runtime.NumCPU()
	}
	switch {
	case err != nil && len(samples) == 0:
		row.Note = oneLine(err)
		if !strings.HasPrefix(row.Note, "skipped:") {
			row.Note = "failed: " + row.Note
		}
	case err != nil:
		row.Note = fmt.Sprintf("%d of %d runs failed: %s", fails, fails+len(samples), oneLine(err))
	}
	var ns, wall, work, cpu, lost []float64
	for _, s := range samples {
		t := s.Wall
		if c.Measure == Work {
			t = s.Work
		}
		ns = append(ns, float64(t.Nanoseconds())/float64(cfg.N))
		wall = append(wall, s.Wall.Seconds())
		work = append(work, s.Work.Seconds())
		cpu = append(cpu, s.CPU.Seconds())
		lost = append(lost, s.LostShare)
		row.Publishes, row.Spawn = s.Publishes, s.Spawn
	}
	row.NsPerTerm, row.WallS, row.WorkS, row.CPUS = StatsOf(ns), StatsOf(wall), StatsOf(work), StatsOf(cpu)
	if cfg.Mode == lab.Racy {
		row.LostShare = StatsOf(lost).Median
	} else {
		row.Publishes = 0
	}
	return row
}

// oneLine is err's message on one line, at most 160 bytes.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// savedVsCAS sets SavedNsPerTerm on each racy row that has a cas row of
// the same part, workers, n and chunk.
func savedVsCAS(rows []Row) {
	for i := range rows {
		r := &rows[i]
		if r.Mode != string(lab.Racy) || !r.OK() {
			continue
		}
		for _, c := range rows {
			if c.Mode == string(lab.CAS) && c.OK() && c.Part == r.Part && c.Workers == r.Workers && c.N == r.N && c.Publish == r.Publish {
				d := c.NsPerTerm.Median - r.NsPerTerm.Median
				r.SavedNsPerTerm = &d
			}
		}
	}
}
