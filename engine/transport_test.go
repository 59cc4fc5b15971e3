package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pishm/pishm/internal/proc"
	// The unix, tcp and redis modes: engine does not link them itself.
	"github.com/pishm/pishm/transport"
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

// transportLeftovers counts what a message-passing run of this process
// could leave: private temp dirs and POSIX queues whose names say this
// process made them. Other packages' tests, run at the same time by go
// test ./..., make and remove their own: counting those made the check
// fail without a leak.
func transportLeftovers(t *testing.T) int {
	t.Helper()
	ours := func(name, prefix string) bool {
		pid, _, ok := proc.ParseName(name, prefix)
		return ok && pid == os.Getpid()
	}
	n := 0
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), transport.DirPrefix+"*"))
	for _, d := range dirs {
		if ours(filepath.Base(d), transport.DirPrefix) {
			n++
		}
	}
	queues, _ := os.ReadDir("/dev/mqueue")
	for _, q := range queues {
		if ours(q.Name(), transport.MQPrefix) {
			n++
		}
	}
	return n
}

func checkTransportClean(t *testing.T) {
	t.Helper()
	checkClean(t)
	before := transportLeftovers(t)
	t.Cleanup(func() {
		if after := transportLeftovers(t); after > before {
			t.Errorf("transport resources left: %d before, %d after", before, after)
		}
	})
}

// Every transport gives an S bit-identical to the slots mode at the same n,
// workers and kernel, and exact.
func TestTransportsMatchSlots(t *testing.T) {
	checkTransportClean(t)
	redisURL := testRedisURL
	for _, workers := range []int{1, 3, 12} {
		base := Config{N: 10_000_019, Workers: workers, Publish: 1_000_003, RedisURL: redisURL}
		base.Mode = modeSlots
		want, err := Run(context.Background(), "oddsq", base)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range transportModes {
			if mode == Redis && redisURL == "" {
				continue
			}
			cfg := base
			cfg.Mode = mode
			res, err := Run(context.Background(), "oddsq", cfg)
			if err != nil {
				t.Fatalf("%s, %d workers: %v", mode, workers, err)
			}
			if math.Float64bits(res.Value) != math.Float64bits(want.Value) {
				t.Errorf("%s, %d workers: S = %.17g, slots gave %.17g", mode, workers, res.Value, want.Value)
			}
			checkExact(t, res)
		}
	}
}

// A worker killed at any point of a message-passing run is retried, and
// the dead attempt's channel is cleaned up with the rest.
func TestTransportKill(t *testing.T) {
	checkTransportClean(t)
	redisURL := testRedisURL
	for _, mode := range transportModes {
		for _, point := range []string{"attach", "sum", "done"} {
			t.Run(string(mode)+"/"+point, func(t *testing.T) {
				if mode == Redis && redisURL == "" {
					t.Skip("no redis-server installed")
				}
				t.Setenv("PISHM_TEST_KILL", "1:"+point+":1:1")
				res, err := Run(context.Background(), "oddsq", Config{N: 2_000_003, Workers: 3, Mode: mode, Publish: 100_000, RedisURL: redisURL})
				if err != nil {
					t.Fatal(err)
				}
				checkExact(t, res)
				if len(res.Failures) != 1 || res.Failures[0].Worker != 1 {
					t.Fatalf("failures %+v", res.Failures)
				}
			})
		}
	}
}

func TestTransportNeedsStatic(t *testing.T) {
	if _, err := Run(context.Background(), "oddsq", Config{N: 100, Mode: Pipe, Sched: Dynamic}); err == nil {
		t.Fatal("a transport mode ran with dynamic chunks")
	}
	// No server there: a clear error, not a hang.
	_, err := Run(context.Background(), "oddsq", Config{N: 100, Workers: 1, Mode: Redis, RedisURL: "redis://127.0.0.1:1/0"})
	if err == nil {
		t.Fatal("redis mode without a server succeeded")
	}
}

