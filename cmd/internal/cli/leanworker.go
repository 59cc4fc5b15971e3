package cli

import (
	"os"
	"path/filepath"

	"github.com/pishm/pishm/engine/catalog"
	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/transport"
)

// LeanWorker returns the pishm-worker binary beside this one, if it is
// there and can serve mode (it links only the transports package
// transport registers itself: unix, tcp and redis need pishm-full), and
// this build's stamp names its source (catalog.BuildFromSource), so that
// a pishm-worker built from other code can be told apart; else "", and
// the workers are re-executions of this binary. A pishm-worker from
// another build is refused by its own workers (the build stamp travels
// in the segment), and the engine then falls back to this binary.
func LeanWorker(mode lab.Mode) string {
	if lab.IsTransport(mode) && !transport.Builtin(string(mode)) || !catalog.BuildFromSource() {
		return ""
	}
	return besideSelf("pishm-worker")
}

// besideSelf is the executable file called name in this binary's
// directory, or "" when there is none.
func besideSelf(name string) string {
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	p := filepath.Join(filepath.Dir(self), name)
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return p
}
