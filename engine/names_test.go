package engine

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/engine/partial"
)

// The package's own tests still say what the lab says (engine/lab): a
// whole config, the transports, the spawn methods. These names are the
// tests' alone.

type Config = config

// Run is one one-shot call as cfg says.
func Run(ctx context.Context, name string, cfg config) (Result, error) {
	if cfg.Mode != Redis { // the tests hand every transport the test binary's redis-server
		cfg.RedisURL = ""
	}
	return run(ctx, name, cfg, false)
}

const (
	File       strategy = "file"
	Pipe       strategy = "pipe"
	FIFO       strategy = "fifo"
	Unix       strategy = "unix"
	TCP        strategy = "tcp"
	Socketpair strategy = "socketpair"
	PosixMQ    strategy = "posixmq"
	SysVMQ     strategy = "sysvmq"
	Redis      strategy = "redis"
	Racy                = modeRacy

	Static  = schedStatic
	Dynamic = schedDynamic

	SpawnAuto = spawnAuto
	SpawnExec = spawnExec
	SpawnFork = spawnFork

	MaxN          = maxN
	MaxWorkers    = maxWorkers
	MaxK          = maxK
	MaxParams     = segment.MaxParamBytes
	MaxGrain      = maxGrain
	SmallGrainCap = smallGrainCap
	ProgressEvery = progressEvery
	Tolerance     = tolerance
)

// The lab's options and the catalog's functions, as the tests use them.

type Schedule = schedule

func WithSchedule(sc schedule) CallOption {
	return setCall(func(s *settings) { s.lab.Sched = string(sc) })
}
func WithChunk(k uint64) CallOption   { return setCall(func(s *settings) { s.lab.Chunk = k }) }
func WithPublish(k uint64) CallOption { return setCall(func(s *settings) { s.lab.Publish = k }) }
func WithTimeout(d time.Duration) CallOption {
	return setCall(func(s *settings) { s.lab.Timeout = d })
}
func WithMaxChunks(k int) PoolOption { return set(func(s *settings) { s.lab.MaxChunks = k }) }

// WithConfig sets every setting but N as cfg says.
func WithConfig(cfg config) PoolOption {
	return set(func(s *settings) {
		n := s.N
		s.config = cfg
		s.N = n
		s.lab = cfg.lab()
	})
}

type WaitPolicy = waitPolicy

const (
	WaitAdaptive          = waitAdaptive
	WaitActive            = waitActive
	WaitPassive           = waitPassive
	AdaptiveSpin          = adaptiveSpin
	ActiveSpin            = activeSpin
	DefaultInProcessBelow = defaultInProcessBelow
)

func WithWaitPolicy(p waitPolicy) PoolOption {
	return set(func(s *settings) { s.lab.Wait = string(p) })
}

func DefaultGrain(n uint64) uint64   { return defaultGrain(n) }
func Modes() []strategy              { return modes() }
func (m strategy) IsTransport() bool { return m.isTransport() }
func BuildID() string                { return buildID() }
func FormatOps(ops []Op) string      { return fold.Format(ops) }
func FuncOps(name string) ([]Op, bool) {
	j, ok := lookup(name)
	return j.ops, ok
}
func ParseOps(s string) ([]Op, error) {
	var ops []Op
	for _, name := range strings.Split(s, ",") {
		op := Op(0)
		for _, o := range []Op{Sum, Min, Max} {
			if o.String() == name {
				op = o
			}
		}
		if op == 0 {
			return nil, fmt.Errorf("engine: %q is not an op (sum, min, max)", name)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// Validate checks c for the Func called name as a one-shot call would.
func (c config) Validate(name string) error {
	_, err := run(context.Background(), name, c, true)
	return err
}

// The ops, under the names the tests were written with (package partial
// holds them).
type Op = partial.Op

const (
	Sum = partial.Sum
	Min = partial.Min
	Max = partial.Max
)

// WithMode is lab.WithMode, which the package's own tests cannot import.
func WithMode(m strategy) CallOption { return setCall(func(s *settings) { s.lab.Mode = string(m) }) }
