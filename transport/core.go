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
	"slices"
	"strings"
	"sync"
)

// Backend is one kind's half of a Collector, made by its Kind.New. The
// Collector checks the arguments and serialises Child, Retry and Close;
// the Backend's methods get a worker index in [0, Workers). Receivers
// that it starts run under Core.GoRecv and deliver to the Core; they must
// return once the Core is closed and Shutdown has run.
type Backend interface {
	// Child returns the environment entries (beyond EnvKind and
	// EnvWorker, which the Collector adds) and files that worker i needs.
	Child(i int) (env []string, files []*os.File, err error)
	// Started: child i is running; close the parent's copies of its ends.
	Started(i int)
	// Exited: child i exited with status 0.
	Exited(i int)
	// Retry drops worker i's channel from a process that died, so that
	// Child(i) can make a fresh one.
	Retry(i int)
	// Shutdown unblocks every receiver (close descriptors, wake queues).
	// It runs once, after the Core is closed.
	Shutdown() error
	// Remove deletes the named resources; it runs after the receivers
	// have returned.
	Remove() error
}

// Core is the state every kind shares: which workers reported what, and
// the first error. A Backend's receivers report to it with Deliver, Fail,
// Missing and RecvStream.
type Core struct {
	kind    string
	workers int
	elems   int // records per worker (Options.Elems)
	// tolerant: a worker's channel closing without a record is noted, not
	// fatal, because the caller may restart the worker (Options.Retries).
	tolerant bool

	mu       sync.Mutex
	msgs     []Message // worker i's element e at i*elems+e
	have     []bool    // indexed as msgs
	children []bool    // Child(i) was called since the last Retry(i)
	retried  []bool    // Retry(i) was called: an identical second record is dropped
	notes    []string  // why a worker's channel closed without a record
	count    int
	err      error
	finished bool
	done     chan struct{} // closed when all reported or err != nil

	// life orders Child (read side) before Close (write side), so that no
	// receiver is started after shutdown.
	life      sync.RWMutex
	closed    chan struct{} // closed by Close, under life, before Shutdown
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup // receivers
}