// TestTransportNamesAgree: the engine's message-passing modes come from
// the transport package's list of kinds, and its Mode constants name
// exactly those, each with the segment code the list gives it.
func TestTransportNamesAgree(t *testing.T) {
	consts := []strategy{File, Pipe, FIFO, Unix, TCP, Socketpair, PosixMQ, SysVMQ, Redis}
	if fmt.Sprint(consts) != fmt.Sprint(transportModes) {
		t.Fatalf("engine Mode constants %v, transport kinds %v", consts, transportModes)
	}
	for _, m := range consts {
		if c := modeCode[m]; c == 0 || c != transport.Code(string(m)) {
			t.Errorf("mode %s has code %d", m, c)
		}
		if got, ok := modeOf(modeCode[m]); !ok || got != m {
			t.Errorf("modeOf(%d) = %v, %v", modeCode[m], got, ok)
		}
	}
}

// TestReproducibleTransports is TestReproducible for the message-passing
// modes: every adversarial Func, every transport (redis when a server
// runs), random worker counts and publish intervals. The result is made
// from the messages' exact sums, so it must be the contract's bit pattern,
// the same as the slots mode's.
func TestReproducibleTransports(t *testing.T) {
	checkTransportClean(t)
	const n = 2_000_003
	rng := rand.New(rand.NewPCG(2026, 13))
	withURL := set(func(s *settings) {
		if strategy(s.lab.Mode) == Redis {
			s.lab.RedisURL = testRedisURL
		}
	})
	modes := slices.DeleteFunc(slices.Clone(transportModes), func(m strategy) bool { return m == Redis && testRedisURL == "" })
	t.Logf("modes %v", modes)
	for _, f := range reproFuncs {
		t.Run(f.name, func(t *testing.T) {
			want := reproWant(f.name, n)
			same := func(v float64) bool {
				return math.Float64bits(v) == math.Float64bits(want) || math.IsNaN(v) && math.IsNaN(want)
			}
			slots, err := Reduce(context.Background(), f.name, n, WithWorkers(1+rng.IntN(16)), WithMode(modeSlots))
			if err != nil {
				t.Fatal(err)
			}
			if !same(slots.Value) {
				t.Fatalf("slots: %v (%#x), want %v (%#x)", slots.Value, math.Float64bits(slots.Value), want, math.Float64bits(want))
			}
			for _, mode := range modes {
				w := 1 + rng.IntN(16)
				step := uint64(1 + rng.IntN(400_000))
				how := fmt.Sprintf("mode=%s/workers=%d/step=%d", mode, w, step)
				r, err := Reduce(context.Background(), f.name, n, WithWorkers(w), WithMode(mode), WithPublish(step), withURL)
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if !same(r.Value) {
					t.Errorf("%s: %v (%#x), slots and the contract %v (%#x)", how, r.Value, math.Float64bits(r.Value), want, math.Float64bits(want))
				}
			}
		})
	}
}

// envTamper names the worker of the test binary that, in the file mode,
// rewrites its record after sending it (a well-formed record whose Sum is
// one subnormal more than its journal's, its Partial unchanged), so that
// the parent's check of the messages against the journals has something
// to catch.
const envTamper = "PISHM_TEST_TAMPER"

func init() {
	if !IsChild() || os.Getenv(envTamper) == "" || os.Getenv(envTamper) != os.Getenv(envWorker) {
		return
	}
	faultHook = func(point string) {
		if point != "done" {
			return
		}
		path := os.Getenv(transport.EnvAddr)
		b, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		m, err := transport.Decode(b)
		if err != nil {
			panic(err)
		}
		m.Sum.Add(math.SmallestNonzeroFloat64)
		rec, _ := m.AppendBinary(nil)
		if err := os.WriteFile(path, rec, 0o600); err != nil {
			panic(err)
		}
	}
}

// A message whose exact sum is not its worker's journal's fails the call,
// naming the worker, even when it rounds to the same value.
func TestTransportMessageChecked(t *testing.T) {
	checkTransportClean(t)
	t.Setenv(envTamper, "1")
	_, err := Run(context.Background(), "oddsq", Config{N: 1_000_003, Workers: 3, Mode: File})
	if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "worker 1's message for element 0 carries an exact sum") {
		t.Fatalf("Run with a tampered message = %v, want the journal check's ErrProtocol", err)
	}
	t.Logf("%v", err)
}
