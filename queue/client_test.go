package queue

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNewClient: credentials, database and TLS settings reach the client.
func TestNewClient(t *testing.T) {
	c, err := NewClient(ClientOptions{URL: "rediss://alice:s3cret@cache.example:6380/2"})
	if err != nil {
		t.Fatal(err)
	}
	o := c.(*redis.Client).Options()
	c.Close()
	if o.Username != "alice" || o.Password != "s3cret" || o.DB != 2 || o.Addr != "cache.example:6380" {
		t.Errorf("options %q %q %d %q", o.Username, o.Password, o.DB, o.Addr)
	}
	if o.TLSConfig == nil || o.TLSConfig.ServerName != "cache.example" || o.TLSConfig.InsecureSkipVerify {
		t.Errorf("rediss:// TLS config %+v", o.TLSConfig)
	}

	ca := writeCA(t)
	c, err = NewClient(ClientOptions{URL: "redis://:pw@10.0.0.7:6379/0", TLSCA: ca})
	if err != nil {
		t.Fatal(err)
	}
	o = c.(*redis.Client).Options()
	c.Close()
	if o.Password != "pw" || o.TLSConfig == nil || o.TLSConfig.RootCAs == nil || o.TLSConfig.ServerName != "10.0.0.7" {
		t.Errorf("-redis-tls-ca did not turn TLS on with the CA: %+v", o.TLSConfig)
	}
	c, err = NewClient(ClientOptions{URL: "rediss://h:1", TLSInsecure: true})
	if err != nil {
		t.Fatal(err)
	}
	if o := c.(*redis.Client).Options(); !o.TLSConfig.InsecureSkipVerify {
		t.Error("TLSInsecure did not reach the TLS config")
	}
	c.Close()

	for _, bad := range []ClientOptions{
		{URL: "http://h:1"},
		{URL: "redis://h:1", TLSCA: filepath.Join(t.TempDir(), "missing.pem")},
		{URL: "redis://h:1", TLSCert: ca},
		{URL: "redis://h:1", TLSCA: os.Args[0]}, // no PEM in it
	} {
		if c, err := NewClient(bad); err == nil {
			c.Close()
			t.Errorf("NewClient(%+v) succeeded", bad)
		}
	}
}

// writeCA writes a self-signed CA certificate and returns its path.
func writeCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pishm test CA"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
