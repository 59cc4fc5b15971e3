package redisserver

import (
	"errors"
	"net"
	"strings"
	"testing"
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
