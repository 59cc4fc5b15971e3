package netsock

import (
	"testing"

	"github.com/pishm/pishm/transport/internal/transporttest"
)

// TestGCAfterKill kills a real creator right after it made the unix
// socket's private dir and checks that transport.GC removes exactly that.
func TestGCAfterKill(t *testing.T) { transporttest.CheckGC(t, transporttest.InDir("unix")) }
