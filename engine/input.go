package engine

import (
	"fmt"
	"unsafe"

	"github.com/pishm/pishm/shmem"
)

// Float64File maps a file of native-endian float64s read-only, shared by
// every process that maps it (one copy in the page cache), for a
// registered Func to reduce: open it in the Func's first call in each
// worker, and index it with the terms' [lo, hi).
func Float64File(path string) (data []float64, unmap func() error, err error) {
	b, unmap, err := shmem.MapFile(path)
	if err != nil {
		return nil, nil, err
	}
	if len(b)%8 != 0 {
		unmap()
		return nil, nil, fmt.Errorf("engine: %s: %d bytes is not a whole number of float64s", path, len(b))
	}
	if len(b) == 0 {
		return nil, unmap, nil
	}
	return unsafe.Slice((*float64)(unsafe.Pointer(&b[0])), len(b)/8), unmap, nil
}
