package transporttest

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/pishm/pishm/transport"
)

// BenchmarkCollectInProcess is BenchmarkCollect without the processes:
// one op is NewCollector, n senders run in this process from what Child
// returned (a dup of the inherited descriptor, the env as Send would read
// it), Collect and Close. It shows the transport's own cost, which the
// ~2-5 ms of starting a child hides in BenchmarkCollect.
func (s Suite) BenchmarkCollectInProcess(b *testing.B) {
	for _, kind := range s.Kinds {
		b.Run("kind="+kind, func(b *testing.B) {
			for _, n := range []int{1, 4, 16} {
				b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
					NewCollector(b, kind, n, s.RedisURL).Close() // skip what this host lacks
					dir := b.TempDir()
					for b.Loop() {
						runtime.KeepAlive(s.benchInProcess(b, kind, n, dir))
					}
					b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/worker")
				})
			}
		})
	}
}

func (s Suite) benchInProcess(b *testing.B, kind string, n int, dir string) []transport.Message {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	col, err := transport.NewCollector(ctx, kind, transport.Options{Workers: n, RedisURL: s.RedisURL, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer col.Close()
	errc := make(chan error, n)
	for i := range n {
		env, files, err := col.Child(i)
		if err != nil {
			b.Fatal(err)
		}
		ce, err := transport.ReadChildEnv(lookup(env))
		if err != nil {
			b.Fatal(err)
		}
		if len(files) > 0 {
			if ce.FD, err = unix.Dup(int(files[0].Fd())); err != nil {
				b.Fatal(err)
			}
		}
		col.Started(i)
		go func() {
			err := transport.SendRecord(ctx, ce, Encode(Message(1, i, n)))
			if err == nil {
				col.Exited(i)
			}
			errc <- err
		}()
	}
	for range n {
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	msgs, err := col.Collect(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if err := col.Close(); err != nil {
		b.Fatal(err)
	}
	return msgs
}

// lookup makes a getenv over KEY=VALUE entries.
func lookup(env []string) func(string) string {
	return func(key string) string {
		for _, kv := range env {
			if k, v, ok := strings.Cut(kv, "="); ok && k == key {
				return v
			}
		}
		return ""
	}
}
