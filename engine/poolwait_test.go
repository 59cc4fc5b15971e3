package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/engine/partial"
)

func init() {
	// sleepy sleeps 50 ms per term: a call long enough to queue behind.
	engine.Register("sleepy", func(_ []byte, lo, hi uint64) float64 {
		time.Sleep(time.Duration(hi-lo) * 50 * time.Millisecond)
		return float64(hi - lo)
	}, []partial.Op{partial.Sum})
}

// A call that waits for the pool honours its context: it returns the
// context's error when it ends, and never runs on the workers. Before
// this test, the call waited on a mutex for the call before it, then ran
// expired.
func TestPoolCallWaitingHonoursContext(t *testing.T) {
	ctx := context.Background()
	p, err := engine.NewPool(ctx, engine.WithWorkers(1), engine.WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	long, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := p.Reduce(long, "sleepy", 1_000_000, engine.WithGrain(1))
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // the long call usually holds the pool by now; either order passes
	short, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Reduce(short, "sleepy", 4, engine.WithGrain(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("a cancelled call: %v, want context.Canceled", err)
	}
	stop()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the long call: %v, want context.Canceled", err)
	}
	if r, err := p.Reduce(ctx, "sleepy", 2, engine.WithGrain(1)); err != nil || r.Value != 2 {
		t.Errorf("the pool after: %v, %v", r.Value, err)
	}
}

// Closed is closed: Close stops a call in progress, which returns
// ErrPoolClosed (Close waited for it to end before: for ever, for a Func
// that sleeps), and a call of any size after Close returns ErrPoolClosed
// (a small call ran in process and succeeded before).
func TestPoolClosedIsClosed(t *testing.T) {
	ctx := context.Background()
	for _, caller := range []bool{false, true} {
		p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(1<<20), engine.WithCallerShare(caller))
		if err != nil {
			t.Fatal(err)
		}
		started := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			close(started)
			_, err := p.Reduce(ctx, "sleepy", 1<<21, engine.WithGrain(1)) // a day unless stopped
			done <- err
		}()
		<-started
		time.Sleep(20 * time.Millisecond) // usually mid-call by now; either order passes
		closed := make(chan error, 1)
		go func() { closed <- p.Close() }()
		select {
		case err := <-closed:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(time.Minute): // bounds only a broken run
			t.Fatal("Close waited for the call in progress")
		}
		if err := <-done; !errors.Is(err, engine.ErrPoolClosed) {
			t.Errorf("caller share %v: the call Close stopped: %v, want ErrPoolClosed", caller, err)
		}
		for _, n := range []uint64{10, 1 << 22} {
			if _, err := p.Reduce(ctx, "squares", n); !errors.Is(err, engine.ErrPoolClosed) {
				t.Errorf("n=%d after Close: %v, want ErrPoolClosed", n, err)
			}
		}
	}
}

// A Progress callback that panics fails its call with the panic, one-shot
// and on a Pool, and the pool serves the next call; before, the panic
// unwound out of Pool.Reduce.
func TestProgressPanicIsTheCallsError(t *testing.T) {
	ctx := context.Background()
	boom := engine.WithProgress(func(engine.Progress) { panic("boom") })
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Reduce(ctx, "squares", 1<<20, boom); err == nil || !strings.Contains(err.Error(), "Progress callback panicked: boom") {
		t.Errorf("pool: %v, want the panic as the error", err)
	}
	if r, err := p.Reduce(ctx, "squares", 1000); err != nil || r.Value != 332833500 {
		t.Errorf("the pool after: %v, %v", r.Value, err)
	}
	for _, m := range []lab.Mode{lab.Slots, lab.Goroutines} {
		if _, err := engine.Reduce(ctx, "squares", 1<<20, boom, lab.WithMode(m), engine.WithWorkers(2)); err == nil || !strings.Contains(err.Error(), "boom") {
			t.Errorf("%s: %v, want the panic as the error", m, err)
		}
	}
}

// reenterPool is the Pool the "reenter" Func calls from the caller's
// share (nil in the workers, where the Func just counts).
var (
	reenterPool *engine.Pool
	reenterErr  = make(chan error, 1024)
)

func init() {
	engine.Register("reenter", func(_ []byte, lo, hi uint64) float64 {
		if reenterPool != nil {
			_, err := reenterPool.Reduce(context.Background(), "squares", 1<<21)
			select {
			case reenterErr <- err:
			default:
			}
		}
		return float64(hi - lo)
	}, []partial.Op{partial.Sum})
}

// A Func that calls its own Pool from the caller's share gets a
// *ConfigError naming CallerShare at once; it waited for ever before, whatever its deadline.
func TestPoolReentrantCallRefused(t *testing.T) {
	ctx := context.Background()
	p, err := engine.NewPool(ctx, engine.WithWorkers(2), engine.WithInProcessBelow(0), engine.WithCallerShare(true))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	reenterPool = p
	defer func() { reenterPool = nil }()
	done := make(chan error, 1)
	go func() {
		r, err := p.Reduce(ctx, "reenter", 1<<22)
		if err == nil && r.Value != 1<<22 {
			err = errors.New("wrong sum")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the outer call: %v", err)
		}
	case <-time.After(time.Minute): // bounds only a broken run
		t.Fatal("the outer call never returned: the inner call deadlocked")
	}
	var ce *engine.ConfigError
	if err := <-reenterErr; !errors.Is(err, engine.ErrConfig) || !errors.As(err, &ce) || ce.Field != "CallerShare" {
		t.Errorf("the inner call: %v, want a *ConfigError of CallerShare", err)
	}
}
