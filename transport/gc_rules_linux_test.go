package transport

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/pishm/pishm/internal/proc"
)

// TestGCRules runs gc on a private dir (not os.TempDir()) with creators
// made up from this process's pid: with its own start time it is alive,
// with another it is a dead creator whose pid was reused. Every resource
// is real.
func TestGCRules(t *testing.T) {
	tmp := t.TempDir()
	pid, start := os.Getpid(), proc.Start(os.Getpid())
	if start == 0 {
		t.Skip("no start time in /proc")
	}
	alive := strconv.Itoa(pid) + "-" + strconv.FormatUint(start, 10)
	dead := strconv.Itoa(pid) + "-" + strconv.FormatUint(start+1, 10)
	// late started 10^4 s after now: a queue made now predates it.
	late := strconv.Itoa(pid) + "-" + strconv.FormatUint(start+1_000_000, 10)

	manifest := func(who, body string) string {
		p := filepath.Join(tmp, ManifestPrefix+who+"-"+randomHex(8))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mkdir := func(name string) string {
		p := filepath.Join(tmp, name)
		if err := os.Mkdir(p, 0o700); err != nil {
			t.Fatal(err)
		}
		return p
	}
	queue := func() (key, id int) {
		for {
			key = sysvKey()
			id, err := msgget(key, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
			if err == nil {
				t.Cleanup(func() { msgctl(id, unix.IPC_RMID, nil) })
				return key, id
			}
		}
	}
	posix := func(who string) string {
		name := MQPrefix + who + "-" + randomHex(12)
		fd, err := mqOpen(name, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600, &mqAttr{Maxmsg: 1, Msgsize: MessageSize})
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		t.Cleanup(func() { mqUnlink(name) })
		return name
	}
	exists := func(p string) bool { _, err := os.Lstat(p); return err == nil }

	// A dead creator's dir, listed and found by name, and its queues.
	deadDir := mkdir(DirPrefix + dead + "-aa")
	deadMQ := posix(dead)
	deadKey, deadID := queue()
	deadMan := manifest(dead, manifestHeader+"dir "+deadDir+"\nposixmq "+deadMQ+"\nsysvmq "+strconv.Itoa(deadKey)+"\n")
	// A dead creator's dir that no manifest lists.
	orphanDir := mkdir(DirPrefix + dead + "-bb")
	// A dead manifest that lists what is not its creator's.
	liveDir := mkdir(DirPrefix + alive + "-cc")
	liveMQ := posix(alive)
	liarMan := manifest(dead, manifestHeader+"dir "+liveDir+"\nposixmq "+liveMQ+"\n")
	// A queue that a dead and a live manifest both list.
	sharedKey, sharedID := queue()
	sharedMan := manifest(dead, manifestHeader+"sysvmq "+strconv.Itoa(sharedKey)+"\n")
	liveMan := manifest(alive, manifestHeader+"sysvmq "+strconv.Itoa(sharedKey)+"\n")
	// A queue made before its listed creator started.
	earlyKey, earlyID := queue()
	lateMan := manifest(late, manifestHeader+"sysvmq "+strconv.Itoa(earlyKey)+"\n")
	// Not manifests: no header, or an entry of an unknown kind.
	plain := manifest(dead, "dir "+orphanDir+"\n")
	future := manifest(dead, manifestHeader+"shm /dev/shm/x\n")

	removed, err := gc(tmp, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{deadDir, "posix mq /" + deadMQ,
		"sysv msq key 0x" + strconv.FormatUint(uint64(deadKey), 16) + " id " + strconv.Itoa(deadID),
		deadMan, orphanDir, liarMan, sharedMan, lateMan}
	slices.Sort(want)
	slices.Sort(removed)
	if !slices.Equal(removed, want) {
		t.Errorf("gc removed\n%q\nwant\n%q", removed, want)
	}
	for _, p := range []string{deadDir, orphanDir, deadMan, liarMan, sharedMan, lateMan} {
		if exists(p) {
			t.Errorf("%s is still there", p)
		}
	}
	for _, p := range []string{liveDir, liveMan, plain, future} {
		if !exists(p) {
			t.Errorf("%s was removed", p)
		}
	}
	if MQExists(deadMQ) || !MQExists(liveMQ) {
		t.Errorf("posix queues: dead one exists %v, live one exists %v", MQExists(deadMQ), MQExists(liveMQ))
	}
	if MsqExists(deadID) || !MsqExists(sharedID) || !MsqExists(earlyID) {
		t.Errorf("sysv queues: dead %v, shared with a live creator %v, older than its creator %v; want false, true, true",
			MsqExists(deadID), MsqExists(sharedID), MsqExists(earlyID))
	}
}
