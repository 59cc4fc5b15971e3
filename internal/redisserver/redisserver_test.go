package redisserver

import (
	"context"
	"errors"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func newServer(t *testing.T) *Server {
	t.Helper()
	s, err := NewServer()
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewServer(t *testing.T) {
	s := newServer(t)
	defer s.Stop()
	if !strings.HasPrefix(s.URL, "redis://127.0.0.1:") || !strings.HasSuffix(s.URL, "/0") {
		t.Fatalf("url = %q", s.URL)
	}
	if err := ping(s.Addr); err != nil {
		t.Fatal(err)
	}
}

func TestStop(t *testing.T) {
	s := newServer(t)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if c, err := net.Dial("tcp", s.Addr); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Stop", s.Addr)
	}
}

// TestRestart: a server with an append-only file keeps its data over a
// Restart, on the same address; one without comes back empty.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	for _, durable := range []bool{true, false} {
		var args []string
		if durable {
			args = []string{"--appendonly", "yes", "--appendfsync", "always"}
		}
		s, err := NewServer(args...)
		if errors.Is(err, ErrNotInstalled) {
			t.Skip(err)
		}
		if err != nil {
			t.Fatal(err)
		}
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.Restart(); err != nil {
			t.Fatal(err)
		}
		v, err := c.Get(ctx, "k").Result()
		if durable && v != "v" || !durable && !errors.Is(err, redis.Nil) {
			t.Errorf("durable %v: after Restart, k = %q (%v)", durable, v, err)
		}
		c.Close()
		if err := s.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}

// A three-master cluster comes up with every slot served.
func TestNewCluster(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip(err)
	}
	c, err := NewCluster(3)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	info, err := command(c.Servers[1].Addr, "CLUSTER", "INFO")
	if err != nil || !strings.Contains(info, "cluster_slots_assigned:16384") {
		t.Errorf("CLUSTER INFO: %v\n%s", err, info)
	}
	if !strings.HasPrefix(c.URL, "redis://"+c.Servers[0].Addr+"?addr=") || strings.Count(c.URL, "addr=") != 2 {
		t.Errorf("URL %q", c.URL)
	}
}
