package transport

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// sink keeps benchmark results alive.
var sink []Message

// BenchmarkCollect measures one whole run per op: NewCollector, n real
// child processes that each Send one message, Collect, waiting for the
// children, and Close. kind=none is the baseline: the same children
// started and waited for, with no transport (they exit without sending).
func BenchmarkCollect(b *testing.B) {
	url := redisURL(b)
	for _, kind := range append([]string{"none"}, Kinds()...) {
		b.Run("kind="+kind, func(b *testing.B) {
			for _, n := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
					if kind != "none" {
						newTestCollector(b, kind, n, url).Close() // skip what this OS or host lacks
					}
					dir := b.TempDir()
					for b.Loop() {
						sink = benchRun(b, kind, n, url, dir)
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/worker")
				})
			}
		})
	}
}

func benchRun(b *testing.B, kind string, n int, url, dir string) []Message {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if kind == "none" {
		ch, err := startChildren(nil, n, 1, allMode(modeNone))
		if err == nil {
			err = ch.wait()
		}
		if err != nil {
			ch.kill()
			b.Fatal(err)
		}
		return nil
	}
	col, err := NewCollector(ctx, kind, Options{Workers: n, RedisURL: url, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	ch, err := startChildren(col, n, 1, allMode(modeOK))
	var msgs []Message
	if err == nil {
		msgs, err = col.Collect(ctx)
	}
	if err != nil {
		col.Close()
		ch.kill()
		b.Fatal(err)
	}
	if err := ch.wait(); err != nil {
		b.Fatal(err)
	}
	if err := col.Close(); err != nil {
		b.Fatal(err)
	}
	return msgs
}
