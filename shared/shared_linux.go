package shared

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sysArray is the memfd and its mapping in the process that made it.
type sysArray struct {
	fd   int
	mem  []byte // the whole file: the elements and the status word
	size int    // of the elements
}

// The array's file holds its elements, then, at the next 8-byte
// boundary, a word that Close sets: a worker that kept the array mapped
// sees it there and refuses the handle rather than read a closed array.
func statusOff(size int) int { return (size + 7) &^ 7 }

func fileSize(size int) int { return statusOff(size) + 8 }

func closedWord(mem []byte, size int) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Pointer(&mem[statusOff(size)]))
}

func (s *sysArray) close() error {
	var err error
	if s.mem != nil {
		closedWord(s.mem, s.size).Store(1)
		err = unix.Munmap(s.mem)
		s.mem = nil
	}
	if s.fd >= 0 {
		if e := unix.Close(s.fd); err == nil {
			err = e
		}
		s.fd = -1
	}
	return err
}

func memfdName(token string) string { return "pishm-array-" + token }

func create(size int) (sysArray, handle, error) {
	var b [8]byte
	rand.Read(b[:])
	token := hex.EncodeToString(b[:])
	fd, err := unix.MemfdCreate(memfdName(token), unix.MFD_CLOEXEC)
	if err != nil {
		return sysArray{}, handle{}, fmt.Errorf("shared: memfd_create: %w", err)
	}
	s := sysArray{fd: fd, size: size}
	if err := unix.Ftruncate(fd, int64(fileSize(size))); err != nil {
		s.close()
		return sysArray{}, handle{}, fmt.Errorf("shared: %d bytes: %w", size, err)
	}
	s.mem, err = unix.Mmap(fd, 0, fileSize(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		s.close()
		return sysArray{}, handle{}, fmt.Errorf("shared: mmap %d bytes: %w", size, err)
	}
	return s, handle{pid: os.Getpid(), fd: fd, token: token}, nil
}

// registry holds the arrays this process made, by token: Attach in the
// process itself returns them as they are.
type registry struct {
	sync.Mutex
	m map[string][]byte
}

func (r *registry) add(token string, mem []byte) {
	r.Lock()
	r.m[token] = mem
	r.Unlock()
}

func (r *registry) remove(token string) {
	r.Lock()
	delete(r.m, token)
	r.Unlock()
}

var local = &registry{m: map[string][]byte{}}

// attached holds the arrays this process attached from another, by
// handle.
var attached = struct {
	sync.Mutex
	m map[handle][]byte
}{m: map[handle][]byte{}}

func attach(h handle) ([]byte, error) {
	if h.pid == os.Getpid() {
		local.Lock()
		defer local.Unlock()
		mem, ok := local.m[h.token]
		if !ok {
			return nil, ErrClosed
		}
		return mem, nil
	}
	size := h.n * h.size
	attached.Lock()
	defer attached.Unlock()
	if mem, ok := attached.m[h]; ok {
		if closedWord(mem, size).Load() != 0 {
			return nil, fmt.Errorf("shared: array %s is gone (closed by its program)", h.token)
		}
		return mem, nil
	}
	path := fmt.Sprintf("/proc/%d/fd/%d", h.pid, h.fd)
	// The descriptor must still be the array the handle names: a closed
	// array's number may have been reused for another file.
	if l, err := os.Readlink(path); err != nil || l != "/memfd:"+memfdName(h.token)+" (deleted)" {
		return nil, fmt.Errorf("shared: array %s is gone (closed, or its program exited)", h.token)
	}
	// An array attached before through the same descriptor is closed in
	// its program: let its pages go.
	for old, mem := range attached.m {
		if old.pid == h.pid && old.fd == h.fd {
			unix.Munmap(mem)
			delete(attached.m, old)
		}
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("shared: open %s: %w", path, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Size < int64(fileSize(size)) {
		return nil, fmt.Errorf("shared: array %s holds %d bytes, want %d", h.token, st.Size, fileSize(size))
	}
	mem, err := unix.Mmap(fd, 0, fileSize(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("shared: mmap %d bytes: %w", size, err)
	}
	if closedWord(mem, size).Load() != 0 {
		unix.Munmap(mem)
		return nil, fmt.Errorf("shared: array %s is gone (closed by its program)", h.token)
	}
	attached.m[h] = mem
	return mem, nil
}
