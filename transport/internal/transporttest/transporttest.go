// Package transporttest runs package transport's conformance tests
// against any registered kind, with real child processes: the test binary
// re-executes itself as the child (see Main). transport, transport/netsock
// and transport/redis each run it for their own kinds.
package transporttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/internal/superacc"
	"github.com/pishm/pishm/transport"
)

// The test binary is also the child: with envTestChild set, Main sends
// (or misbehaves, per the mode) and exits instead of running tests.
const (
	envTestChild   = "PISHM_TRANSPORT_TEST_CHILD"
	envTestSeed    = "PISHM_TRANSPORT_TEST_SEED"
	envTestWorkers = "PISHM_TRANSPORT_TEST_WORKERS"
)

// Child modes.
const (
	ModeOK      = "ok"      // Send the test message
	ModeNone    = "none"    // exit 0 without sending
	ModeHang    = "hang"    // never send; killed by the test
	ModeGarbage = "garbage" // a record-sized run of 0xa5
	ModeCorrupt = "corrupt" // a good record with one bit of its Sum flipped
	ModeShort   = "short"   // the first 20 bytes of the record
	ModeLong    = "long"    // the record and 10 more bytes
	ModeDup     = "dup"     // a good record that claims worker 0
	ModeRange   = "range"   // a good record that claims worker Workers+5
	ModeWrong   = "wrong"   // Send a message for another worker: must fail (exit 3)
)

