package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/internal/redistest"
)

// redisURL starts a redis-server for tb when one is installed, else "".
func redisURL(tb testing.TB) string {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return ""
	}
	return redistest.Start(tb)
}

// newTestCollector makes a collector, skipping kinds this OS lacks and
// redis when no server runs; Close is registered for cleanup.
func newTestCollector(tb testing.TB, kind string, n int, url string) *collector {
	tb.Helper()
	if kind == "redis" && url == "" {
		tb.Skip("redis-server not on PATH")
	}
	col, err := NewCollector(context.Background(), kind, Options{Workers: n, RedisURL: url, Dir: tb.TempDir()})
	if errors.Is(err, ErrUnsupported) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { col.Close() })
	return col.(*collector)
}

// leftovers returns a function that lists the named resources of col that
// still exist.
func leftovers(tb testing.TB, col *collector) func() []string {
	var dir string
	var osCheck func() []string
	switch b := col.b.(type) {
	case *fileBackend:
		dir = b.dir
	case *streamBackend:
		dir = b.dir
	case *redisBackend:
		url, keys := b.url, []string{redisQueue(b.base), redisAlive(b.base)}
		osCheck = func() []string {
			c, err := redisClient(url)
			if err != nil {
				return []string{err.Error()}
			}
			defer c.Close()
			n, err := c.Exists(context.Background(), keys...).Result()
			if err != nil || n != 0 {
				return []string{fmt.Sprintf("redis keys %v (exists=%d, %v)", keys, n, err)}
			}
			return nil
		}
	default:
		osCheck = osLeftovers(b)
	}
	return func() []string {
		var left []string
		if dir != "" {
			if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
				left = append(left, "dir "+dir)
			}
		}
		if osCheck != nil {
			left = append(left, osCheck()...)
		}
		return left
	}
}

// children are real child processes: the test binary re-executed.
type children struct {
	cmds   []*exec.Cmd
	stderr []*bytes.Buffer
	errs   []error
	done   []chan struct{}
}

// spawn starts n children the way the engine does: Child(i), start with
// the env and ExtraFiles, Started(i), and Exited(i) after a zero exit. The
// children are killed at cleanup.
func spawn(tb testing.TB, col Collector, n int, seed uint64, mode func(i int) string) *children {
	tb.Helper()
	ch, err := startChildren(col, n, seed, mode)
	tb.Cleanup(ch.kill)
	if err != nil {
		tb.Fatal(err)
	}
	return ch
}

