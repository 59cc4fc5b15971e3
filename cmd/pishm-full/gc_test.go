package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/shmem"
	"github.com/pishm/pishm/transport"
)

// TestGCAfterParentKill kills pishm itself (SIGKILL, so no cleanup runs)
// once it has made each message-passing kind's named resource, then runs
// pishm gc, which must leave /dev/shm, the System V queues, the POSIX
// queues and os.TempDir() as they were before that pishm: nothing named
// after it, and the resource its manifest lists gone. It looks only at
// what the killed pishm made, and checks what is left rather than what gc
// printed, since another package's test may run a GC at the same time.
func TestGCAfterParentKill(t *testing.T) {
	for _, mode := range []string{"file", "fifo", "unix", "posixmq", "sysvmq"} {
		t.Run("mode="+mode, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-mode", mode, "-n", "1e12", "-workers", "1")
			cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			defer cmd.Process.Kill()
			// Wait for the manifest, written before the resource; then for
			// a worker, started after the resource exists.
			var manifest string
			var entry string
			for deadline := time.Now().Add(2 * time.Minute); entry == "" || !hasChild(pid); time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("pishm -mode %s made no manifest and no worker in 2 minutes", mode)
				}
				m, _ := filepath.Glob(filepath.Join(os.TempDir(), transport.ManifestPrefix+strconv.Itoa(pid)+"-*"))
				if len(m) == 1 {
					manifest = m[0]
					b, _ := os.ReadFile(manifest)
					lines := strings.Split(strings.TrimSpace(string(b)), "\n")
					if len(lines) == 2 {
						entry = lines[1]
					}
				}
			}
			kind, name, _ := strings.Cut(entry, " ")
			if kind == "sysvmq" {
				// Checked while pishm lives: once it is killed, a pishm gc
				// of another package's test may remove the queue first.
				key, _ := strconv.ParseInt(name, 10, 32)
				if !sysvKeyExists(t, key) {
					t.Fatalf("no System V queue with key %d", key)
				}
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()

			var want string
			switch kind {
			case "dir":
				want = "removed " + name
			case "posixmq":
				want = "removed posix mq /" + name
			case "sysvmq":
				key, _ := strconv.ParseInt(name, 10, 32)
				want = "removed sysv msq key 0x" + strconv.FormatInt(key, 16)
			default:
				t.Fatalf("manifest %s lists %q", manifest, entry)
			}

			out, stderr, code := pishm(t, "gc")
			if code != 0 {
				t.Fatalf("pishm gc: exit %d: %s", code, stderr)
			}
			for _, w := range []string{want, "removed " + manifest + "\n"} {
				if !strings.Contains(out, w) {
					// A concurrent GC (another package's test) may have
					// removed it first: what is left is checked below.
					t.Logf("pishm gc printed\n%s\nwithout a line with %q", out, w)
				}
			}
			if kind == "dir" {
				if _, err := os.Lstat(name); err == nil {
					t.Errorf("pishm gc left %s", name)
				}
			}
			if kind == "sysvmq" {
				key, _ := strconv.ParseInt(name, 10, 32)
				if sysvKeyExists(t, key) {
					t.Errorf("pishm gc left the System V queue with key %d", key)
				}
			}
			p := strconv.Itoa(pid)
			for _, g := range []string{
				filepath.Join(os.TempDir(), transport.ManifestPrefix+p+"-*"),
				filepath.Join(os.TempDir(), transport.DirPrefix+p+"-*"),
				filepath.Join(shmem.Dir, shmem.NamePrefix+p+"-*"),
				filepath.Join("/dev/mqueue", transport.MQPrefix+p+"-*"),
			} {
				if m, _ := filepath.Glob(g); len(m) > 0 {
					t.Errorf("after pishm gc, %v are left of the killed pishm %d", m, pid)
				}
			}
			if out, _, _ := pishm(t, "gc"); strings.Contains(out, want) {
				t.Errorf("a second pishm gc printed %q again", want)
			}
		})
	}
}

// hasChild reports whether pid has a child process.
func hasChild(pid int) bool {
	m, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	for _, f := range m {
		if b, _ := os.ReadFile(f); len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// sysvKeyExists reports whether /proc/sysvipc/msg lists a queue with key.
func sysvKeyExists(t *testing.T, key int64) bool {
	b, err := os.ReadFile("/proc/sysvipc/msg")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 && f[0] == strconv.FormatInt(key, 10) {
			return true
		}
	}
	return false
}
