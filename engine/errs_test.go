package engine

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/pishm/pishm/engine/internal/segment"
)

// A job a worker cannot honour is ErrProtocol, whatever is wrong with it.
func TestJobCheckIsErrProtocol(t *testing.T) {
	l := segment.NewLayout(2, 128, 0, 16, 64, 4)
	sum := func(k int) []Op {
		ops := make([]Op, k)
		for i := range ops {
			ops[i] = Sum
		}
		return ops
	}
	good := segment.JobSpec{N: 100, Step: 100, Grain: 10, Mode: modeCode[modeSlots], K: 1, Workers: 2}
	copy(good.Name[:], "squares")
	if err := checkJob(&good, l, sum); err != nil {
		t.Fatalf("a good job: %v", err)
	}
	for name, spoil := range map[string]func(*segment.JobSpec){
		"no terms":          func(j *segment.JobSpec) { j.N = 0 },
		"grain 0":           func(j *segment.JobSpec) { j.Grain = 0 },
		"too many elements": func(j *segment.JobSpec) { j.K = 5 },
		"too many params":   func(j *segment.JobSpec) { j.Params = 65 },
		"static chunks":     func(j *segment.JobSpec) { j.Chunks = 3 },
		"bad name":          func(j *segment.JobSpec) { j.Name[0] = 0x01 },
		"no workers":        func(j *segment.JobSpec) { j.Workers = 0 },
		"too many workers":  func(j *segment.JobSpec) { j.Workers = 3 },
	} {
		j := good
		spoil(&j)
		if err := checkJob(&j, l, sum); !errors.Is(err, ErrProtocol) {
			t.Errorf("%s: %v, want ErrProtocol", name, err)
		}
	}
	if err := checkJob(&good, l, func(k int) []Op { return make([]Op, k) }); !errors.Is(err, ErrProtocol) {
		t.Errorf("op 0: %v, want ErrProtocol", err)
	}
}

// A pool whose dead worker cannot be replaced is broken: the call that
// found it fails, and every later call returns ErrPoolBroken at once.
func TestPoolBrokenWhenNoReplacementStarts(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Skip(err)
	}
	// The workers run a copy of this test binary, removed once they run:
	// a replacement cannot start.
	bin := filepath.Join(t.TempDir(), "worker")
	copyFile(t, self, bin)
	ctx := context.Background()
	p, err := NewPool(ctx, WithConfig(Config{Workers: 2, WorkerBinary: bin, Retries: 1}), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := p.Reduce(ctx, "embed-sleep", 1<<20); err != nil {
		t.Fatalf("the first call: %v", err)
	}
	os.Remove(bin)
	if _, err := p.Reduce(ctx, "exit-in-call", 1<<20); err == nil {
		t.Fatal("a call whose worker died and could not be replaced succeeded")
	}
	if _, err := p.Reduce(ctx, "embed-sleep", 1<<20); !errors.Is(err, ErrPoolBroken) {
		t.Errorf("the call after: %v, want ErrPoolBroken", err)
	}
}

func init() {
	// exit-in-call ends its worker on the piece that holds term 1000.
	Register("exit-in-call", func(_ []byte, lo, hi uint64) float64 {
		if lo <= 1000 && 1000 < hi {
			os.Exit(3)
		}
		return float64(hi - lo)
	}, []Op{Sum})
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A Func's panic reads the same wherever it happened: in a worker process
// (slots), on a goroutine of the caller (goroutines), or in the caller's
// share. Each is a *WorkerError wrapping ErrFuncPanicked with the same
// Func, piece and cause; only the pid says which process it was.
func TestPanicReadsTheSameEverywhere(t *testing.T) {
	const n = 200_000
	var got []*WorkerError
	for _, opts := range [][]PoolOption{
		{WithWorkers(1), WithMode(modeSlots)},
		{WithWorkers(1), WithMode(modeGoroutines)},
		{WithWorkers(1), WithMode(modeSlots), WithCallerShare(true)},
	} {
		_, err := Reduce(context.Background(), "test-panic", n, append(opts, WithGrain(1<<16))...)
		var we *WorkerError
		if !errors.As(err, &we) || !errors.Is(err, ErrFuncPanicked) || errors.Is(err, ErrWorkerDied) {
			t.Fatalf("%v: want a *WorkerError wrapping ErrFuncPanicked alone", err)
		}
		got = append(got, we)
	}
	for _, we := range got[1:] {
		if we.Worker != got[0].Worker || we.How != got[0].How || we.Func != got[0].Func || we.Lo != got[0].Lo || we.Hi != got[0].Hi || we.Cause != got[0].Cause {
			t.Errorf("%+v\nreads otherwise than the worker process's\n%+v", we, got[0])
		}
	}
	if got[0].Pid == os.Getpid() || got[1].Pid != os.Getpid() || got[2].Pid != os.Getpid() {
		t.Errorf("pids %d %d %d: want a worker's, then the caller's twice", got[0].Pid, got[1].Pid, got[2].Pid)
	}
}

// A Pool call that does not fit the Pool's capacities is a *ConfigError
// naming the setting, as every usage error is.
func TestPoolCapacityIsConfigError(t *testing.T) {
	p, err := NewPool(context.Background(), WithWorkers(1), WithMaxParams(8), WithMaxK(1), WithMaxChunks(2), WithInProcessBelow(0))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, c := range []struct {
		field string
		call  func() error
	}{
		{"Params", func() error {
			_, err := p.Reduce(context.Background(), "oddsq", 1000, WithParams(make([]byte, 9)))
			return err
		}},
		{"Chunk", func() error {
			_, err := p.Reduce(context.Background(), "oddsq", 1<<20, WithDynamic(1<<10))
			return err
		}},
		{"MaxK", func() error {
			_, err := p.Reduce(context.Background(), vecName, 1000)
			return err
		}},
	} {
		var ce *ConfigError
		if err := c.call(); !errors.Is(err, ErrConfig) || !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%s: %v, want a *ConfigError of %s", c.field, err, c.field)
		}
	}
}