func startChildren(col Collector, n int, seed uint64, mode func(i int) string) (*children, error) {
	ch := &children{
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

// wait waits for every child and returns their exit errors, with stderr.
func (ch *children) wait() error {
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

func (ch *children) kill() {
	for i, cmd := range ch.cmds {
		if cmd != nil {
			cmd.Process.Kill()
			<-ch.done[i]
		}
	}
}

func allMode(m string) func(int) string { return func(int) string { return m } }

func kindSeed(kind string, n int) uint64 {
	return uint64(slices.Index(kinds, kind)+1)<<32 | uint64(n)
}

func TestKinds(t *testing.T) {
	got := Kinds()
	want := []string{"file", "pipe", "fifo", "unix", "tcp", "socketpair", "posixmq", "sysvmq", "redis"}
	if !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Kinds()[0] != "file" {
		t.Fatal("Kinds returns the package's slice")
	}
}

// TestCollect runs every kind with real children and checks that each
// message arrives bit for bit and that Close leaves nothing behind.
func TestCollect(t *testing.T) {
	url := redisURL(t)
	for _, kind := range Kinds() {
		t.Run("kind="+kind, func(t *testing.T) {
			for _, n := range []int{1, 3, 16} {
				t.Run(fmt.Sprintf("workers=%d", n), func(t *testing.T) {
					testCollect(t, kind, n, url)
				})
			}
		})
	}
}

func testCollect(t *testing.T, kind string, n int, url string) {
	fds := countFDs()
	col := newTestCollector(t, kind, n, url)
	left := leftovers(t, col)
	seed := kindSeed(kind, n)
	ch := spawn(t, col, n, seed, allMode(modeOK))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	msgs, err := col.Collect(ctx)
	if werr := ch.wait(); werr != nil {
		t.Error(werr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("Collect returned %d messages, want %d", len(msgs), n)
	}
	for i, m := range msgs {
		if want := testMessage(seed, i, n); !sameMessage(m, want) {
			t.Errorf("worker %d: got %+v, want %+v", i, m, want)
		}
	}
	if again, err := col.Collect(ctx); err != nil || len(again) != n {
		t.Errorf("second Collect = %d messages, %v", len(again), err)
	}
	if kind == "file" {
		checkFileModes(t, col.b.(*fileBackend), n)
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
	if after := countFDs(); after != fds {
		t.Errorf("%d open descriptors after Close, %d before", after, fds)
	}
}

func checkFileModes(t *testing.T, b *fileBackend, n int) {
	st, err := os.Stat(b.dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir %s: %v, %v; want mode 0700", b.dir, st.Mode(), err)
	}
	for i := range n {
		st, err := os.Stat(b.path(i))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", b.path(i), st.Mode(), err)
		}
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
func TestMisbehaving(t *testing.T) {
	url := redisURL(t)
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
		{modeGarbage, func(kind string) want {
			if perWorker(kind) {
				return want{ErrMalformed, "worker 1: ", 0}
			}
			return want{ErrMalformed, "bad record magic", 0}
		}},
		{modeShort, func(kind string) want {
			if perWorker(kind) {
				return want{ErrMalformed, "worker 1", 0}
			}
			return want{ErrMalformed, "", 0}
		}},
		{modeLong, func(kind string) want {
			if perWorker(kind) {
				return want{ErrMalformed, "worker 1", 0}
			}
			return want{ErrMalformed, "", 0}
		}},
		{modeDup, func(kind string) want {
			if perWorker(kind) {
				return want{ErrWrongWorker, "worker 1 sent a record for worker 0", 0}
			}
			return want{ErrDuplicate, "worker 0 reported twice", 0}
		}},
		{modeRange, func(kind string) want {
			return want{ErrWorkerRange, fmt.Sprintf("worker %d", n+5), 0}
		}},
		{modeNone, func(kind string) want {
			switch kind {
			case "file", "pipe", "socketpair": // noticed at exit or EOF
				return want{ErrMissing, "worker 1 ", 0}
			}
			return want{ErrMissing, "missing workers [1]", time.Second}
		}},
		{modeHang, func(kind string) want {
			return want{context.DeadlineExceeded, "missing workers [1]", time.Second}
		}},
	}
	for _, kind := range Kinds() {
		t.Run("kind="+kind, func(t *testing.T) {
			for _, tc := range cases {
				t.Run("mode="+tc.mode, func(t *testing.T) {
					if kind == "posixmq" && tc.mode == modeLong {
						t.Skip("the kernel enforces mq_msgsize: the sender gets EMSGSIZE")
					}
					w := tc.want(kind)
					col := newTestCollector(t, kind, n, url)
					left := leftovers(t, col)
					ch := spawn(t, col, n, kindSeed(kind, n), func(i int) string {
						if i == 1 {
							return tc.mode
						}
						return modeOK
					})
					timeout := w.timeout
					if timeout == 0 {
						timeout = 30 * time.Second
					} else {
						// A short deadline: let the good workers finish first
						// (children of a -race binary start slowly).
						<-ch.done[0]
						<-ch.done[2]
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
					ch.kill()
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
func TestCloseDuringCollect(t *testing.T) {
	url := redisURL(t)
	for _, kind := range Kinds() {
		t.Run("kind="+kind, func(t *testing.T) {
			col := newTestCollector(t, kind, 2, url)
			left := leftovers(t, col)
			ch := spawn(t, col, 2, 1, allMode(modeHang))
			defer ch.kill()
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
				if !errors.Is(err, ErrClosed) {
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
func TestCloseUnused(t *testing.T) {
	url := redisURL(t)
	for _, kind := range Kinds() {
		t.Run("kind="+kind, func(t *testing.T) {
			fds := countFDs()
			col := newTestCollector(t, kind, 4, url)
			left := leftovers(t, col)
			if _, _, err := col.Child(0); err != nil { // made but never started
				t.Fatal(err)
			}
			if err := col.Close(); err != nil {
				t.Fatal(err)
			}
			if l := left(); len(l) > 0 {
				t.Errorf("left after Close: %v", l)
			}
			if after := countFDs(); after != fds {
				t.Errorf("%d open descriptors after Close, %d before", after, fds)
			}
			if _, _, err := col.Child(1); !errors.Is(err, ErrClosed) {
				t.Errorf("Child after Close = %v, want ErrClosed", err)
			}
			if _, err := col.Collect(context.Background()); !errors.Is(err, ErrClosed) {
				t.Errorf("Collect after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func TestChildArgs(t *testing.T) {
	col := newTestCollector(t, "file", 2, "")
	for _, i := range []int{-1, 2} {
		if _, _, err := col.Child(i); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Child(%d) = %v, want out of range", i, err)
		}
	}
	if _, _, err := col.Child(0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := col.Child(0); err == nil {
		t.Error("second Child(0) succeeded")
	}
}

func TestNewCollectorArgs(t *testing.T) {
	ctx := context.Background()
	if _, err := NewCollector(ctx, "file", Options{}); err == nil || !strings.Contains(err.Error(), "Workers must be > 0, got 0") {
		t.Errorf("Workers 0: %v", err)
	}
	if _, err := NewCollector(ctx, "carrier-pigeon", Options{Workers: 1}); err == nil || !strings.Contains(err.Error(), `"carrier-pigeon"`) {
		t.Errorf("unknown kind: %v", err)
	}
	// A redis URL with nothing listening fails at once, not at Collect.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := NewCollector(ctx, "redis", Options{Workers: 1, RedisURL: "redis://" + addr}); err == nil {
		t.Error("redis with no server succeeded")
	}
	if _, err := NewCollector(ctx, "redis", Options{Workers: 1, RedisURL: "http://x"}); err == nil || !strings.Contains(err.Error(), "RedisURL") {
		t.Errorf("bad redis URL: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv(envKind, "")
	if err := Send(ctx, Message{}); !errors.Is(err, ErrNotChild) {
		t.Errorf("Send without env = %v, want ErrNotChild", err)
	}
	path := t.TempDir() + "/rec"
	t.Setenv(envKind, "file")
	t.Setenv(envWorker, "2")
	t.Setenv(envAddr, path)
	if err := Send(ctx, Message{Worker: 1}); err == nil || !strings.Contains(err.Error(), "worker 2") {
		t.Errorf("Send for another worker = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused Send wrote %s", path)
	}
	if err := Send(ctx, Message{Worker: 2}); err != nil {
		t.Fatal(err)
	}
	if err := Send(ctx, Message{Worker: 2}); err == nil {
		t.Error("second Send to the same file succeeded (want O_EXCL failure)")
	}
}

// TestStrayConnection checks that a connection without the run's token is
// dropped instead of failing the run.
func TestStrayConnection(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run("kind="+kind, func(t *testing.T) {
			col := newTestCollector(t, kind, 1, "")
			addr := col.b.(*streamBackend).ln.Addr().String()
			var wg sync.WaitGroup
			for _, junk := range [][]byte{nil, bytes.Repeat([]byte{1}, helloSize+MessageSize)} {
				conn, err := net.Dial(kind, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				wg.Go(func() { conn.Write(junk) })
			}
			wg.Wait()
			ch := spawn(t, col, 1, 5, allMode(modeOK))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msgs, err := col.Collect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !sameMessage(msgs[0], testMessage(5, 0, 1)) {
				t.Errorf("got %+v", msgs[0])
			}
			if err := ch.wait(); err != nil {
				t.Error(err)
			}
		})
	}
}
