package filestats

import (
	"fmt"
	"os"
	"runtime/debug"
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

// openText opens the size bytes of the text file at path for a piece:
// data, mapped (mappedText), with the calling goroutine set to panic
// rather than crash if the file shrinks under the mapping; or in, open
// for pread. The piece calls done when it is through.
func openText(path string, size int64, mapped bool) (data []byte, in *os.File, done func()) {
	if mapped {
		data = mappedText(path, size) // may panic: before the setting, which done undoes
		old := debug.SetPanicOnFault(true)
		return data, nil, func() { debug.SetPanicOnFault(old) }
	}
	in = mustOpen(path, os.O_RDONLY)
	return nil, in, func() { in.Close() }
}

// mappedText is the size bytes of the file at path, mapped read-only once
// per process. It panics where the file cannot be mapped (the parent's
// probe mapped it), which fails the worker with the message.
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
