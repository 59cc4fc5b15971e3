package queue

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultOutage is how long a redis outage may last before a coordinator
// or worker gives up (CoordinateOptions.Outage, WorkerOptions.Outage).
const DefaultOutage = 30 * time.Second

// ErrOutage is wrapped by the error of a coordinator or worker that could
// not reach redis-server for its whole outage window.
var ErrOutage = errors.New("queue: redis unreachable")

// transient reports whether err may go away by itself: a network error or
// timeout, a server still loading its data set or failing over. A script
// error, a wrong type or bad credentials will not.
func transient(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) {
		s := re.Error()
		for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "READONLY"} {
			if strings.HasPrefix(s, p) {
				return true
			}
		}
		return false
	}
	return true
}

// retrier retries transient errors with exponential backoff (50 ms
// doubling to 1 s) for as long as the failures have lasted less than
// window; the clock starts when the first failing attempt after a success
// began, so a loop that keeps calling do sees one window per outage. No
// attempt outlives the window: a server that stopped answering (SIGSTOP, a
// partition) holds a command until its deadline, not for the client's read
// timeout and retries, so an outage of window is reported after window,
// not several times that.
type retrier struct {
	window time.Duration
	since  time.Time // start of the first failed attempt of the current outage, zero if none
}

func (r *retrier) do(ctx context.Context, what string, f func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		start := time.Now()
		end := start.Add(r.window)
		if !r.since.IsZero() {
			end = r.since.Add(r.window)
		}
		actx, cancel := context.WithDeadline(ctx, end)
		err := f(actx)
		cancel()
		if !transient(err) || ctx.Err() != nil {
			if err == nil {
				r.since = time.Time{}
			}
			return err
		}
		if r.since.IsZero() {
			r.since = start
		}
		if time.Since(r.since) >= r.window {
			return fmt.Errorf("%w for %v (%s: %v)", ErrOutage, r.window, what, err)
		}
		t := time.NewTimer(min(backoff, time.Until(r.since.Add(r.window))+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		backoff = min(2*backoff, time.Second)
	}
}

// errorf is fmt.Errorf("queue: "+format, args...) with no second "queue: "
// where a wrapped error of this package says it again ("queue: job x:
// queue: redis unreachable" reads "queue: job x: redis unreachable");
// errors.Is and errors.As see the wrapped errors as fmt.Errorf's would.
func errorf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &queueError{msg: "queue: " + strings.ReplaceAll(err.Error(), "queue: ", ""), err: err}
}

type queueError struct {
	msg string
	err error // the fmt.Errorf error, which wraps the arguments' errors
}

func (e *queueError) Error() string { return e.msg }
func (e *queueError) Unwrap() error { return e.err }
