package queue

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestRetrierBoundsAttempts: a server that stops answering holds each
// command until the deadline the retrier gives it, and the deadlines all
// end where the outage window does, counted from the first failing
// attempt's start: the outage is reported after its window, not after the
// client's read timeouts on top of it. The hung command is simulated by a
// function that blocks until its context ends.
func TestRetrierBoundsAttempts(t *testing.T) {
	const window = 300 * time.Millisecond
	r := &retrier{window: window}
	var first time.Time
	var deadlines []time.Time
	err := r.do(context.Background(), "ping", func(ctx context.Context) error {
		d, ok := ctx.Deadline()
		if !ok {
			t.Fatal("an attempt without a deadline")
		}
		if first.IsZero() {
			first = time.Now()
		}
		deadlines = append(deadlines, d)
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, ErrOutage) {
		t.Fatalf("err %v, want ErrOutage", err)
	}
	for i, d := range deadlines {
		if d.After(first.Add(window)) {
			t.Errorf("attempt %d: deadline %v after the first attempt's start, beyond the %v window", i, d.Sub(first), window)
		}
	}
	// After a success the next outage gets a window of its own.
	if err := r.do(context.Background(), "ping", func(context.Context) error { return nil }); err != nil || !r.since.IsZero() {
		t.Errorf("success: %v, since %v", err, r.since)
	}
	// A caller's cancel is not an outage.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.do(ctx, "ping", func(ctx context.Context) error { return ctx.Err() }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
}

// An error wrapped through the package's layers says "queue: " once, and
// stays errors.Is-able to what it wraps.
func TestErrorfSaysQueueOnce(t *testing.T) {
	err := errorf("job %s: %w", "x", errorf("claim: %w", ErrOutage))
	if got, want := err.Error(), "queue: job x: claim: redis unreachable"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, ErrOutage) {
		t.Error("the wrapped sentinel is lost")
	}
}
