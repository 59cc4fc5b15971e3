package transporttest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/transport"
)

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
