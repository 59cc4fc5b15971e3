package cli

import (
	"os"
	"path/filepath"

	"github.com/pishm/pishm/engine/lab"
	"github.com/pishm/pishm/transport"
)

// LeanWorker returns the pishm-worker binary beside this one, if it is
// there and can serve mode (it links only the transports package
// transport registers itself: unix, tcp and redis need pishm); else "",
// and the workers are re-executions of
// pishm. A pishm-worker from another build is refused by its own workers
// (the build stamp travels in the segment), and the engine then falls
// back to pishm itself.
func LeanWorker(mode lab.Mode) string {
	if lab.IsTransport(mode) && !transport.Builtin(string(mode)) {
		return ""
	}
	self, err := os.Executable()
	if err != nil {
		return ""
	}
	w := filepath.Join(filepath.Dir(self), "pishm-worker")
	if fi, err := os.Stat(w); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return ""
	}
	return w
}
