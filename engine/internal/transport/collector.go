package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"sync"
)

// backend is one kind's half of a Collector. Receivers that it starts run
// under core.wg and deliver to the core; they must return once the core is
// closed and shutdown has run.
type backend interface {
	child(i int) (env []string, files []*os.File, err error)
	started(i int)
	exited(i int)
	// retry drops worker i's channel from a process that died, so that
	// child(i) can make a fresh one.
	retry(i int)
	// shutdown unblocks every receiver (close descriptors, wake queues).
	// It runs once, after core.closed is closed.
	shutdown() error
	// remove deletes the named resources; it runs after the receivers
	// have returned.
	remove() error
}

// core is the state every kind shares: which workers reported what, and
// the first error.
type core struct {
	kind    string
	workers int
	// tolerant: a worker's channel closing without a record is noted, not
	// fatal, because the caller may restart the worker (Options.Retries).
	tolerant bool

	mu       sync.Mutex
	msgs     []Message
	have     []bool
	children []bool   // Child(i) was called since the last Retry(i)
	retried  []bool   // Retry(i) was called: an identical second record is dropped
	notes    []string // why a worker's channel closed without a record
	count    int
	err      error
	finished bool
	done     chan struct{} // closed when all reported or err != nil

	// life orders Child (read side) before Close (write side), so that no
	// receiver is started after shutdown.
	life      sync.RWMutex
	closed    chan struct{} // closed by Close, under life, before shutdown
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // receivers
}

