package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine/internal/exact"
	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/kernel"
	"github.com/pishm/pishm/engine/internal/spawn"
	"github.com/pishm/pishm/internal/redisserver"
	"github.com/pishm/pishm/shmem"
)

// TestMain makes the test binary a pishm worker when the engine
// re-executes it. PISHM_TEST_EXIT=i:code makes worker i exit with code
// before attaching, and PISHM_TEST_KILL=i:point:k:a makes worker i SIGKILL
// itself at the k-th time it passes the fault point (see faultHook), in
// its first a attempts, so tests see real workers die exactly where they
// ask. Worker "*" means every worker. A fifth field :g kills only in call
// g (a pool's first call is 1), so that a pool's later calls run clean.
func TestMain(m *testing.M) {
	if spec := os.Getenv("PISHM_TEST_EMBED"); spec != "" && !IsChild() {
		os.Exit(embedMain(spec))
	}
	if IsChild() {
		worker := os.Getenv(envWorker)
		if w, code, ok := strings.Cut(os.Getenv("PISHM_TEST_EXIT"), ":"); ok && w == worker {
			c, _ := strconv.Atoi(code)
			os.Exit(c)
		}
		for v, sig := range map[string]syscall.Signal{"PISHM_TEST_KILL": syscall.SIGKILL, "PISHM_TEST_STOP": syscall.SIGSTOP} {
			f := strings.Split(os.Getenv(v), ":")
			if len(f) < 4 || len(f) > 5 || f[0] != worker && f[0] != "*" {
				continue
			}
			onlyGen := -1
			if len(f) == 5 {
				onlyGen, _ = strconv.Atoi(f[4])
			}
			attempt, _ := strconv.Atoi(os.Getenv(envAttempt))
			k, _ := strconv.Atoi(f[2])
			if a, _ := strconv.Atoi(f[3]); attempt < a {
				seen := 0
				faultHook = func(point string) {
					if onlyGen >= 0 && (point == "attach" || point == "arrived" || faultGen != uint32(onlyGen)) {
						return
					}
					if point == f[1] {
						if seen++; seen == k {
							syscall.Kill(os.Getpid(), sig)
							select {} // the signal is on its way; a stopped worker is killed by the parent
						}
					}
				}
			}
		}
		os.Exit(ChildMain())
	}
	// The fault hooks above live in exec'd workers: a test that arms one
	// gets them, where Spawn auto would fork.
	forkVetoed = func() bool {
		return os.Getenv("PISHM_TEST_KILL") != "" || os.Getenv("PISHM_TEST_STOP") != "" || os.Getenv("PISHM_TEST_EXIT") != ""
	}
	// Race-built children otherwise sleep 1 s at exit.
	if os.Getenv("GORACE") == "" {
		os.Setenv("GORACE", "atexit_sleep_ms=0")
	}
	spawn.DevNull() // opened once for good: not a leak in the fd counts below
	// One real redis-server for the redis mode, if one is installed
	// (.ci/test.sh installs it); without one the redis cases skip.
	srv, err := redisserver.NewServer()
	if err == nil {
		testRedisURL, testRedisPid = srv.URL, strconv.Itoa(srv.Pid())
	} else {
		fmt.Fprintln(os.Stderr, "engine tests: the redis mode will be skipped:", err)
	}
	code := m.Run()
	if srv != nil {
		srv.Stop()
	}
	os.Exit(code)
}

// testRedisURL is the test binary's redis-server, "" if none; testRedisPid
// its pid (a child of ours that is not a worker).
var testRedisURL, testRedisPid string

// withRedis sets the redis URL, or skips the test for the redis mode when
// no server could be started.
func withRedis(t *testing.T, cfg Config) Config {
	t.Helper()
	if cfg.Mode == Redis && testRedisURL == "" {
		t.Skip("no redis-server installed")
	}
	if cfg.Mode == Redis {
		cfg.RedisURL = testRedisURL
	}
	return cfg
}

