package engine

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"hash/fnv"
	"io"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/pishm/pishm/engine/internal/segment"
)

// buildTag names a build from outside, for builds whose version control
// state does not name their code (a dirty tree, -buildvcs=false, a tree
// without .git): binaries linked with the same
//
//	-ldflags=-X=github.com/pishm/pishm/engine.buildTag=NAME
//
// count as one build, so that such a pishm and the pishm-worker built
// beside it share their stamp.
var buildTag string

// build is this binary's stamp, and whether it names the source the
// binary was built from (buildFromSource).
var build = sync.OnceValue(func() builtFrom {
	bi, _ := debug.ReadBuildInfo()
	return stampOf(bi, buildTag, exeBuildID)
})

type builtFrom struct {
	stamp      [16]byte
	fromSource bool
}

// buildStamp identifies the build of this binary as far as the worker
// protocol and results care: the protocol version, the Go toolchain, the
// main module's version and checksum, and the version-control state and
// build settings it was built with. A parent and a worker binary built
// from the same source with the same settings agree; a stale worker
// binary does not, and refuses to work (control.check) rather than run
// other code.
func buildStamp() [16]byte { return build().stamp }

// buildFromSource says whether buildStamp names the source this binary
// was built from, so that another binary built from it (pishm-worker)
// shares it. Where it does not, buildStamp also names this executable
// file, and only this file (as a re-executed worker) shares it.
func buildFromSource() bool { return build().fromSource }

// stampOf is the stamp of a binary with build info bi (nil: unknown),
// build tag tag and Go build ID exeID (asked only where bi and tag do not
// name the source).
//
// The source is named by a module version with its checksum (go install
// m@v), by a version-control revision with no uncommitted changes, or by
// a build tag. Nothing else is: two builds of a tree with uncommitted
// changes, or of a tree built with -buildvcs=false (GOFLAGS in many
// containers), have the same build info whatever code they hold, and a
// pishm-worker left from an earlier build would run its old code for a
// new parent.
func stampOf(bi *debug.BuildInfo, tag string, exeID func() string) builtFrom {
	h := fnv.New128a()
	put := func(s string) { h.Write([]byte(s)); h.Write([]byte{0}) }
	put(strconv.Itoa(segment.Version))
	put("tag=" + tag)
	fromSource := tag != ""
	if bi != nil {
		put(bi.GoVersion)
		put(bi.Main.Path)
		put(bi.Main.Version)
		put(bi.Main.Sum)
		rev, modified := "", false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "-tags", "GOARCH", "GOAMD64", "GOARM64", "CGO_ENABLED":
				put(s.Key + "=" + s.Value)
			}
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		released := bi.Main.Sum != "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" && !strings.HasSuffix(bi.Main.Version, "+dirty")
		fromSource = fromSource || !modified && (rev != "" || released)
	}
	if !fromSource {
		put("exe=" + exeID())
	}
	var b builtFrom
	copy(b.stamp[:], h.Sum(nil))
	b.fromSource = fromSource
	return b
}

// exeBuildID names this executable file: its Go build ID (which the
// go command derives from the file's content), found the way the go
// command's buildid tool finds it, in the first 32 KiB (an ELF note, or
// the marker other formats carry); a hash of the whole file where there
// is none (a build with -ldflags=-buildid=).
func exeBuildID() string {
	path, err := os.Executable()
	if err != nil {
		return "unknown executable"
	}
	f, err := os.Open(path)
	if err != nil {
		return "unreadable " + path
	}
	defer f.Close()
	head := make([]byte, 32<<10)
	n, _ := io.ReadFull(f, head)
	if id := goBuildID(head[:n]); id != "" {
		return id
	}
	h := fnv.New128a()
	f.Seek(0, io.SeekStart)
	io.Copy(h, f)
	return "sum " + hex.EncodeToString(h.Sum(nil))
}

// goBuildID finds the Go build ID in the head of an executable: an ELF
// note named "Go" of type 4 (namesz, descsz, type, name, then the ID),
// or the text `\xff Go build ID: "ID"\n \xff`.
func goBuildID(head []byte) string {
	for at := 0; ; {
		i := bytes.Index(head[at:], []byte("Go\x00\x00"))
		if i < 0 {
			break
		}
		p := at + i
		at = p + 1
		if p < 12 {
			continue
		}
		le := binary.LittleEndian
		if le.Uint32(head[p-12:]) != 4 || le.Uint32(head[p-4:]) != 4 {
			continue
		}
		if n := int(le.Uint32(head[p-8:])); n > 0 && p+4+n <= len(head) {
			return string(head[p+4 : p+4+n])
		}
	}
	const marker = "\xff Go build ID: \""
	if i := bytes.Index(head, []byte(marker)); i >= 0 {
		rest := head[i+len(marker):]
		if j := bytes.IndexByte(rest, '"'); j > 0 {
			return string(rest[:j])
		}
	}
	return ""
}

// buildID names the build of this binary as far as results go
// (catalog.BuildID).
func buildID() string {
	s := buildStamp()
	return hex.EncodeToString(s[:])
}
