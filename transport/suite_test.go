package transport_test

import (
	"testing"

	"github.com/pishm/pishm/transport"
	"github.com/pishm/pishm/transport/internal/transporttest"
)

// The test binary is also the child (see transporttest.Main).
func TestMain(m *testing.M) { transporttest.Main(m) }

// suite runs the kinds of this package; transport/netsock and
// transport/redis run the same suite for theirs.
var suite = transporttest.Suite{
	Kinds:        []string{"file", "pipe", "fifo", "socketpair", "posixmq", "sysvmq"},
	Leftovers:    transport.OSLeftovers,
	AfterCollect: transport.CheckFileModes,
}

func TestCollect(t *testing.T)            { suite.TestCollect(t) }
func TestMisbehaving(t *testing.T)        { suite.TestMisbehaving(t) }
func TestCloseDuringCollect(t *testing.T) { suite.TestCloseDuringCollect(t) }
func TestCloseUnused(t *testing.T)        { suite.TestCloseUnused(t) }

// BenchmarkCollect includes kind=none: the children alone, no transport.
func BenchmarkCollect(b *testing.B) {
	s := suite
	s.Kinds = append([]string{"none"}, s.Kinds...)
	s.BenchmarkCollect(b)
}