// checkExact checks a call of the series against its closed form (within
// the engine's tolerance) and its workers' ranges.
func checkExact(t *testing.T, res Result) {
	t.Helper()
	exact := exact.Sum(res.N)
	if rel := math.Abs(res.Value-exact) / exact; rel > tolerance {
		t.Errorf("n=%d mode=%s workers=%d: S=%.17g, exact %.17g, relative error %.2e > %g",
			res.N, res.Mode, res.Workers, res.Value, exact, rel, tolerance)
	}
	if res.ClosedForm != exact {
		t.Errorf("SumExact = %v, want %v", res.ClosedForm, exact)
	}
	var covered uint64
	for i, w := range res.detail {
		if w.Index != i || w.Lo != covered || w.Hi < w.Lo {
			t.Errorf("worker %d covers [%d,%d), want to start at %d", i, w.Lo, w.Hi, covered)
		}
		covered = w.Hi
	}
	if covered != res.N {
		t.Errorf("workers cover [0,%d), want [0,%d)", covered, res.N)
	}
}

// TestModesExact runs every mode over both backings, 1 to 7 workers and n
// from 1 to a million, checking each result against the closed form. It
// covers every pair of values of any two of those four factors (not
// their full product, 312 whole runs): with t = mode index + workers
// index, n is t mod 3 and the backing t mod 2, so for each mode the four
// worker counts meet every n and both backings, and since t runs over
// 0..15, every (backing, n), (workers, n) and (backing, workers) pair
// occurs too.
func TestModesExact(t *testing.T) {
	checkClean(t)
	dir := t.TempDir()
	backings := []shmem.Backing{shmem.Posix, shmem.File}
	ns := []uint64{1, 1000, 1e6 + 3}
	for i, mode := range Modes() {
		for wi, workers := range []int{1, 2, 3, 7} {
			n, shm := ns[(i+wi)%3], backings[(i+wi)%2]
			if mode == modeGoroutines {
				shm = shmem.Posix // no segment at all
			}
			name := string(mode) + "/" + string(shm) + "/workers=" + strconv.Itoa(workers) + "/n=" + strconv.FormatUint(n, 10)
			t.Run(name, func(t *testing.T) {
				cfg := withRedis(t, Config{N: n, Workers: workers, Mode: mode, Shm: shm})
				if shm == shmem.File {
					cfg.Path = filepath.Join(dir, "seg")
				}
				res, err := Run(context.Background(), "oddsq", cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkExact(t, res)
				if shm == shmem.File {
					if _, err := os.Lstat(cfg.Path); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("segment file %s left behind (%v)", cfg.Path, err)
					}
				}
			})
		}
	}
}

// TestLargeN checks the contract where rounding matters most.
func TestLargeN(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("large n in -short or -race")
	}
	checkClean(t)
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		res, err := Run(context.Background(), "oddsq", Config{N: 1e8 + 7, Workers: 2, Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		checkExact(t, res)
	}
}

// TestChunked publishes often, so the strategies really contend.
func TestChunked(t *testing.T) {
	checkClean(t)
	for _, mode := range Modes() {
		t.Run(string(mode), func(t *testing.T) {
			res, err := Run(context.Background(), "oddsq", withRedis(t, Config{N: 300_001, Workers: 3, Mode: mode, Publish: 97}))
			if err != nil {
				t.Fatal(err)
			}
			checkExact(t, res)
		})
	}
}

