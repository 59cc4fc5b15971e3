package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pishm/pishm/internal/proc"
)

// Every named resource that this package creates (a private temp dir, a
// POSIX message queue, a System V message queue) can be judged by GC
// without asking anyone, by two means:
//
//   - Its name says who made it: pishm-transport-PID-START-RANDOM for a
//     temp dir, pishm-PID-START-RANDOM for a POSIX queue, where START is
//     the creator's start time in clock ticks since boot (see
//     internal/proc). A System V queue has only a numeric key, so its key
//     is random under the magic high byte sysvKeyMagic.
//   - Before it is created, a manifest in os.TempDir() named
//     pishm-res-PID-START-RANDOM lists it ("KIND NAME"). Close removes the
//     resource, then the manifest. The manifest is how GC finds what it
//     cannot list: a temp dir under another Options.Dir, a POSIX queue
//     where /dev/mqueue is not mounted, and every System V queue.
//
// GC removes a resource only when the creator named in its manifest (or
// its name) is dead, no live creator's manifest lists it, and it belongs
// to this user.

// Prefixes of the names of the resources and manifests.
const (
	DirPrefix      = "pishm-transport-"
	MQPrefix       = "pishm-"
	ManifestPrefix = "pishm-res-"
)

// Resource kinds, the first word of a manifest's entry.
const (
	resDir     = "dir"     // NAME is the absolute path of a private temp dir
	resPosixMQ = "posixmq" // NAME is the queue's name without the leading '/'
	resSysVMQ  = "sysvmq"  // NAME is the queue's key, in decimal
)

// manifestHeader is a manifest's first line; a file without it is not
// read as one.
const manifestHeader = "pishm-res v1\n"

// creator is this process's PID-START (proc.Self), or "" where the start
// time cannot be read (no /proc): there names carry START 0, which GC
// never judges dead, and no manifest is written.
var creator = proc.Self

// creatorOrZero is creator(), or PID-0 where that is "".
func creatorOrZero() string {
	if c := creator(); c != "" {
		return c
	}
	return strconv.Itoa(os.Getpid()) + "-0"
}

// writeManifest records, before it is created, that this process is about
// to create the resource kind/name, and returns the manifest's path ("" if
// the creator cannot be named here: then there is nothing to judge by).
func writeManifest(kind, name string) (string, error) {
	c := creator()
	if c == "" {
		return "", nil
	}
	if strings.ContainsAny(name, "\n\x00") {
		return "", fmt.Errorf("resource name %q holds a newline or NUL", name)
	}
	for {
		path := filepath.Join(os.TempDir(), ManifestPrefix+c+"-"+randomHex(8))
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return "", err
		}
		// One write: the entry is whole before the resource exists.
		_, err = f.WriteString(manifestHeader + kind + " " + name + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(path)
			return "", err
		}
		return path, nil
	}
}

// removeManifest deletes a manifest once its resource is gone.
func removeManifest(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// A PrivateDir is a 0700 temp dir for a backend's named resources (file,
// fifo, unix), named pishm-transport-PID-START-RANDOM and listed in a
// manifest (see GC).
type PrivateDir struct {
	// Path is the dir's absolute path.
	Path     string
	manifest string
}

// NewPrivateDir makes a PrivateDir under opt.Dir (default os.TempDir()).
func NewPrivateDir(opt Options) (*PrivateDir, error) {
	parent := opt.Dir
	if parent == "" {
		parent = os.TempDir()
	}
	parent, err := filepath.Abs(parent)
	if err != nil {
		return nil, err
	}
	for {
		d := &PrivateDir{Path: filepath.Join(parent, DirPrefix+creatorOrZero()+"-"+randomHex(4))}
		if d.manifest, err = writeManifest(resDir, d.Path); err != nil {
			return nil, err
		}
		err := os.Mkdir(d.Path, 0o700)
		if err == nil {
			return d, nil
		}
		removeManifest(d.manifest)
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
}

// Remove deletes the dir and what it holds, then its manifest. If the dir
// cannot be removed, the manifest stays, for GC.
func (d *PrivateDir) Remove() error {
	if err := os.RemoveAll(d.Path); err != nil {
		return err
	}
	return removeManifest(d.manifest)
}
