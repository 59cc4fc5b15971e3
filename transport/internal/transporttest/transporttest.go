// Package transporttest runs package transport's conformance tests
// against any registered kind, with real child processes: the test binary
// re-executes itself as the child (see Main). transport, transport/netsock
// and transport/redis each run it for their own kinds.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/pishm/pishm/transport"
)

// The test binary is also the child: with envTestChild set, Main sends
// (or misbehaves, per the mode) and exits instead of running tests.
const (
	envTestChild   = "PISHM_TRANSPORT_TEST_CHILD"
	envTestSeed    = "PISHM_TRANSPORT_TEST_SEED"
	envTestWorkers = "PISHM_TRANSPORT_TEST_WORKERS"
)

// Child modes.
const (
	ModeOK      = "ok"      // Send the test message
	ModeNone    = "none"    // exit 0 without sending
	ModeHang    = "hang"    // never send; killed by the test
	ModeGarbage = "garbage" // a record-sized run of 0xa5
	ModeCorrupt = "corrupt" // a good record with one bit of its Sum flipped
	ModeShort   = "short"   // the first 20 bytes of the record
	ModeLong    = "long"    // the record and 10 more bytes
	ModeDup     = "dup"     // a good record that claims worker 0
	ModeRange   = "range"   // a good record that claims worker Workers+5
	ModeWrong   = "wrong"   // Send a message for another worker: must fail (exit 3)
)

// Main is the TestMain of a package that uses Spawn or CheckGC: in a child
// it sends and exits (or makes a collector and waits to be killed), else
// it runs the tests.
func Main(m *testing.M) {
	if kind := os.Getenv(envTestCreate); kind != "" {
		os.Exit(creatorMain(kind))
	}
	if mode := os.Getenv(envTestChild); mode != "" {
		os.Exit(childMain(mode))
	}
	os.Exit(m.Run())
}

func childMain(mode string) int {
	fail := func(err error) int {
		fmt.Fprintf(os.Stderr, "test child (%s): %v\n", mode, err)
		return 1
	}
	if mode == ModeNone {
		return 0
	}
	env, err := transport.ReadChildEnv(os.Getenv)
	if err != nil {
		return fail(err)
	}
	seed, err1 := strconv.ParseUint(os.Getenv(envTestSeed), 10, 64)
	n, err2 := strconv.Atoi(os.Getenv(envTestWorkers))
	if err1 != nil || err2 != nil {
		return fail(fmt.Errorf("%s / %s not set", envTestSeed, envTestWorkers))
	}
	msg := Message(seed, int(env.Worker), n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := Encode(msg)
	switch mode {
	case ModeOK:
		err = transport.Send(ctx, msg)
	case ModeHang:
		time.Sleep(time.Minute)
		return 0
	case ModeGarbage:
		for i := range rec {
			rec[i] = 0xa5
		}
		err = transport.SendRecord(ctx, env, rec)
	case ModeCorrupt:
		rec[len(rec)-100] ^= 0x10 // in the Sum's digits
		err = transport.SendRecord(ctx, env, rec)
	case ModeShort:
		err = transport.SendRecord(ctx, env, rec[:20])
	case ModeLong:
		err = transport.SendRecord(ctx, env, append(rec, make([]byte, 10)...))
	case ModeDup:
		msg.Worker = 0
		err = transport.SendRecord(ctx, env, Encode(msg))
	case ModeRange:
		msg.Worker = uint32(n + 5)
		err = transport.SendRecord(ctx, env, Encode(msg))
	case ModeWrong:
		msg.Worker++
		if err := transport.Send(ctx, msg); err != nil {
			return 3
		}
		return 0
	default:
		err = fmt.Errorf("unknown mode")
	}
	if err != nil {
		return fail(err)
	}
	return 0
}

// Collector is a collector made by NewCollector, with its backend and
// Options.Dir (a fresh temp dir of the test's).
type Collector struct {
	transport.Collector
	Backend transport.Backend
	Dir     string
}

// NewCollector makes a collector, skipping kinds this OS lacks and redis
// when url is ""; Close is registered for cleanup.
func NewCollector(tb testing.TB, kind string, n int, url string) *Collector {
	tb.Helper()
	if kind == "redis" && url == "" {
		tb.Skip("redis-server not on PATH")
	}
	dir := tb.TempDir()
	col, err := transport.NewCollector(context.Background(), kind, transport.Options{Workers: n, RedisURL: url, Dir: dir})
	if errors.Is(err, transport.ErrUnsupported) {
		tb.Skip(err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { col.Close() })
	b := col.(interface{ Backend() transport.Backend }).Backend()
	return &Collector{Collector: col, Backend: b, Dir: dir}
}

func kindSeed(kind string, n int) uint64 {
	return uint64(slices.Index(transport.Kinds(), kind)+1)<<32 | uint64(n)
}

// CountFDs returns the number of open descriptors, or -1 where
// /proc/self/fd does not list them.
func CountFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