func newCore(kind string, workers int) *core {
	return &core{
		kind:     kind,
		workers:  workers,
		msgs:     make([]Message, workers),
		have:     make([]bool, workers),
		children: make([]bool, workers),
		retried:  make([]bool, workers),
		notes:    make([]string, workers),
		done:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

func (c *core) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// go runs f as a receiver.
func (c *core) goRecv(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// fail records err as the run's outcome unless one is already known.
// Errors after Close are dropped: they are the receivers shutting down.
func (c *core) fail(err error) {
	if c.isClosed() {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	c.err = fmt.Errorf("transport: %s: %w", c.kind, err)
	c.finished = true
	close(c.done)
}

// deliver validates one record. from is the worker whose private channel
// carried it, or -1 for a channel shared by all workers.
func (c *core) deliver(from int, rec []byte) {
	if c.isClosed() {
		return
	}
	m, err := Decode(rec)
	if err != nil {
		switch w, ok := claimedWorker(rec); {
		case from >= 0:
			c.fail(fmt.Errorf("worker %d: %w", from, err))
		case ok:
			c.fail(fmt.Errorf("record claiming worker %d: %w", w, err))
		default:
			c.fail(fmt.Errorf("record from an unknown worker: %w", err))
		}
		return
	}
	if m.Worker >= uint32(c.workers) {
		if from >= 0 {
			c.fail(fmt.Errorf("worker %d sent a record for worker %d, want [0,%d): %w", from, m.Worker, c.workers, ErrWorkerRange))
		} else {
			c.fail(fmt.Errorf("record for worker %d, want [0,%d): %w", m.Worker, c.workers, ErrWorkerRange))
		}
		return
	}
	if from >= 0 && m.Worker != uint32(from) {
		c.fail(fmt.Errorf("worker %d sent a record for worker %d: %w", from, m.Worker, ErrWrongWorker))
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	if c.have[m.Worker] {
		if first := c.msgs[m.Worker]; c.retried[m.Worker] && first.Lo == m.Lo && first.Hi == m.Hi &&
			math.Float64bits(first.Partial) == math.Float64bits(m.Partial) {
			return // a retried worker's record, and the dead attempt's matched it
		}
		c.err = fmt.Errorf("transport: %s: worker %d reported twice: %w", c.kind, m.Worker, ErrDuplicate)
		c.finished = true
		close(c.done)
		return
	}
	c.have[m.Worker] = true
	c.msgs[m.Worker] = m
	c.count++
	if c.count == c.workers {
		c.finished = true
		close(c.done)
	}
}

// missing reports that worker i closed its channel without sending.
func (c *core) missing(i int, how string) {
	if c.tolerant {
		c.mu.Lock()
		c.notes[i] = how
		c.mu.Unlock()
		return
	}
	c.fail(fmt.Errorf("worker %d %s: %w", i, how, ErrMissing))
}

func (c *core) collect(ctx context.Context) ([]Message, error) {
	select {
	case <-c.done:
	default:
		select {
		case <-c.done:
		case <-c.closed:
			return nil, fmt.Errorf("transport: %s: collect: %w", c.kind, ErrClosed)
		case <-ctx.Done():
			return nil, c.missingErr(ctx.Err())
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	return append([]Message(nil), c.msgs...), nil
}

func (c *core) missingErr(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var miss []string
	n := 0
	for i, ok := range c.have {
		if ok {
			continue
		}
		if n++; n <= 16 {
			if c.notes[i] != "" {
				miss = append(miss, fmt.Sprintf("%d (%s)", i, c.notes[i]))
			} else {
				miss = append(miss, fmt.Sprint(i))
			}
		}
	}
	list := strings.Join(miss, " ")
	if n > 16 {
		list += fmt.Sprintf(" ... (%d more)", n-16)
	}
	return fmt.Errorf("transport: %s: collect: %d of %d workers reported; missing workers [%s]: %w: %w",
		c.kind, c.count, c.workers, list, ErrMissing, cause)
}

// collector binds a core to its backend.
type collector struct {
	*core
	b backend
}

func (c *collector) Child(i int) ([]string, []*os.File, error) {
	if i < 0 || i >= c.workers {
		return nil, nil, fmt.Errorf("transport: %s: child %d out of range [0,%d)", c.kind, i, c.workers)
	}
	c.mu.Lock()
	again := c.children[i]
	c.children[i] = true
	c.mu.Unlock()
	if again {
		return nil, nil, fmt.Errorf("transport: %s: Child(%d) called twice", c.kind, i)
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.isClosed() {
		return nil, nil, fmt.Errorf("transport: %s: child %d: %w", c.kind, i, ErrClosed)
	}
	env, files, err := c.b.child(i)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: %s: child %d: %w", c.kind, i, err)
	}
	return append(commonEnv(c.kind, i), env...), files, nil
}

func (c *collector) Retry(i int) error {
	if i < 0 || i >= c.workers {
		return fmt.Errorf("transport: %s: retry %d out of range [0,%d)", c.kind, i, c.workers)
	}
	if !c.tolerant {
		return fmt.Errorf("transport: %s: Retry needs Options.Retries", c.kind)
	}
	c.life.RLock()
	defer c.life.RUnlock()
	if c.isClosed() {
		return fmt.Errorf("transport: %s: retry %d: %w", c.kind, i, ErrClosed)
	}
	c.mu.Lock()
	c.children[i] = false
	c.retried[i] = true
	c.notes[i] = ""
	c.mu.Unlock()
	c.b.retry(i)
	return nil
}

func (c *collector) Started(i int) {
	if i >= 0 && i < c.workers {
		c.b.started(i)
	}
}

func (c *collector) Exited(i int) {
	if i >= 0 && i < c.workers && !c.isClosed() {
		c.b.exited(i)
	}
}

func (c *collector) Collect(ctx context.Context) ([]Message, error) { return c.collect(ctx) }

func (c *collector) Close() error {
	c.closeOnce.Do(func() {
		c.life.Lock()
		close(c.closed)
		c.life.Unlock()
		err1 := c.b.shutdown()
		c.wg.Wait()
		err2 := c.b.remove()
		if err := errors.Join(err1, err2); err != nil {
			c.closeErr = fmt.Errorf("transport: %s: close: %w", c.kind, err)
		}
	})
	return c.closeErr
}

// readRecord reads one record from a per-worker stream up to EOF. It
// returns at most MessageSize+1 bytes, so a stream with more than one record
// fails to decode.
func readRecord(r io.Reader) ([]byte, error) {
	buf := make([]byte, MessageSize+1)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return buf[:n], err
}

// recvStream is the receiver of a per-worker stream (pipe, socketpair, or a
// connection after its hello): one record, then EOF.
func (c *core) recvStream(i int, r io.Reader, what string) {
	rec, err := readRecord(r)
	switch {
	case c.isClosed():
	case err != nil:
		c.fail(fmt.Errorf("worker %d: read %s: %w", i, what, err))
	case len(rec) == 0:
		c.missing(i, "closed its "+what+" without sending a record")
	case len(rec) < MessageSize && c.tolerant:
		// A writer that died mid-record: the retry will send a whole one.
		c.missing(i, fmt.Sprintf("closed its %s after %d of %d bytes", what, len(rec), MessageSize))
	case len(rec) > MessageSize:
		c.fail(fmt.Errorf("worker %d sent more than one record (over %d bytes) on its %s: %w", i, MessageSize, what, ErrMalformed))
	default:
		c.deliver(i, rec)
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}

// privateDir makes a 0700 temp dir under opt.Dir.
func privateDir(opt Options) (string, error) {
	return os.MkdirTemp(opt.Dir, "pishm-transport-*")
}
