package queue

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/pishm/pishm/transport"
)

// ClientOptions says how to reach redis-server. URL carries the address,
// database, credentials and TLS: redis://[user:password@]host:port/db, or
// rediss:// for TLS (redis.ParseURL reads it). The TLS fields add to it.
type ClientOptions struct {
	URL string
	// TLSCA is a PEM file of CAs to trust instead of the system's; it
	// turns TLS on for a redis:// URL too.
	TLSCA string
	// TLSCert and TLSKey are a client certificate and its key (PEM) for
	// servers that ask for one (tls-auth-clients).
	TLSCert, TLSKey string
	// TLSInsecure skips the verification of the server's certificate.
	TLSInsecure bool
	// Password, if set, is the password when the URL has none; it keeps
	// the password out of the command line (ps shows that). The command
	// takes it from REDISCLI_AUTH, as redis-cli does, or from a file.
	Password string
}

// DefaultURL is the server when ClientOptions.URL is empty; the command's
// -redis flag defaults to it too.
const DefaultURL = transport.DefaultRedisURL

// NewClient returns a client for o; it does not connect yet. A URL that
// names more servers with addr= parameters is a Redis Cluster, read as
// go-redis's ParseClusterURL reads it
// (redis://HOST1:PORT?addr=HOST2:PORT&addr=HOST3:PORT: the form go-redis
// users write, any master as the first), and gets a cluster client, which
// routes each of a job's scripts to the master of its slot.
func NewClient(o ClientOptions) (redis.UniversalClient, error) {
	url := o.URL
	if url == "" {
		url = DefaultURL
	}
	if strings.Contains(url, "addr=") {
		copt, err := redis.ParseClusterURL(url)
		if err != nil {
			return nil, errorf("redis cluster URL: %w", err)
		}
		opt, err := options(o, &redis.Options{Addr: copt.Addrs[0], Username: copt.Username, Password: copt.Password, TLSConfig: copt.TLSConfig})
		if err != nil {
			return nil, err
		}
		copt.Password, copt.TLSConfig = opt.Password, opt.TLSConfig
		copt.DisableIdentity, copt.MaxRetries, copt.ContextTimeoutEnabled = opt.DisableIdentity, opt.MaxRetries, opt.ContextTimeoutEnabled
		copt.MaintNotificationsConfig = opt.MaintNotificationsConfig
		return redis.NewClusterClient(copt), nil
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, errorf("redis URL: %w", err)
	}
	if opt, err = options(o, opt); err != nil {
		return nil, err
	}
	return redis.NewClient(opt), nil
}

// options sets in opt, parsed from o's URL, what else o says: the
// password, TLS, and this package's retry and timeout settings.
func options(o ClientOptions, opt *redis.Options) (*redis.Options, error) {
	if o.Password != "" {
		if opt.Password != "" {
			return nil, errors.New("queue: the redis password is given twice: in the URL and apart from it")
		}
		opt.Password = o.Password
	}
	opt.DisableIdentity = true // no CLIENT SETINFO round trip
	// Outages are retried by this package, with backoff, within a stated
	// window (see retrier); one quick retry here covers a pooled
	// connection that died with a restarted server.
	opt.MaxRetries = 1
	// The retrier bounds each attempt by the outage window left: the
	// client must give up at the context's deadline, not only at its read
	// timeout.
	opt.ContextTimeoutEnabled = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	if o.TLSCA != "" || o.TLSCert != "" || o.TLSKey != "" || o.TLSInsecure {
		if opt.TLSConfig == nil {
			opt.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if o.TLSCA != "" {
			pem, err := os.ReadFile(o.TLSCA)
			if err != nil {
				return nil, errorf("TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, errorf("TLS CA %s: no PEM certificate in it", o.TLSCA)
			}
			opt.TLSConfig.RootCAs = pool
		}
		if (o.TLSCert == "") != (o.TLSKey == "") {
			return nil, errors.New("queue: a TLS client certificate needs both the cert and the key")
		}
		if o.TLSCert != "" {
			pair, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, errorf("TLS client certificate: %w", err)
			}
			opt.TLSConfig.Certificates = []tls.Certificate{pair}
		}
		opt.TLSConfig.InsecureSkipVerify = o.TLSInsecure
		if opt.TLSConfig.ServerName == "" && !o.TLSInsecure {
			if host, _, err := net.SplitHostPort(opt.Addr); err == nil {
				opt.TLSConfig.ServerName = host
			}
		}
	}
	return opt, nil
}

// quiet drops go-redis's own log lines (reconnects, pool events): its
// errors reach the caller through this package's errors, once.
type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// SilenceClientLog stops go-redis from logging to stderr; it sets a
// process-wide logger, so the command calls it once, at start.
func SilenceClientLog() { redis.SetLogger(quiet{}) }
