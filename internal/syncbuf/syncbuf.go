// Package syncbuf is an output buffer that goroutines may write at once:
// what a child process's stdout and stderr copiers (os/exec starts one
// each) and the reader of the collected text share.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects writes under a mutex. Limit, if above 0, bounds what it
// keeps: later writes are counted as written and dropped, so that a
// chatty process cannot fill memory.
type Buffer struct {
	Limit int

	mu sync.Mutex
	b  bytes.Buffer
}

// Write keeps p (or what fits under Limit) and always reports all of it
// written.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := p
	if s.Limit > 0 {
		keep = p[:min(len(p), max(s.Limit-s.b.Len(), 0))]
	}
	s.b.Write(keep)
	return len(p), nil
}

// String returns what was kept so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