// The partials and their order alone decide the result: the in-process
// baseline and the slots mode agree bit for bit.
func TestSlotsMatchGoroutines(t *testing.T) {
	checkClean(t)
	cfg := Config{N: 5_000_011, Workers: 3, Publish: 100_003}
	cfg.Mode = modeSlots
	a, err := Run(context.Background(), "oddsq", cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Mode = modeGoroutines
	b, err := Run(context.Background(), "oddsq", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a.Value != b.Value {
		t.Fatalf("slots %.17g != goroutines %.17g", a.Value, b.Value)
	}
}

func TestWorkerFailure(t *testing.T) {
	checkClean(t)
	t.Setenv("PISHM_TEST_EXIT", "1:7")
	for _, mode := range []strategy{modeSlots, modeCAS, modeMutex} {
		_, err := Run(context.Background(), "oddsq", Config{N: 1e6, Workers: 3, Mode: mode})
		var we *WorkerError
		if !errors.Is(err, ErrWorkerDied) || !errors.As(err, &we) || we.Worker != 1 || !strings.Contains(we.How, "exit status 7") {
			t.Fatalf("mode %s: err = %v, want worker 1 dead with exit status 7", mode, err)
		}
	}
}

func TestCancel(t *testing.T) {
	checkClean(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	for _, mode := range []strategy{modeSlots, modeGoroutines} {
		// MaxN terms would take days: returning at all shows the stop.
		_, err := Run(ctx, "oddsq/generic", Config{N: MaxN, Workers: 2, Mode: mode})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: err = %v, want deadline exceeded", mode, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	checkClean(t)
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{N: 0}, "N must be"},
		{Config{N: MaxN + 1}, "N must be"},
		{Config{N: 10, Workers: -1}, "Workers must be"},
		{Config{N: 10, Workers: MaxWorkers + 1}, "Workers must be"},
		{Config{N: 10, Mode: "bogus"}, `unknown mode "bogus"`},
		{Config{N: 10, Shm: "tmpfs"}, `unknown backing "tmpfs"`},
		{Config{N: 10, Shm: shmem.File}, "needs Path"},
	} {
		_, err := Run(context.Background(), "oddsq", tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: err = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

func TestFileBackingRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "taken")
	if err := os.WriteFile(path, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Run(context.Background(), "oddsq", Config{N: 100, Workers: 1, Shm: shmem.File, Path: path})
	if err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("err = %v, want refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Fatalf("existing file changed: %q", b)
	}
	link := filepath.Join(dir, "link")
	os.Symlink(path, link)
	if _, err := Run(context.Background(), "oddsq", Config{N: 100, Workers: 1, Shm: shmem.File, Path: link, Force: true}); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("symlink: err = %v", err)
	}
	res, err := Run(context.Background(), "oddsq", Config{N: 100, Workers: 1, Shm: shmem.File, Path: path, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	checkExact(t, res)
	if _, err := Run(context.Background(), "oddsq", Config{N: 100, Workers: 1, Shm: shmem.File, Path: filepath.Join(dir, "no", "such")}); err == nil {
		t.Fatal("missing directory accepted")
	}
}

func TestSpan(t *testing.T) {
	for _, n := range []uint64{1, 7, 1e6 + 3, MaxN} {
		for _, grain := range []uint64{1, 3, DefaultGrain(n), MaxGrain} {
			for _, w := range []int{1, 2, 3, 7, MaxWorkers} {
				var next uint64
				for i := range w {
					lo, hi := span(n, grain, w, i)
					if lo != next || hi < lo || lo%grain != 0 || hi%grain != 0 && hi != n {
						t.Fatalf("span(%d,%d,%d,%d) = [%d,%d), want start %d, whole pieces", n, grain, w, i, lo, hi, next)
					}
					next = hi
				}
				if next != n {
					t.Fatalf("span(%d,%d,%d) ends at %d", n, grain, w, next)
				}
			}
		}
	}
}

func TestReduceOrder(t *testing.T) {
	// 1 + 1e-16 + 1e-16 loses both small terms in plain float64.
	f := fold.New(Sum)
	for _, x := range []float64{1, 1e-16, 1e-16} {
		f.Add(x)
	}
	if got := f.Value(); got != 1+2e-16 {
		t.Fatalf("fold = %.17g, want %.17g", got, 1+2e-16)
	}
}

// TestKernelsExact runs the Func of every kernel this CPU supports
// through real children and checks each against the closed form; a
// kernel this CPU lacks is refused before any worker starts.
func TestKernelsExact(t *testing.T) {
	checkClean(t)
	for _, k := range kernel.All() {
		t.Run("kernel="+k.Name, func(t *testing.T) {
			res, err := Run(context.Background(), seriesPrefix+k.Name, Config{N: 1e7 + 3, Workers: 3})
			if !k.Supported() {
				if err == nil || !strings.Contains(err.Error(), "lacks") {
					t.Fatalf("%s on a CPU without %v: err = %v, want a refusal", seriesPrefix+k.Name, k.Requires, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.Func != seriesPrefix+k.Name {
				t.Fatalf("ran %q, asked for %q", res.Func, seriesPrefix+k.Name)
			}
			checkExact(t, res)
		})
	}
	if _, err := Run(context.Background(), "nosuch", Config{N: 10}); err == nil || !strings.Contains(err.Error(), `no Func registered as "nosuch"`) {
		t.Errorf("unknown Func: err = %v", err)
	}
}

func TestOffsetPadRacy(t *testing.T) {
	checkClean(t)
	for _, sched := range []Schedule{Static, Dynamic} {
		res, err := Run(context.Background(), "oddsq", Config{N: 1_000_003, Offset: 1_000_000, Workers: 3, Sched: sched})
		if err != nil {
			t.Fatal(err)
		}
		if rel := math.Abs(res.Value-res.ClosedForm) / res.ClosedForm; rel > 1e-15 || res.ClosedForm != exact.SumRange(1_000_000, 2_000_003) {
			t.Errorf("%s: offset run S=%.17g exact %.17g (rel %.2e)", sched, res.Value, res.ClosedForm, rel)
		}
	}
	for _, pad := range []int{8, 64, 128} {
		res, err := Run(context.Background(), "oddsq", Config{N: 1_000_003, Workers: 3, Pad: pad, Publish: 1000})
		if err != nil {
			t.Fatal(err)
		}
		checkExact(t, res)
	}
	if _, err := Run(context.Background(), "oddsq", Config{N: 10, Pad: 12}); err == nil {
		t.Error("Pad 12 accepted")
	}
	if _, err := Run(context.Background(), "oddsq", Config{N: 10, Mode: Racy}); err == nil || !strings.Contains(err.Error(), "AllowRacy") {
		t.Errorf("racy without AllowRacy: %v", err)
	}
	// One racy worker loses nothing; several may lose adds: the exact
	// check then fails the run, and LostSum says what went missing.
	res, err := Run(context.Background(), "oddsq", Config{N: 1_000_000, Workers: 1, Mode: Racy, Publish: 100, AllowRacy: true})
	if err != nil || math.Abs(res.LostSum) > 1e-15*res.Value {
		t.Fatalf("racy, 1 worker: lost %g, %v", res.LostSum, err)
	}
	res, err = Run(context.Background(), "oddsq", Config{N: 4_000_000, Workers: 2, Mode: Racy, Publish: 16, AllowRacy: true})
	if lost := res.ClosedForm - res.Value; err == nil && math.Abs(res.LostSum) > Tolerance*res.Value ||
		err != nil && !errors.Is(err, ErrInexact) || math.Abs(res.LostSum-lost) > 1e-14 {
		t.Fatalf("racy, 2 workers: lost %g (exact says %g), %v", res.LostSum, lost, err)
	}
	t.Logf("racy, 2 workers, 250000 publishes: lost %.3g of the sum, relative error %.2e", res.LostSum, res.RelError)
}

// TestTooManyChunks: a dynamic chunk so small that the chunk table would
// not fit is refused up front, naming the field.
func TestTooManyChunks(t *testing.T) {
	if _, err := Run(context.Background(), "oddsq", Config{N: MaxN, Sched: Dynamic, Chunk: 1, Grain: SmallGrainCap}); err == nil || !strings.Contains(err.Error(), "engine: Chunk") || !strings.Contains(err.Error(), "cuts") {
		t.Fatalf("err = %v", err)
	}
}
