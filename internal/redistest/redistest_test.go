package redistest

import (
	"errors"
	"net"
	"strings"
	"testing"
)

func TestStart(t *testing.T) {
	url := Start(t)
	if !strings.HasPrefix(url, "redis://127.0.0.1:") || !strings.HasSuffix(url, "/0") {
		t.Fatalf("url = %q", url)
	}
	addr := strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
	if err := ping(addr); err != nil {
		t.Fatal(err)
	}
}

func TestStop(t *testing.T) {
	s, err := NewServer()
	if errors.Is(err, ErrNotInstalled) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
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
