package shared

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/pishm/pishm/shmem"
)

// mappedFile is a file MapFile has mapped, with what identified it then.
type mappedFile struct {
	mem   []byte
	unmap func() error
	stat  os.FileInfo
}

var files = struct {
	sync.Mutex
	m map[string]mappedFile
}{m: map[string]mappedFile{}}

// MapFile maps the file at path read-only and shared, as elements of type
// T in the machine's byte order, for a Func to read in every worker: the
// pages are the page cache's, one copy for all processes. A process maps
// a file once and keeps it for later calls (a pool worker serves many);
// a file replaced or changed on disk since is mapped afresh and the old
// mapping let go. Its size must be a whole number of elements.
func MapFile[T Elem](path string) ([]T, error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files.Lock()
	defer files.Unlock()
	f, ok := files.m[path]
	if ok && !sameFile(f.stat, fi) {
		f.unmap()
		delete(files.m, path)
		ok = false
	}
	if !ok {
		mem, unmap, err := shmem.MapFile(path)
		if err != nil {
			return nil, err
		}
		f = mappedFile{mem: mem, unmap: unmap, stat: fi}
		files.m[path] = f
	}
	if len(f.mem)%size != 0 {
		return nil, fmt.Errorf("shared: %s: %d bytes is not a whole number of %d-byte elements", path, len(f.mem), size)
	}
	if len(f.mem) == 0 {
		return nil, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&f.mem[0])), len(f.mem)/size), nil
}

// sameFile reports whether a and b describe the same unchanged file.
func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}
