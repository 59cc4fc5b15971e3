package filestats

import (
	"fmt"
	"os"
	"sync"

	"github.com/edsrzf/mmap-go"
)

// textMaps holds the text files this process has mapped, by path: the
// index and the parse read the same file, and a worker that serves both
// finds the pages the index faulted in still mapped for the parse.
var textMaps = struct {
	sync.Mutex
	m map[textKey]mmap.MMap
}{m: map[textKey]mmap.MMap{}}

type textKey struct {
	path string
	size int64
}

// mappedText is the size bytes of the file at path, mapped read-only once
// per process. It panics where the file cannot be mapped (the parent's
// probe mapped it), which fails the worker with the message. A reader of
// the bytes sets debug.SetPanicOnFault: a file that shrinks under the
// mapping then panics too, rather than crashing the process.
func mappedText(path string, size int64) []byte {
	textMaps.Lock()
	defer textMaps.Unlock()
	key := textKey{path, size}
	if m, ok := textMaps.m[key]; ok {
		return m
	}
	f := mustOpen(path, os.O_RDONLY)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		panic(err)
	}
	if fi.Size() < size {
		panic(fmt.Sprintf("%s: now holds %d bytes, fewer than the %d it had (did the file change while it was read?)", path, fi.Size(), size))
	}
	m, err := mmap.MapRegion(f, int(size), mmap.RDONLY, 0, 0)
	if err != nil {
		panic(fmt.Sprintf("%s: map: %v", path, err))
	}
	textMaps.m[key] = m
	return m
}

// releaseText unmaps what mappedText mapped of path in this process:
// ComputeText calls it when done, for the goroutines mode, where the
// pieces ran here (a pool's workers exit with the pool).
func releaseText(path string, size int64) {
	textMaps.Lock()
	defer textMaps.Unlock()
	key := textKey{path, size}
	if m, ok := textMaps.m[key]; ok {
		m.Unmap()
		delete(textMaps.m, key)
	}
}
