package transport

import (
	"context"
	"fmt"
	"math"
	"os"
	"strconv"
	"testing"
	"time"
)

// The test binary is also the child: with envTestChild set, TestMain sends
// (or misbehaves, per the mode) and exits instead of running tests.
const (
	envTestChild   = "PISHM_TRANSPORT_TEST_CHILD"
	envTestSeed    = "PISHM_TRANSPORT_TEST_SEED"
	envTestWorkers = "PISHM_TRANSPORT_TEST_WORKERS"
)

// Child modes.
const (
	modeOK      = "ok"      // Send the test message
	modeNone    = "none"    // exit 0 without sending
	modeHang    = "hang"    // never send; killed by the test
	modeGarbage = "garbage" // a record-sized run of 0xa5
	modeShort   = "short"   // the first 20 bytes of the record
	modeLong    = "long"    // the record and 10 more bytes
	modeDup     = "dup"     // a good record that claims worker 0
	modeRange   = "range"   // a good record that claims worker Workers+5
	modeWrong   = "wrong"   // Send a message for another worker: must fail (exit 3)
)

func TestMain(m *testing.M) {
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
	if mode == modeNone {
		return 0
	}
	env, err := childEnvFrom(os.Getenv)
	if err != nil {
		return fail(err)
	}
	seed, err1 := strconv.ParseUint(os.Getenv(envTestSeed), 10, 64)
	n, err2 := strconv.Atoi(os.Getenv(envTestWorkers))
	if err1 != nil || err2 != nil {
		return fail(fmt.Errorf("%s / %s not set", envTestSeed, envTestWorkers))
	}
	msg := testMessage(seed, int(env.worker), n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rec := encode(msg)
	switch mode {
	case modeOK:
		err = Send(ctx, msg)
	case modeHang:
		time.Sleep(time.Minute)
		return 0
	case modeGarbage:
		for i := range rec {
			rec[i] = 0xa5
		}
		err = sendRaw(ctx, env, rec)
	case modeShort:
		err = sendRaw(ctx, env, rec[:20])
	case modeLong:
		err = sendRaw(ctx, env, append(rec, make([]byte, 10)...))
	case modeDup:
		msg.Worker = 0
		err = sendRaw(ctx, env, encode(msg))
	case modeRange:
		msg.Worker = uint32(n + 5)
		err = sendRaw(ctx, env, encode(msg))
	case modeWrong:
		msg.Worker++
		if err := Send(ctx, msg); err != nil {
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

// testMessage is worker i's message in the run with this seed: partials
// with full 53-bit significands, subnormals and values one ulp off round
// numbers, so any loss of bits shows.
func testMessage(seed uint64, i, n int) Message {
	x := splitmix(seed ^ uint64(i)*0x9e3779b97f4a7c15)
	const mant = 1<<52 - 1
	var p float64
	switch i % 5 {
	case 0:
		p = math.Float64frombits(0x3fe<<52 | x&mant) // [0.5, 1)
	case 1:
		p = math.Nextafter(1.0/3, 0) * (1 + float64(x>>40)/(1<<24))
	case 2:
		p = -math.Float64frombits(0x001<<52 | x&mant) // tiny normal, negative
	case 3:
		p = math.Float64frombits(x & mant) // subnormal
	case 4:
		p = math.Nextafter(math.Pi*float64(i+1), math.Inf(1))
	}
	lo := uint64(i) * (1 << 40) / uint64(max(n, 1))
	return Message{
		Worker:    uint32(i),
		Lo:        lo,
		Hi:        lo + 1 + x>>24,
		ElapsedNs: int64(x >> 1),
		Partial:   p,
	}
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}
