package engine

import (
	"encoding/hex"
	"hash/fnv"
	"runtime/debug"
	"strconv"
	"sync"

	"github.com/pishm/pishm/engine/internal/segment"
)

// buildStamp identifies the build of this binary as far as the worker
// protocol cares: the protocol version, the Go toolchain, the main
// module's version and checksum, and the version-control state and build
// settings it was built with. A parent and a worker binary built from the
// same checkout with the same settings agree; a stale worker binary does
// not, and refuses to work (control.check) rather than misread the
// segment.
var buildStamp = sync.OnceValue(func() [16]byte {
	bi, _ := debug.ReadBuildInfo()
	h := fnv.New128a()
	put := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	put(strconv.Itoa(segment.Version))
	if bi != nil {
		put(bi.GoVersion)
		put(bi.Main.Path)
		put(bi.Main.Version)
		put(bi.Main.Sum)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "-tags", "GOARCH", "GOAMD64", "GOARM64", "CGO_ENABLED":
				put(s.Key + "=" + s.Value)
			}
		}
	}
	var out [16]byte
	copy(out[:], h.Sum(nil))
	return out
})

// buildID names the build of this binary as far as results go
// (catalog.BuildID).
func buildID() string {
	s := buildStamp()
	return hex.EncodeToString(s[:])
}
