// Package netsock registers the unix and tcp kinds of package transport:
// the parent listens (a unix stream socket in a private temp dir, or
// 127.0.0.1 with a kernel-chosen port) and each child dials, presents the
// run's random token and its worker index, and sends its record. It lives
// apart from transport because it imports net, whose initialisation a
// worker that uses another kind need not pay. Import it for its side
// effect:
//
//	import _ "github.com/pishm/pishm/transport/netsock"
package netsock

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/pishm/pishm/transport"
)

func init() {
	k := transport.Kind{New: newStreamBackend, Send: sendStream, Stream: true}
	transport.Register("unix", k)
	transport.Register("tcp", k)
}

// helloSize is the length of the hello that opens a unix or tcp
// connection: the run's 16-byte token, then the worker index (uint32 LE)
// and 4 zero bytes. The record follows, then EOF.
const helloSize = 24

// streamBackend: the parent listens (unix: a socket in a private temp dir;
// tcp: 127.0.0.1, kernel-chosen port) and each child dials, says hello and
// sends its record.
type streamBackend struct {
	c       *transport.Core
	network string
	dir     *transport.PrivateDir // unix only
	ln      net.Listener
	token   [16]byte

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// maxUnixPath is the usable length of sockaddr_un.sun_path (108 on Linux,
// 104 on the BSDs) less the terminating NUL.
const maxUnixPath = 103

func newStreamBackend(_ context.Context, c *transport.Core, opt transport.Options) (transport.Backend, error) {
	b := &streamBackend{c: c, network: c.Kind(), conns: make(map[net.Conn]struct{})}
	rand.Read(b.token[:]) // never fails (crypto/rand, Go 1.24+)
	var err error
	if b.network == "unix" {
		if b.dir, err = transport.NewPrivateDir(opt); err != nil {
			return nil, err
		}
		path := filepath.Join(b.dir.Path, "s")
		if len(path) > maxUnixPath {
			b.dir.Remove()
			return nil, fmt.Errorf("socket path %q is %d bytes, over %d: use a shorter Options.Dir", path, len(path), maxUnixPath)
		}
		b.ln, err = net.Listen("unix", path)
	} else {
		b.ln, err = net.Listen("tcp4", "127.0.0.1:0")
	}
	if err != nil {
		if b.dir != nil {
			b.dir.Remove()
		}
		return nil, err
	}
	c.GoRecv(b.accept)
	return b, nil
}

func (b *streamBackend) accept() {
	for {
		conn, err := b.ln.Accept()
		if err != nil {
			if !b.c.IsClosed() {
				b.c.Fail(fmt.Errorf("accept: %w", err))
			}
			return
		}
		b.mu.Lock()
		if b.conns == nil { // shut down
			b.mu.Unlock()
			conn.Close()
			return
		}
		b.conns[conn] = struct{}{}
		b.mu.Unlock()
		b.c.GoRecv(func() {
			defer func() {
				b.mu.Lock()
				if b.conns != nil {
					delete(b.conns, conn)
				}
				b.mu.Unlock()
				conn.Close()
			}()
			b.serve(conn)
		})
	}
}

func (b *streamBackend) serve(conn net.Conn) {
	var hello [helloSize]byte
	if _, err := io.ReadFull(conn, hello[:]); err != nil {
		return // not one of ours, or it gave up: it stays missing
	}
	if subtle.ConstantTimeCompare(hello[:16], b.token[:]) != 1 {
		return // a stray connection: drop it
	}
	w := binary.LittleEndian.Uint32(hello[16:])
	if w >= uint32(b.c.Workers()) {
		b.c.Fail(fmt.Errorf("connection says hello as worker %d, want [0,%d): %w", w, b.c.Workers(), transport.ErrWorkerRange))
		return
	}
	b.c.RecvStream(int(w), conn, "connection")
}

func (b *streamBackend) Child(int) ([]string, []*os.File, error) {
	return []string{
		transport.EnvAddr + "=" + b.ln.Addr().String(),
		transport.EnvToken + "=" + hex.EncodeToString(b.token[:]),
	}, nil, nil
}

func (b *streamBackend) Started(int) {}
func (b *streamBackend) Exited(int)  {}

// Retry: a shared channel needs nothing new for a fresh process.
func (b *streamBackend) Retry(int) {}

func (b *streamBackend) Shutdown() error {
	err := b.ln.Close() // a unix listener also unlinks its socket
	b.mu.Lock()
	for conn := range b.conns {
		conn.Close()
	}
	b.conns = nil
	b.mu.Unlock()
	return err
}

func (b *streamBackend) Remove() error {
	if b.dir == nil {
		return nil
	}
	return b.dir.Remove()
}

func sendStream(ctx context.Context, e transport.ChildEnv, rec []byte) error {
	if e.Addr == "" {
		return fmt.Errorf("%s is not set", transport.EnvAddr)
	}
	token, err := hex.DecodeString(e.Token)
	if err != nil || len(token) != 16 {
		return fmt.Errorf("%s is not 32 hex digits", transport.EnvToken)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, e.Kind, e.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	msg := make([]byte, 0, helloSize+len(rec))
	msg = append(msg, token...)
	msg = binary.LittleEndian.AppendUint32(msg, e.Worker)
	msg = append(msg, 0, 0, 0, 0)
	msg = append(msg, rec...)
	if _, err := conn.Write(msg); err != nil {
		return err
	}
	return conn.Close()
}