// Main is the TestMain of a package that uses Spawn or CheckGC: in a child
// it sends and exits (or makes a collector and waits to be killed), else
// it runs the tests.
func Main(m *testing.M) {
	if kind := os.Getenv(envTestCreate); kind != "" {
		os.Exit(creatorMain(kind))
	}
	if mode := os.Getenv(envTestChild); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

func childMain(mode string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "test child (%s): %v\n", mode, err)
		return 1
	}
	if mode == ModeNone {
		return 0
	}
	env, err := transport.ReadChildEnv(os.Getenv)
	if err != nil {
		return fail(err)
	}
	seed, err1 := strconv.ParseUint(os.Getenv(envTestSeed), 10, 64)
	n, err2 := strconv.Atoi(os.Getenv(envTestWorkers))
	if err1 != nil || err2 != nil {
		return fail(fmt.Errorf("%s / %s not set", envTestSeed, envTestWorkers))
	}
	msg := Message(seed, int(env.Worker), n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := Encode(msg)
	switch mode {
	case ModeOK:
		err = transport.Send(ctx, msg)
	case ModeHang:
		time.Sleep(time.Minute)
		return 0
	case ModeGarbage:
		for i := range rec {
			rec[i] = 0xa5
		}
		err = transport.SendRecord(ctx, env, rec)
	case ModeCorrupt:
		rec[len(rec)-100] ^= 0x10 // in the Sum's digits
		err = transport.SendRecord(ctx, env, rec)
	case ModeShort:
		err = transport.SendRecord(ctx, env, rec[:20])
	case ModeLong:
		err = transport.SendRecord(ctx, env, append(rec, make([]byte, 10)...))
	case ModeDup:
		msg.Worker = 0
		err = transport.SendRecord(ctx, env, Encode(msg))
	case ModeRange:
		msg.Worker = uint32(n + 5)
		err = transport.SendRecord(ctx, env, Encode(msg))
	case ModeWrong:
		msg.Worker++
		if err := transport.Send(ctx, msg); err != nil {
			return 3
		}
		return 0
	default:
		err = fmt.Errorf("unknown mode")
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// Message is worker i's message in the run with this seed: partials with
// full 53-bit significands, subnormals and values one ulp off round
// numbers, and an exact sum (Sum) of terms spread over the whole exponent
// range, with cancellation, -0, infinities and NaN in some workers, so any
// loss of bits shows.
func Message(seed uint64, i, n int) transport.Message {
	x := splitmix(seed ^ uint64(i)*0x9e3779b97f4a7c15)
	const mant = 1<<52 - 1
	var p float64
	switch i % 5 {
	case 0:
		p = math.Float64frombits(0x3fe<<52 | x&mant) // [0.5, 1)
	case 1:
		p = math.Nextafter(1.0/3, 0) * (1 + float64(x>>40)/(1<<24))
	case 2:
		p = -math.Float64frombits(0x001<<52 | x&mant) // tiny normal, negative
	case 3:
		p = math.Float64frombits(x & mant) // subnormal
	case 4:
		p = math.Nextafter(math.Pi*float64(i+1), math.Inf(1))
	}
	lo := uint64(i) * (1 << 40) / uint64(max(n, 1))
	return transport.Message{
		Worker:    uint32(i),
		Lo:        lo,
		Hi:        lo + 1 + x>>24,
		ElapsedNs: int64(x >> 1),
		Partial:   p,
		Sum:       Sum(x, i),
	}
}

// Sum is an exact accumulator made from x for worker i: a few dozen terms
// with random exponents over the whole finite range and both signs (so
// most limbs are non-zero), some cancelling, subnormals, and for some i
// also -0 alone, +Inf, -Inf or NaN.
func Sum(x uint64, i int) superacc.Acc {
	var a superacc.Acc
	switch i % 7 {
	case 5:
		a.Add(math.Copysign(0, -1)) // an exact -0 sum
		return a
	case 6:
		a.Add([]float64{math.Inf(1), math.Inf(-1), math.NaN()}[x%3])
	}
	for k := range 24 + int(x%17) {
		y := splitmix(x + uint64(k))
		t := math.Float64frombits(y&^(0x7ff<<52) | (y>>40)%0x7ff<<52) // any finite double
		a.Add(t)
		if k%5 == 0 {
			a.Add(-t * 0.5) // half of it cancels
		}
	}
	a.Add(math.SmallestNonzeroFloat64)
	return a
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// Same reports whether a and b are equal: Partial bit for bit, and Sum as
// the same normalized accumulator (the same exact sum and the same counts
// of each kind of input).
func Same(a, b transport.Message) bool {
	x, y := a.Sum, b.Sum
	x.Normalize()
	y.Normalize()
	return a.Worker == b.Worker && a.Elem == b.Elem && max(a.Elems, 1) == max(b.Elems, 1) && a.Lo == b.Lo && a.Hi == b.Hi && a.ElapsedNs == b.ElapsedNs &&
		math.Float64bits(a.Partial) == math.Float64bits(b.Partial) && x == y
}

// Encode returns m's record.
func Encode(m transport.Message) []byte {
	b, _ := m.AppendBinary(nil)
	return b
}

// Collector is a collector made by NewCollector, with its backend and
// Options.Dir (a fresh temp dir of the test's).
type Collector struct {
	transport.Collector
	Backend transport.Backend
	Dir     string
}

// NewCollector makes a collector, skipping kinds this OS lacks and redis
// when url is ""; Close is registered for cleanup.
func NewCollector(tb testing.TB, kind string, n int, url string) *Collector {
	tb.Helper()
	if kind == "redis" && url == "" {
		tb.Skip("redis-server not on PATH")
	}
	dir := tb.TempDir()
	col, err := transport.NewCollector(context.Background(), kind, transport.Options{Workers: n, RedisURL: url, Dir: dir})
	if errors.Is(err, transport.ErrUnsupported) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { col.Close() })
	b := col.(interface{ Backend() transport.Backend }).Backend()
	return &Collector{Collector: col, Backend: b, Dir: dir}
}

// Children are real child processes: the test binary re-executed.
type Children struct {
	cmds   []*exec.Cmd
	stderr []*bytes.Buffer
	errs   []error
	done   []chan struct{}
}

// Spawn starts n children the way the engine does: Child(i), start with
// the env and ExtraFiles, Started(i), and Exited(i) after a zero exit.
// mode(i) is child i's behaviour (ModeOK, ...). With col nil the children
// get no transport (ModeNone). The children are killed at cleanup.
func Spawn(tb testing.TB, col transport.Collector, n int, seed uint64, mode func(i int) string) *Children {
	tb.Helper()
	ch, err := startChildren(col, n, seed, mode)
	tb.Cleanup(ch.Kill)
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

func startChildren(col transport.Collector, n int, seed uint64, mode func(i int) string) (*Children, error) {
	ch := &Children{
		cmds:   make([]*exec.Cmd, n),
		stderr: make([]*bytes.Buffer, n),
		errs:   make([]error, n),
		done:   make([]chan struct{}, n),
	}
	for i := range n {
		var env []string
		var files []*os.File
		if col != nil {
			var err error
			if env, files, err = col.Child(i); err != nil {
				return ch, err
			}
		}
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), env...)
		cmd.Env = append(cmd.Env,
			envTestChild+"="+mode(i),
			fmt.Sprintf("%s=%d", envTestSeed, seed),
			fmt.Sprintf("%s=%d", envTestWorkers, n))
		cmd.ExtraFiles = files
		ch.stderr[i] = new(bytes.Buffer)
		cmd.Stderr = ch.stderr[i]
		if err := cmd.Start(); err != nil {
			return ch, err
		}
		ch.cmds[i] = cmd
		ch.done[i] = make(chan struct{})
		if col == nil {
			go func() { defer close(ch.done[i]); ch.errs[i] = cmd.Wait() }()
			continue
		}
		col.Started(i)
		go func() {
			defer close(ch.done[i])
			ch.errs[i] = cmd.Wait()
			if ch.errs[i] == nil {
				col.Exited(i)
			}
		}()
	}
	return ch, nil
}

// Wait waits for every child and returns their exit errors, with stderr.
func (ch *Children) Wait() error {
	var errs []error
	for i, d := range ch.done {
		if d == nil {
			continue
		}
		<-d
		if ch.errs[i] != nil {
			errs = append(errs, fmt.Errorf("child %d: %v: %s", i, ch.errs[i], ch.stderr[i]))
		}
	}
	return errors.Join(errs...)
}

// Done is closed when child i has exited.
func (ch *Children) Done(i int) <-chan struct{} { return ch.done[i] }

// Kill kills every child and waits for it.
func (ch *Children) Kill() {
	for i, cmd := range ch.cmds {
		if cmd != nil {
			cmd.Process.Kill()
			<-ch.done[i]
		}
	}
}

// All gives every child mode m.
func All(m string) func(int) string { return func(int) string { return m } }

func kindSeed(kind string, n int) uint64 {
	return uint64(slices.Index(transport.Kinds(), kind)+1)<<32 | uint64(n)
}

// CountFDs returns the number of open descriptors, or -1 where
// /proc/self/fd does not list them.
func CountFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// Suite is the conformance tests of some kinds.
type Suite struct {
	Kinds    []string
	RedisURL string // for kind redis; "" skips it
	// Leftovers, if not nil, returns a check that lists the named
	// resources of b outside its Options.Dir that still exist (queues,
	// redis keys); the suite checks Options.Dir itself.
	Leftovers func(b transport.Backend) func() []string
	// AfterCollect, if not nil, looks at a backend after a good run of n
	// workers, before Close.
	AfterCollect func(t *testing.T, b transport.Backend, n int)
}

// leftovers returns a function that lists the named resources of col that
// still exist.
func (s Suite) leftovers(col *Collector) func() []string {
	var check func() []string
	if s.Leftovers != nil {
		check = s.Leftovers(col.Backend)
	}
	return func() []string {
		var left []string
		ents, err := os.ReadDir(col.Dir)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			left = append(left, err.Error())
		}
		for _, e := range ents {
			left = append(left, col.Dir+"/"+e.Name())
		}
		if check != nil {
			left = append(left, check()...)
		}
		return left
	}
}