func newCore(kind string, workers, elems int) *Core {
	return &Core{
		kind:     kind,
		workers:  workers,
		elems:    elems,
		msgs:     make([]Message, workers*elems),
		have:     make([]bool, workers*elems),
		children: make([]bool, workers),
		retried:  make([]bool, workers),
		notes:    make([]string, workers),
		done:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
}

// Kind is the run's kind.
func (c *Core) Kind() string { return c.kind }

// Workers is the run's number of workers (Options.Workers).
func (c *Core) Workers() int { return c.workers }

// IsClosed reports whether Close has begun: a receiver that sees it
// returns quietly.
func (c *Core) IsClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// GoRecv runs f as a receiver: Close waits for it to return (after
// Backend.Shutdown) before Backend.Remove.
func (c *Core) GoRecv(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// Fail records err as the run's outcome unless one is already known.
// Errors after Close are dropped: they are the receivers shutting down.
func (c *Core) Fail(err error) {
	if c.IsClosed() {
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

// Deliver validates one record and counts it. from is the worker whose
// private channel carried it, or -1 for a channel shared by all workers.
// A bad record fails the run.
func (c *Core) Deliver(from int, rec []byte) {
	if c.IsClosed() {
		return
	}
	m, err := Decode(rec)
	if err != nil {
		switch w, ok := claimedWorker(rec); {
		case from >= 0:
			c.Fail(fmt.Errorf("worker %d: %w", from, err))
		case ok:
			c.Fail(fmt.Errorf("record claiming worker %d: %w", w, err))
		default:
			c.Fail(fmt.Errorf("record from an unknown worker: %w", err))
		}
		return
	}
	if m.Worker >= uint32(c.workers) {
		if from >= 0 {
			c.Fail(fmt.Errorf("worker %d sent a record for worker %d, want [0,%d): %w", from, m.Worker, c.workers, ErrWorkerRange))
		} else {
			c.Fail(fmt.Errorf("record for worker %d, want [0,%d): %w", m.Worker, c.workers, ErrWorkerRange))
		}
		return
	}
	if from >= 0 && m.Worker != uint32(from) {
		c.Fail(fmt.Errorf("worker %d sent a record for worker %d: %w", from, m.Worker, ErrWrongWorker))
		return
	}
	if m.Elems != uint32(c.elems) {
		c.Fail(fmt.Errorf("worker %d sent a record of %d elements, want %d: %w", m.Worker, m.Elems, c.elems, ErrMalformed))
		return
	}
	at := int(m.Worker)*c.elems + int(m.Elem)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.finished {
		return
	}
	if c.have[at] {
		if first := c.msgs[at]; c.retried[m.Worker] && sameResult(first, m) {
			return // a retried worker's record, and the dead attempt's matched it
		}
		what := fmt.Sprintf("worker %d", m.Worker)
		if c.elems > 1 {
			what += fmt.Sprintf(" element %d", m.Elem)
		}
		c.err = fmt.Errorf("transport: %s: %s reported twice: %w", c.kind, what, ErrDuplicate)
		c.finished = true
		close(c.done)
		return
	}
	c.have[at] = true
	c.msgs[at] = m
	c.count++
	if c.count == len(c.msgs) {
		c.finished = true
		close(c.done)
	}
}

// sameResult reports whether two records of one worker carry the same
// result: range, Partial bit for bit and Sum (decoded Sums are normalized,
// so equal accumulators are equal structs). ElapsedNs may differ.
func sameResult(a, b Message) bool {
	return a.Lo == b.Lo && a.Hi == b.Hi && math.Float64bits(a.Partial) == math.Float64bits(b.Partial) && a.Sum == b.Sum
}

// Missing reports that worker i closed its channel without sending; how
// says what happened ("exited without ..."). With Options.Retries it is a
// note for Collect's error, else it fails the run.
func (c *Core) Missing(i int, how string) {
	if c.tolerant {
		c.mu.Lock()
		c.notes[i] = how
		c.mu.Unlock()
		return
	}
	c.Fail(fmt.Errorf("worker %d %s: %w", i, how, ErrMissing))
}

func (c *Core) collect(ctx context.Context) ([]Message, error) {
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

func (c *Core) missingErr(cause error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var miss []string
	n := 0
	for i := range c.workers {
		if !slices.Contains(c.have[i*c.elems:(i+1)*c.elems], false) {
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
		c.kind, c.workers-n, c.workers, list, ErrMissing, cause)
}

// collector binds a Core to its Backend.
type collector struct {
	*Core
	b Backend
}

// Backend returns the kind's backend, for tests that look inside it.
func (c *collector) Backend() Backend { return c.b }

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
	if c.IsClosed() {
		return nil, nil, fmt.Errorf("transport: %s: child %d: %w", c.kind, i, ErrClosed)
	}
	env, files, err := c.b.Child(i)
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
	if c.IsClosed() {
		return fmt.Errorf("transport: %s: retry %d: %w", c.kind, i, ErrClosed)
	}
	c.mu.Lock()
	c.children[i] = false
	c.retried[i] = true
	c.notes[i] = ""
	c.mu.Unlock()
	c.b.Retry(i)
	return nil
}

func (c *collector) Started(i int) {
	if i >= 0 && i < c.workers {
		c.b.Started(i)
	}
}

func (c *collector) Exited(i int) {
	if i >= 0 && i < c.workers && !c.IsClosed() {
		c.b.Exited(i)
	}
}

func (c *collector) Collect(ctx context.Context) ([]Message, error) { return c.collect(ctx) }

func (c *collector) Close() error {
	c.closeOnce.Do(func() {
		c.life.Lock()
		close(c.closed)
		c.life.Unlock()
		err1 := c.b.Shutdown()
		c.wg.Wait()
		err2 := c.b.Remove()
		if err := errors.Join(err1, err2); err != nil {
			c.closeErr = fmt.Errorf("transport: %s: close: %w", c.kind, err)
		}
	})
	return c.closeErr
}

// readRecords reads a worker's records from its private stream up to EOF.
// It returns at most n·MessageSize+1 bytes, so a stream with more than n
// records is seen to be.
func readRecords(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, n*MessageSize+1)
	n, err := io.ReadFull(r, buf)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		err = nil
	}
	return buf[:n], err
}

// RecvStream is the receiver of worker i's private stream (pipe,
// socketpair, a record file, or a connection after its hello): one record
// per element (Options.Elems), then EOF. what names the stream in errors.
func (c *Core) RecvStream(i int, r io.Reader, what string) {
	want := c.elems * MessageSize
	recs, err := readRecords(r, c.elems)
	switch {
	case c.IsClosed():
	case err != nil:
		c.Fail(fmt.Errorf("worker %d: read %s: %w", i, what, err))
	case len(recs) == 0:
		c.Missing(i, "closed its "+what+" without sending a record")
	case len(recs) < want && c.tolerant:
		// A writer that died mid-record: the retry will send whole ones.
		c.Missing(i, fmt.Sprintf("closed its %s after %d of %d bytes", what, len(recs), want))
	case len(recs) > want:
		c.Fail(fmt.Errorf("worker %d sent more than %d records (over %d bytes) on its %s: %w", i, c.elems, want, what, ErrMalformed))
	case len(recs) < want:
		c.Deliver(i, recs) // not whole: Decode says how
	default:
		for k := 0; k < want; k += MessageSize {
			c.Deliver(i, recs[k:k+MessageSize])
		}
	}
}

// randomHex returns 2n random hex digits.
func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b)
}
