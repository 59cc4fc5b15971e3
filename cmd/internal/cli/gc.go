package cli

import (
	"errors"
	"fmt"
	"io"

	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// removeStale is pishm gc: it removes the segments in /dev/shm
// (shmem.GC) and the transports' temp dirs, message queues and manifests
// (transport.GC) whose creator is dead, and prints one line for each.
func removeStale(w io.Writer) error {
	segs, err1 := shmem.GC()
	for _, name := range segs {
		fmt.Fprintf(w, "removed %s/%s\n", shmem.Dir, name)
	}
	res, err2 := transport.GC()
	for _, r := range res {
		fmt.Fprintf(w, "removed %s\n", r)
	}
	err := errors.Join(err1, err2)
	if err == nil && len(segs)+len(res) == 0 {
		fmt.Fprintln(w, "nothing stale: no segment, temp dir or message queue of a dead pishm")
	}
	return err
}
