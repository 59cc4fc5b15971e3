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
// window; the clock starts at the first failure after a success, so a
// loop that keeps calling do sees one window per outage.
type retrier struct {
	window time.Duration
	since  time.Time // first failure of the current outage, zero if none
}

func (r *retrier) do(ctx context.Context, what string, f func(context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		err := f(ctx)
		if !transient(err) || ctx.Err() != nil {
			if err == nil {
				r.since = time.Time{}
			}
			return err
		}
		if r.since.IsZero() {
			r.since = time.Now()
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
