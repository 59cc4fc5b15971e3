// Package redis registers the redis kind of package transport: children
// RPUSH their record to a per-run random list of a real redis-server, the
// parent BLPOPs it, and Close deletes it. It lives apart from transport
// because it links go-redis (and net and crypto/tls), whose
// initialisation a worker that uses another kind need not pay. Import it
// for its side effect:
//
//	import _ "github.com/pishm/pishm/transport/redis"
//
// The server is transport.Options.RedisURL, by default
// transport.DefaultRedisURL; credentials and TLS (rediss://) come from the
// URL. Importing this package silences go-redis's global logger
// (redis.SetLogger), which would otherwise print dial failures to stderr:
// errors reach the caller as errors instead.
package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pishm/pishm/transport"
)

func init() {
	redis.SetLogger(discard{})
	transport.Register("redis", transport.Kind{New: newRedisBackend, Send: sendRedis})
}

// discard is a go-redis logger that prints nothing: a library must not
// write to stderr, and every failure it would log also reaches the caller
// as an error.
type discard struct{}

func (discard) Printf(context.Context, string, ...any) {}

// redisBackend: children RPUSH their record to a per-run random list; a
// receiver BLPOPs it. A second key marks the run as alive: a child pushes
// (in one atomic script) only while it exists, so a child that outlives
// Close cannot recreate the list. Close wakes the receiver by pushing an
// empty element, then deletes both keys.
//
// Keys: pishm:{transport-RANDOM}:q (the list) and pishm:{transport-RANDOM}:alive;
// the hash tag keeps both in one cluster slot. PISHM_TRANSPORT_ADDR holds
// the common prefix.
type redisBackend struct {
	c       *transport.Core
	url     string
	base    string
	client  *redis.Client
	cancel  context.CancelFunc
	renewed time.Time // when the receiver last renewed the TTL
}

// redisKeyTTL bounds how long the keys outlive a parent that died before
// Close; the receiver renews it while the run lasts, and each push renews
// the list's.
const redisKeyTTL = time.Minute

// redisPoll is how long one BLPOP waits before the receiver checks for
// Close and renews the TTL (a backstop: Close also wakes it).
const redisPoll = time.Second

func redisQueue(base string) string { return base + ":q" }
func redisAlive(base string) string { return base + ":alive" }

// redisPush is run by a child: KEYS = list, alive; ARGV = record, TTL in ms.
// It returns the list's length, or -1 when the run is gone.
var redisPush = redis.NewScript(`
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n`)

func redisClient(url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	opt.DisableIdentity = true // no CLIENT SETINFO round trip
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

func newRedisBackend(ctx context.Context, c *transport.Core, opt transport.Options) (transport.Backend, error) {
	url := opt.RedisURL
	if url == "" {
		url = transport.DefaultRedisURL
	}
	client, err := redisClient(url)
	if err != nil {
		return nil, fmt.Errorf("Options.RedisURL: %w", err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("ping %s: %w", client.Options().Addr, err)
	}
	b := &redisBackend{c: c, url: url, base: "pishm:{transport-" + randomHex() + "}", client: client}
	ok, err := client.SetNX(ctx, redisAlive(b.base), 1, redisKeyTTL).Result()
	if err == nil && !ok {
		err = errors.New("key exists")
	}
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("set %s: %w", redisAlive(b.base), err)
	}
	b.renewed = time.Now()
	rctx, cancel := context.WithCancel(context.Background())
	b.cancel = cancel
	c.GoRecv(func() { b.recv(rctx) })
	return b, nil
}

func (b *redisBackend) recv(ctx context.Context) {
	q := redisQueue(b.base)
	for !b.c.IsClosed() {
		if time.Since(b.renewed) > redisKeyTTL/4 {
			if err := b.client.PExpire(ctx, redisAlive(b.base), redisKeyTTL).Err(); err != nil && !b.c.IsClosed() {
				b.c.Fail(fmt.Errorf("pexpire %s: %w", redisAlive(b.base), err))
				return
			}
			b.renewed = time.Now()
		}
		kv, err := b.client.BLPop(ctx, redisPoll, q).Result()
		if b.c.IsClosed() {
			return
		}
		if errors.Is(err, redis.Nil) {
			continue // timed out
		}
		if err != nil {
			b.c.Fail(fmt.Errorf("blpop %s: %w", q, err))
			return
		}
		b.c.Deliver(-1, []byte(kv[1]))
	}
}

func (b *redisBackend) Child(int) ([]string, []*os.File, error) {
	return []string{transport.EnvAddr + "=" + b.base, transport.EnvRedisURL + "=" + b.url}, nil, nil
}

func (b *redisBackend) Started(int) {}
func (b *redisBackend) Exited(int)  {}

// Retry: a shared channel needs nothing new for a fresh process.
func (b *redisBackend) Retry(int) {}

func (b *redisBackend) Shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	// Wake the receiver; if this fails, cancel and BLPOP's timeout do.
	b.client.RPush(ctx, redisQueue(b.base), "")
	b.cancel()
	return nil
}

func (b *redisBackend) Remove() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := b.client.Del(ctx, redisAlive(b.base), redisQueue(b.base)).Err()
	if err != nil {
		err = fmt.Errorf("del %s: %w", b.base, err)
	}
	return errors.Join(err, b.client.Close())
}

func sendRedis(ctx context.Context, e transport.ChildEnv, rec []byte) error {
	if e.Addr == "" || e.RedisURL == "" {
		return fmt.Errorf("%s or %s is not set", transport.EnvAddr, transport.EnvRedisURL)
	}
	client, err := redisClient(e.RedisURL)
	if err != nil {
		return fmt.Errorf("%s: %w", transport.EnvRedisURL, err)
	}
	defer client.Close()
	keys := []string{redisQueue(e.Addr), redisAlive(e.Addr)}
	n, err := redisPush.Eval(ctx, client, keys, rec, redisKeyTTL.Milliseconds()).Int64()
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("run %s is gone (the collector was closed)", e.Addr)
	}
	return nil
}

// randomHex returns 32 random hex digits.
func randomHex() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	return hex.EncodeToString(b[:])
}
