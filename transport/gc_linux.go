package transport

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/pishm/pishm/internal/proc"
)

// mqueueDir is where the mqueue filesystem lists POSIX queues, when it is
// mounted.
const mqueueDir = "/dev/mqueue"

// GC removes this user's transport resources whose creator is dead, and
// only those, by the rule of res.go:
//
//   - a manifest pishm-res-PID-START-RANDOM in os.TempDir() whose creator
//     is dead: each resource it lists (a temp dir whose name carries the
//     same creator, a POSIX queue likewise, a System V queue of this user
//     with that key, made no earlier than the creator started), unless a
//     live creator's manifest lists it too; then the manifest itself;
//   - a temp dir pishm-transport-PID-START-RANDOM in os.TempDir(), and a
//     POSIX queue pishm-PID-START-RANDOM where /dev/mqueue is mounted,
//     whose creator is dead (found by name, manifest or not).
//
// Anything not of this user, of another shape, or whose creator lives is
// left alone, and so is a manifest with an entry GC does not know. It
// returns what it removed: paths, "posix mq /NAME" and "sysv msq key 0xKEY
// id ID". A queue pishm made before manifests (a System V queue from
// IPC_PRIVATE, a POSIX queue named pishm-PID-RANDOM) cannot be judged and
// stays. Redis keys expire by themselves (transport/redis).
//
// The first transport run of each process calls GC (NewCollector), so
// what a killed program left goes with the next run; `pishm gc` calls it
// by hand.
func GC() ([]string, error) { return gc(os.TempDir(), mqueueDir) }

// entry is one line of a manifest: a resource kind and its name.
type entry struct{ kind, name string }

// manifest is one manifest file, read.
type manifest struct {
	path    string
	pid     int
	start   uint64
	entries []entry
}

func gc(tmp, mqdir string) ([]string, error) {
	tmp, err := filepath.Abs(tmp) // as NewPrivateDir writes paths
	if err != nil {
		return nil, fmt.Errorf("transport: gc: %w", err)
	}
	des, err := os.ReadDir(tmp)
	if err != nil {
		return nil, fmt.Errorf("transport: gc: %w", err)
	}
	uid := os.Geteuid()
	live := map[entry]bool{} // listed by a live creator: never removed
	var dead []manifest
	var dirs, mqs []entry // found by name, creator dead
	for _, de := range des {
		name := de.Name()
		path := filepath.Join(tmp, name)
		switch {
		case strings.HasPrefix(name, ManifestPrefix):
			pid, start, ok := proc.ParseName(name, ManifestPrefix)
			if !ok || !ownedBy(path, syscall.S_IFREG, uid) {
				continue
			}
			m, ok := readManifest(path)
			if !ok {
				continue
			}
			m.pid, m.start = pid, start
			if proc.Alive(pid, start) {
				for _, e := range m.entries {
					live[e] = true
				}
				continue
			}
			dead = append(dead, m)
		case strings.HasPrefix(name, DirPrefix):
			if pid, start, ok := proc.ParseName(name, DirPrefix); ok && !proc.Alive(pid, start) {
				dirs = append(dirs, entry{resDir, path})
			}
		}
	}
	if des, err := os.ReadDir(mqdir); err == nil { // not mounted: the manifests tell
		for _, de := range des {
			name := de.Name()
			if pid, start, ok := proc.ParseName(name, MQPrefix); ok && !proc.Alive(pid, start) &&
				ownedBy(filepath.Join(mqdir, name), 0, uid) {
				mqs = append(mqs, entry{resPosixMQ, name})
			}
		}
	}

	g := &gcRun{uid: uid, live: live, done: map[entry]bool{}}
	for _, m := range dead {
		ok := true
		for _, e := range m.entries {
			if !g.removeListed(m, e) {
				ok = false
			}
		}
		if !ok {
			continue // the manifest stays: it still lists something
		}
		if err := removeManifest(m.path); err != nil {
			g.fail(err)
			continue
		}
		g.removed = append(g.removed, m.path)
	}
	for _, e := range append(dirs, mqs...) {
		if !g.done[e] && !live[e] {
			g.remove(e, 0)
		}
	}
	return g.removed, errors.Join(g.errs...)
}

// gcRun is the state of one GC.
type gcRun struct {
	uid     int
	live    map[entry]bool
	done    map[entry]bool // handled through a manifest
	msqs    []msq          // read once, on the first System V entry
	msqsErr error
	msqsOK  bool
	removed []string
	errs    []error
}

func (g *gcRun) fail(err error) { g.errs = append(g.errs, fmt.Errorf("transport: gc: %w", err)) }

