package engine

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	// The unix, tcp and redis modes: engine does not link them itself.
	"github.com/pishm/pishm/transport"
	_ "github.com/pishm/pishm/transport/netsock"
	_ "github.com/pishm/pishm/transport/redis"
)

// transportLeftovers counts what a message-passing run could leave: private
// temp dirs, POSIX queues.
func transportLeftovers(t *testing.T) int {
	t.Helper()
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "pishm-transport-*"))
	queues, _ := os.ReadDir("/dev/mqueue")
	return len(dirs) + len(queues)
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
		base.Mode = Slots
		want, err := Run(context.Background(), base)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range transportModes {
			if mode == Redis && redisURL == "" {
				continue
			}
			cfg := base
			cfg.Mode = mode
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("%s, %d workers: %v", mode, workers, err)
			}
			if math.Float64bits(res.Sum) != math.Float64bits(want.Sum) {
				t.Errorf("%s, %d workers: S = %.17g, slots gave %.17g", mode, workers, res.Sum, want.Sum)
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
				res, err := Run(context.Background(), Config{N: 2_000_003, Workers: 3, Mode: mode, Publish: 100_000, RedisURL: redisURL})
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
	if _, err := Run(context.Background(), Config{N: 100, Mode: Pipe, Sched: Dynamic}); err == nil {
		t.Fatal("a transport mode ran with dynamic chunks")
	}
	// No server there: a clear error, not a hang.
	_, err := Run(context.Background(), Config{N: 100, Workers: 1, Mode: Redis, RedisURL: "redis://127.0.0.1:1/0"})
	if err == nil {
		t.Fatal("redis mode without a server succeeded")
	}
}

// TestTransportNamesAgree: the engine's message-passing modes are exactly
// the transport package's known kinds, so that neither list can grow alone.
func TestTransportNamesAgree(t *testing.T) {
	var modes []string
	for _, m := range transportModes {
		modes = append(modes, string(m))
	}
	if kinds := transport.Kinds(); fmt.Sprint(modes) != fmt.Sprint(kinds[:min(len(kinds), len(modes))]) || len(kinds) != len(modes) {
		t.Fatalf("engine modes %v, transport kinds %v", modes, kinds)
	}
}
