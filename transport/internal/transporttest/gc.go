package transporttest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/transport"
)

// envTestCreate makes the test binary a creator (see creatorMain): the
// kind of collector to make.
const envTestCreate = "PISHM_TRANSPORT_TEST_CREATE"

// creatorMain makes a collector of kind as pishm's parent does (one
// worker, default Options.Dir), prints its worker 0's EnvAddr on a line
// of its own, and waits to be killed.
func creatorMain(kind string) int {
	col, err := transport.NewCollector(context.Background(), kind, transport.Options{Workers: 1})
	if err != nil {
		fmt.Fprintf(os.Stderr, "test creator (%s): %v\n", kind, err)
		return 1
	}
	env, _, err := col.Child(0)
	if err != nil {
		fmt.Fprintf(os.Stderr, "test creator (%s): %v\n", kind, err)
		return 1
	}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, transport.EnvAddr+"="); ok {
			fmt.Println(v)
		}
	}
	time.Sleep(time.Hour) // until SIGKILL
	return 0
}

// GCKind says how to see one kind's named resource from outside.
type GCKind struct {
	Kind string
	// Exists reports whether the named resource behind EnvAddr's addr
	// (a path in the private dir, a queue name or id) exists.
	Exists func(addr string) bool
	// Removed is what transport.GC reports when it removes it; CheckGC
	// calls it while the resource exists.
	Removed func(addr string) string
}

// InDir is GCKind's Exists and Removed for a kind whose addr is a path in
// a private dir (file, fifo, unix).
func InDir(kind string) GCKind {
	return GCKind{
		Kind: kind,
		Exists: func(addr string) bool {
			_, err := os.Lstat(filepath.Dir(addr))
			return err == nil
		},
		Removed: filepath.Dir,
	}
}

// killCreator starts the test binary as a creator of kind, reads the addr
// it reports, kills it with SIGKILL and reaps it. It returns the dead
// creator's pid and addr.
func killCreator(t *testing.T, kind string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envTestCreate+"="+kind)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Signal(syscall.SIGKILL)
	werr := cmd.Wait()
	if err != nil {
		t.Fatalf("creator %s: %v (exit: %v)", kind, err, werr)
	}
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("creator %s: %v, want killed by SIGKILL", kind, werr)
	}
	return cmd.Process.Pid, strings.TrimSuffix(line, "\n")
}

// pishmNamesOf lists the names in os.TempDir() (and /dev/mqueue where it
// is mounted) that name pid as their creator.
func pishmNamesOf(pid int) []string {
	p := strconv.Itoa(pid)
	var names []string
	for _, g := range []string{
		filepath.Join(os.TempDir(), transport.ManifestPrefix+p+"-*"),
		filepath.Join(os.TempDir(), transport.DirPrefix+p+"-*"),
		filepath.Join("/dev/mqueue", transport.MQPrefix+p+"-*"),
	} {
		m, _ := filepath.Glob(g)
		names = append(names, m...)
	}
	slices.Sort(names)
	return names
}

// CheckGC checks transport.GC after a SIGKILL at k's creation point: a
// child process makes a collector of k.Kind and is killed right after.
// After GC, nothing that child made is left (its resource, its manifest,
// any name after it), and a collector of this live process made before is
// whole. What GC reports is logged, not checked: a concurrent GC (another
// package's test) may remove the child's resources first. It looks only at what the
// test made, never at every pishm-* name.
func CheckGC(t *testing.T, k GCKind) {
	self := pishmNamesOf(os.Getpid())
	live := NewCollector(t, k.Kind, 1, "")
	env, _, err := live.Child(0)
	if err != nil {
		t.Fatal(err)
	}
	var liveAddr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, transport.EnvAddr+"="); ok {
			liveAddr = v
		}
	}
	liveNames := pishmNamesOf(os.Getpid())
	if !k.Exists(liveAddr) || len(liveNames) <= len(self) {
		t.Fatalf("live collector: resource %s exists %v, names %v; want it and a new manifest", liveAddr, k.Exists(liveAddr), liveNames)
	}

	pid, addr := killCreator(t, k.Kind)
	made := pishmNamesOf(pid)
	if !k.Exists(addr) || len(made) == 0 {
		t.Fatalf("dead creator %d: resource %s exists %v, names %v; want it and its manifest", pid, addr, k.Exists(addr), made)
	}

	wantRemoved, liveRemoved := k.Removed(addr), k.Removed(liveAddr) // while both exist
	removed, err := transport.GC()
	if err != nil {
		t.Errorf("GC: %v", err)
	}
	if k.Exists(addr) {
		t.Errorf("GC left the dead creator's %s", addr)
	}
	if left := pishmNamesOf(pid); len(left) > 0 {
		t.Errorf("GC left %v of the dead creator %d", left, pid)
	}
	for _, want := range append(made, wantRemoved) {
		if strings.HasPrefix(want, "/dev/mqueue/") {
			continue // reported as the queue
		}
		if !slices.Contains(removed, want) {
			// Another GC (a test of another package runs pishm gc) may
			// have removed it first: what is left was checked above.
			t.Logf("GC did not report %s (removed %q)", want, removed)
		}
	}
	if !k.Exists(liveAddr) {
		t.Errorf("GC removed the live collector's %s", liveAddr)
	}
	for _, name := range liveNames {
		if _, err := os.Lstat(name); err != nil && !slices.Contains(self, name) {
			t.Errorf("GC removed %s of this live process: %v", name, err)
		}
	}
	for _, r := range removed {
		if r == liveRemoved || slices.Contains(liveNames, r) {
			t.Errorf("GC reports removing %s of this live process", r)
		}
	}
	if err := live.Close(); err != nil {
		t.Fatal(err)
	}
	if k.Exists(liveAddr) {
		t.Errorf("Close left %s", liveAddr)
	}
}
