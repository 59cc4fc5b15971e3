// Package redistest runs a throwaway redis-server for tests and benchmarks
// (see package redisserver), stopped at cleanup.
//
// Tests call Start, which skips the test when redis-server is not on PATH
// (CI installs it: apt-get install redis-server). Programs use
// redisserver.NewServer and Server.Stop, which do not link testing.
package redistest

import (
	"errors"
	"testing"

	"github.com/pishm/pishm/internal/redisserver"
)

// Start starts a redis-server for tb, or skips tb when none is installed,
// and stops it in tb.Cleanup. It returns the server's URL.
func Start(tb testing.TB) (url string) {
	tb.Helper()
	return Server(tb).URL
}

// Server is Start for a test that needs the server itself (to restart or
// freeze it) or more redis-server options (args, as redisserver.NewServer
// takes them).
func Server(tb testing.TB, args ...string) *redisserver.Server {
	tb.Helper()
	s, err := redisserver.NewServer(args...)
	if errors.Is(err, redisserver.ErrNotInstalled) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}