// TestCollect runs every kind with real children and checks that each
// message arrives bit for bit and that Close leaves nothing behind.
func (s Suite) TestCollect(t *testing.T) {
	for _, kind := range s.Kinds {
		t.Run("kind="+kind, func(t *testing.T) {
			for _, n := range []int{1, 3, 16} {
				t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
					s.testCollect(t, kind, n)
				})
			}
		})
	}
}

func (s Suite) testCollect(t *testing.T, kind string, n int) {
	fds := CountFDs()
	col := NewCollector(t, kind, n, s.RedisURL)
	left := s.leftovers(col)
	seed := kindSeed(kind, n)
	ch := Spawn(t, col, n, seed, All(ModeOK))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := col.Collect(ctx)
	if werr := ch.Wait(); werr != nil {
		t.Error(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("Collect returned %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if want := Message(seed, i, n); !Same(m, want) {
			t.Errorf("worker %d: got %+v, want %+v", i, m, want)
		}
	}
	if again, err := col.Collect(ctx); err != nil || len(again) != n {
		t.Errorf("second Collect = %d messages, %v", len(again), err)
	}
	if s.AfterCollect != nil {
		s.AfterCollect(t, col.Backend, n)
	}
	if err := col.Close(); err != nil {
		t.Fatal(err)
	}
	if err := col.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if l := left(); len(l) > 0 {
		t.Errorf("left after Close: %v", l)
	}
	if after := CountFDs(); after != fds {
		t.Errorf("%d open descriptors after Close, %d before", after, fds)
	}
}

// perWorker reports whether a kind knows which worker a record came from.
func perWorker(kind string) bool {
	switch kind {
	case "file", "pipe", "socketpair", "unix", "tcp", "sysvmq":
		return true
	}
	return false
}

// TestMisbehaving runs three workers of which worker 1 misbehaves, and
// checks the error Collect returns and that Close still cleans up.
func (s Suite) TestMisbehaving(t *testing.T) {
	const n = 3
	type want struct {
		err     error
		text    string // in the error
		timeout time.Duration
	}
	cases := []struct {
		mode string
		want func(kind string) want
	}{
		{ModeGarbage, func(kind string) want {
			if perWorker(kind) {
				return want{transport.ErrMalformed, "worker 1: ", 0}
			}
			return want{transport.ErrMalformed, "bad record magic", 0}
		}},
		{ModeCorrupt, func(kind string) want {
			if perWorker(kind) {
				return want{transport.ErrMalformed, "worker 1: transport: record checksum", 0}
			}
			return want{transport.ErrMalformed, "record claiming worker 1: transport: record checksum", 0}
		}},
		{ModeShort, func(kind string) want {
			if perWorker(kind) {
				return want{transport.ErrMalformed, "worker 1", 0}
			}
			return want{transport.ErrMalformed, "", 0}
		}},
		{ModeLong, func(kind string) want {
			if perWorker(kind) {
				return want{transport.ErrMalformed, "worker 1", 0}
			}
			return want{transport.ErrMalformed, "", 0}
		}},
		{ModeDup, func(kind string) want {
			if perWorker(kind) {
				return want{transport.ErrWrongWorker, "worker 1 sent a record for worker 0", 0}
			}
			return want{transport.ErrDuplicate, "worker 0 reported twice", 0}
		}},
		{ModeRange, func(kind string) want {
			return want{transport.ErrWorkerRange, fmt.Sprintf("worker %d", n+5), 0}
		}},
		{ModeNone, func(kind string) want {
			switch kind {
			case "file", "pipe", "socketpair": // noticed at exit or EOF
				return want{transport.ErrMissing, "worker 1 ", 0}
			}
			return want{transport.ErrMissing, "missing workers [1]", time.Second}
		}},
		{ModeHang, func(kind string) want {
			return want{context.DeadlineExceeded, "missing workers [1]", time.Second}
		}},
	}
	for _, kind := range s.Kinds {
		t.Run("kind="+kind, func(t *testing.T) {
			for _, tc := range cases {
				t.Run("mode="+tc.mode, func(t *testing.T) {
					if kind == "posixmq" && tc.mode == ModeLong {
						t.Skip("the kernel enforces mq_msgsize: the sender gets EMSGSIZE")
					}
					w := tc.want(kind)
					col := NewCollector(t, kind, n, s.RedisURL)
					left := s.leftovers(col)
					ch := Spawn(t, col, n, kindSeed(kind, n), func(i int) string {
						if i == 1 {
							return tc.mode
						}
						return ModeOK
					})
					timeout := w.timeout
					if timeout == 0 {
						timeout = 30 * time.Second
					} else {
						// A short deadline: let the good workers finish first
						// (children of a -race binary start slowly).
						<-ch.Done(0)
						<-ch.Done(2)
					}
					ctx, cancel := context.WithTimeout(context.Background(), timeout)
					defer cancel()
					msgs, err := col.Collect(ctx)
					if err == nil {
						t.Fatalf("Collect succeeded with %+v", msgs)
					}
					t.Logf("Collect: %v", err)
					if !errors.Is(err, w.err) {
						t.Errorf("error does not wrap %v", w.err)
					}
					if !strings.Contains(err.Error(), w.text) {
						t.Errorf("error does not mention %q", w.text)
					}
					if err := col.Close(); err != nil {
						t.Error(err)
					}
					ch.Kill()
					if l := left(); len(l) > 0 {
						t.Errorf("left after Close: %v", l)
					}
				})
			}
		})
	}
}

// TestCloseDuringCollect checks that Close unblocks Collect promptly, with
// every receiver blocked (the children never send).
func (s Suite) TestCloseDuringCollect(t *testing.T) {
	for _, kind := range s.Kinds {
		t.Run("kind="+kind, func(t *testing.T) {
			col := NewCollector(t, kind, 2, s.RedisURL)
			left := s.leftovers(col)
			ch := Spawn(t, col, 2, 1, All(ModeHang))
			defer ch.Kill()
			errc := make(chan error, 1)
			go func() {
				_, err := col.Collect(context.Background())
				errc <- err
			}()
			time.Sleep(50 * time.Millisecond)
			start := time.Now()
			if err := col.Close(); err != nil {
				t.Error(err)
			}
			closed := time.Since(start)
			select {
			case err := <-errc:
				if !errors.Is(err, transport.ErrClosed) {
					t.Errorf("Collect = %v, want ErrClosed", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Collect still blocked 2s after Close")
			}
			t.Logf("Close took %v", closed)
			if closed > 500*time.Millisecond {
				t.Errorf("Close took %v", closed)
			}
			if l := left(); len(l) > 0 {
				t.Errorf("left after Close: %v", l)
			}
		})
	}
}

// TestCloseUnused closes collectors that never started a child.
func (s Suite) TestCloseUnused(t *testing.T) {
	for _, kind := range s.Kinds {
		t.Run("kind="+kind, func(t *testing.T) {
			fds := CountFDs()
			col := NewCollector(t, kind, 4, s.RedisURL)
			left := s.leftovers(col)
			if _, _, err := col.Child(0); err != nil { // made but never started
				t.Fatal(err)
			}
			if err := col.Close(); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) > 0 {
				t.Errorf("left after Close: %v", l)
			}
			if after := CountFDs(); after != fds {
				t.Errorf("%d open descriptors after Close, %d before", after, fds)
			}
			if _, _, err := col.Child(1); !errors.Is(err, transport.ErrClosed) {
				t.Errorf("Child after Close = %v, want ErrClosed", err)
			}
			if _, err := col.Collect(context.Background()); !errors.Is(err, transport.ErrClosed) {
				t.Errorf("Collect after Close = %v, want ErrClosed", err)
			}
		})
	}
}

// BenchmarkCollect measures one whole run per op: NewCollector, n real
// child processes that each Send one message, Collect, waiting for the
// children, and Close. Kind "none" is the baseline: the same children
// started and waited for, with no transport (they exit without sending).
func (s Suite) BenchmarkCollect(b *testing.B) {
	for _, kind := range s.Kinds {
		b.Run("kind="+kind, func(b *testing.B) {
			for _, n := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
					if kind != "none" {
						NewCollector(b, kind, n, s.RedisURL).Close() // skip what this OS or host lacks
					}
					dir := b.TempDir()
					for b.Loop() {
						runtime.KeepAlive(s.benchRun(b, kind, n, dir))
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/worker")
				})
			}
		})
	}
}

func (s Suite) benchRun(b *testing.B, kind string, n int, dir string) []transport.Message {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if kind == "none" {
		ch, err := startChildren(nil, n, 1, All(ModeNone))
		if err == nil {
			err = ch.Wait()
		}
		if err != nil {
			ch.Kill()
			b.Fatal(err)
		}
		return nil
	}
	col, err := transport.NewCollector(ctx, kind, transport.Options{Workers: n, RedisURL: s.RedisURL, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	ch, err := startChildren(col, n, 1, All(ModeOK))
	var msgs []transport.Message
	if err == nil {
		msgs, err = col.Collect(ctx)
	}
	if err != nil {
		col.Close()
		ch.Kill()
		b.Fatal(err)
	}
	if err := ch.Wait(); err != nil {
		b.Fatal(err)
	}
	if err := col.Close(); err != nil {
		b.Fatal(err)
	}
	return msgs
}
