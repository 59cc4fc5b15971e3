package transport_test

import (
	"strconv"
	"testing"

	"github.com/pishm/pishm/transport"
	"github.com/pishm/pishm/transport/internal/transporttest"
)

// TestGCAfterKill kills a real creator right after it made each kind's
// named resource (unix is in transport/netsock) and checks that GC removes
// exactly that, and nothing of this live process.
func TestGCAfterKill(t *testing.T) {
	for _, k := range []transporttest.GCKind{
		transporttest.InDir("file"),
		transporttest.InDir("fifo"),
		{
			Kind:    "posixmq",
			Exists:  transport.MQExists,
			Removed: func(name string) string { return "posix mq /" + name },
		},
		{
			Kind: "sysvmq",
			Exists: func(id string) bool {
				n, err := strconv.Atoi(id)
				return err == nil && transport.MsqExists(n)
			},
			Removed: transport.MsqRemoved,
		},
	} {
		t.Run("kind="+k.Kind, func(t *testing.T) { transporttest.CheckGC(t, k) })
	}
}