// removeListed removes resource e of dead manifest m if it is m's
// creator's and no live creator lists it. It returns false if the manifest
// must stay: e is of an unknown kind, or could not be removed.
func (g *gcRun) removeListed(m manifest, e entry) bool {
	g.done[e] = true
	if g.live[e] {
		return true
	}
	switch e.kind {
	case resDir, resPosixMQ:
		name, prefix := filepath.Base(e.name), DirPrefix
		if e.kind == resPosixMQ {
			name, prefix = e.name, MQPrefix
		}
		pid, start, ok := proc.ParseName(name, prefix)
		if !ok || pid != m.pid || start != m.start || (e.kind == resDir && !filepath.IsAbs(e.name)) {
			return true // not a name this creator would have made: leave it be
		}
		return g.remove(e, 0)
	case resSysVMQ:
		key, err := strconv.ParseInt(e.name, 10, 32)
		if err != nil || !isSysVKey(int32(key)) {
			return true
		}
		made, ok := startUnix(m.start)
		if !ok {
			return false
		}
		return g.remove(e, made)
	}
	return false
}

// remove deletes one resource if it is still there and this user's; for a
// System V queue, only one made at or after the Unix time made. It returns
// false if removal failed.
func (g *gcRun) remove(e entry, made int64) bool {
	switch e.kind {
	case resDir:
		if !ownedBy(e.name, syscall.S_IFDIR, g.uid) {
			return true // gone, or not a dir of ours
		}
		if err := os.RemoveAll(e.name); err != nil {
			g.fail(err)
			return false
		}
		g.removed = append(g.removed, e.name)
	case resPosixMQ:
		err := mqUnlink(e.name)
		switch {
		case err == nil:
			g.removed = append(g.removed, "posix mq /"+e.name)
		case errors.Is(err, unix.ENOENT):
		default:
			g.fail(err)
			return false
		}
	case resSysVMQ:
		key, _ := strconv.ParseInt(e.name, 10, 32)
		if !g.msqsOK {
			g.msqs, g.msqsErr = readMsqs()
			g.msqsOK = true
		}
		if g.msqsErr != nil {
			g.fail(g.msqsErr)
			return false
		}
		for _, q := range g.msqs {
			// The creator started at made (to the second); btime's
			// rounding and ctime's truncation are within 2 s.
			if q.key != int32(key) || q.uid != g.uid || q.cuid != g.uid || q.ctime < made-2 {
				continue
			}
			err := msgctl(q.id, unix.IPC_RMID, nil)
			switch {
			case err == nil:
				g.removed = append(g.removed, fmt.Sprintf("sysv msq key 0x%08x id %d", uint32(q.key), q.id))
			case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EIDRM):
			default:
				g.fail(err)
				return false
			}
		}
	}
	return true
}

// ownedBy reports whether path exists, is of type typ (syscall.S_IFDIR,
// S_IFREG; 0 for any) without following a symlink, and belongs to uid.
func ownedBy(path string, typ uint32, uid int) bool {
	var st syscall.Stat_t
	if err := syscall.Lstat(path, &st); err != nil {
		return false
	}
	if typ != 0 && st.Mode&syscall.S_IFMT != typ {
		return false
	}
	return int(st.Uid) == uid
}

// readManifest reads a manifest; ok is false if it is not one (no header).
func readManifest(path string) (manifest, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return manifest{}, false
	}
	rest, ok := strings.CutPrefix(string(b), manifestHeader)
	if !ok {
		return manifest{}, false
	}
	m := manifest{path: path}
	for line := range strings.Lines(rest) {
		kind, name, ok := strings.Cut(strings.TrimSuffix(line, "\n"), " ")
		if ok && name != "" {
			m.entries = append(m.entries, entry{kind, name})
		}
	}
	return m, true
}

// msq is one row of /proc/sysvipc/msg.
type msq struct {
	key       int32
	id        int
	uid, cuid int
	ctime     int64 // Unix seconds: made, or last changed by IPC_SET
}

// readMsqs lists the System V queues (of every user) from
// /proc/sysvipc/msg, whose header names the columns.
func readMsqs() ([]msq, error) {
	f, err := os.Open("/proc/sysvipc/msg")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return nil, fmt.Errorf("/proc/sysvipc/msg: no header")
	}
	col := map[string]int{}
	for i, h := range strings.Fields(sc.Text()) {
		col[h] = i
	}
	for _, h := range []string{"key", "msqid", "uid", "cuid", "ctime"} {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("/proc/sysvipc/msg: no column %s", h)
		}
	}
	var qs []msq
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < len(col) {
			continue
		}
		key, err1 := strconv.ParseInt(f[col["key"]], 10, 32)
		id, err2 := strconv.Atoi(f[col["msqid"]])
		uid, err3 := strconv.Atoi(f[col["uid"]])
		cuid, err4 := strconv.Atoi(f[col["cuid"]])
		ctime, err5 := strconv.ParseInt(f[col["ctime"]], 10, 64)
		if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
			return nil, fmt.Errorf("/proc/sysvipc/msg: %w", err)
		}
		qs = append(qs, msq{key: int32(key), id: id, uid: uid, cuid: cuid, ctime: ctime})
	}
	return qs, sc.Err()
}

// startUnix converts a start time in clock ticks since boot to Unix
// seconds.
func startUnix(start uint64) (int64, bool) {
	boot, ok := proc.BootTime()
	return boot + int64(start/proc.ClockTicks), ok
}
