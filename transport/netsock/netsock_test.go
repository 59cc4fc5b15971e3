package netsock

import (
	"bytes"
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/pishm/pishm/transport"
	"github.com/pishm/pishm/transport/internal/transporttest"
)

// The test binary is also the child (see transporttest.Main).
func TestMain(m *testing.M) { transporttest.Main(m) }

// suite: the unix socket lives in Options.Dir, which the suite checks.
var suite = transporttest.Suite{Kinds: []string{"unix", "tcp"}}

func TestCollect(t *testing.T)            { suite.TestCollect(t) }
func TestMisbehaving(t *testing.T)        { suite.TestMisbehaving(t) }
func TestCloseDuringCollect(t *testing.T) { suite.TestCloseDuringCollect(t) }
func TestCloseUnused(t *testing.T)        { suite.TestCloseUnused(t) }
func BenchmarkCollect(b *testing.B)       { suite.BenchmarkCollect(b) }

// TestStrayConnection checks that a connection without the run's token is
// dropped instead of failing the run.
func TestStrayConnection(t *testing.T) {
	for _, kind := range []string{"unix", "tcp"} {
		t.Run("kind="+kind, func(t *testing.T) {
			col := transporttest.NewCollector(t, kind, 1, "")
			addr := col.Backend.(*streamBackend).ln.Addr().String()
			var wg sync.WaitGroup
			for _, junk := range [][]byte{nil, bytes.Repeat([]byte{1}, helloSize+transport.MessageSize)} {
				conn, err := net.Dial(kind, addr)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				wg.Go(func() { conn.Write(junk) })
			}
			wg.Wait()
			ch := transporttest.Spawn(t, col, 1, 5, transporttest.All(transporttest.ModeOK))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			msgs, err := col.Collect(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !transporttest.Same(msgs[0], transporttest.Message(5, 0, 1)) {
				t.Errorf("got %+v", msgs[0])
			}
			if err := ch.Wait(); err != nil {
				t.Error(err)
			}
		})
	}
}

// A socket path too long for sockaddr_un is refused with advice.
func TestLongDir(t *testing.T) {
	dir := t.TempDir() + "/" + string(bytes.Repeat([]byte{'d'}, 120))
	_, err := transport.NewCollector(context.Background(), "unix", transport.Options{Workers: 1, Dir: dir})
	if err == nil {
		t.Fatal("a socket path over 103 bytes was accepted")
	}
}
