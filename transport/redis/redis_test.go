package redis

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/pishm/pishm/internal/redistest"
	"github.com/pishm/pishm/transport"
	"github.com/pishm/pishm/transport/internal/transporttest"
)

// The test binary is also the child (see transporttest.Main).
func TestMain(m *testing.M) { transporttest.Main(m) }

// suite starts a redis-server for tb when one is installed; without one
// the redis cases skip.
func suite(tb testing.TB) transporttest.Suite {
	s := transporttest.Suite{Kinds: []string{"redis"}, Leftovers: leftovers}
	if _, err := exec.LookPath("redis-server"); err == nil {
		s.RedisURL = redistest.Start(tb)
	}
	return s
}

// leftovers checks that the run's keys are gone.
func leftovers(b transport.Backend) func() []string {
	rb := b.(*redisBackend)
	url, keys := rb.url, []string{redisQueue(rb.base), redisAlive(rb.base)}
	return func() []string {
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
}

func TestCollect(t *testing.T)            { suite(t).TestCollect(t) }
func TestMisbehaving(t *testing.T)        { suite(t).TestMisbehaving(t) }
func TestCloseDuringCollect(t *testing.T) { suite(t).TestCloseDuringCollect(t) }
func TestCloseUnused(t *testing.T)        { suite(t).TestCloseUnused(t) }
func BenchmarkCollect(b *testing.B)       { suite(b).BenchmarkCollect(b) }

func TestNewCollectorArgs(t *testing.T) {
	ctx := context.Background()
	// A redis URL with nothing listening fails at once, not at Collect.
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := transport.NewCollector(ctx, "redis", transport.Options{Workers: 1, RedisURL: "redis://" + addr}); err == nil {
		t.Error("redis with no server succeeded")
	}
	if _, err := transport.NewCollector(ctx, "redis", transport.Options{Workers: 1, RedisURL: "http://x"}); err == nil || !strings.Contains(err.Error(), "RedisURL") {
		t.Errorf("bad redis URL: %v", err)
	}
}
