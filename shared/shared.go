// Package shared holds arrays in memory that a program and its worker
// processes use in place: the program makes an Array and fills it, puts
// its Handle in a call's params, and the registered Func attaches it in
// each worker (Attach) and reads (or writes) the same pages, without a
// copy and without a file on disk.
//
// An Array is an anonymous in-memory file (memfd) mapped shared. A worker
// reaches it through /proc/PID/fd of the program that made it, which it
// may do while that program keeps the Array open: workers are the
// program's children and die with it, so a pishm worker always can. Its
// memory is freed when the program closes it (or exits) and the last
// worker that mapped it exits or attaches another array in its place;
// nothing is ever left in /dev/shm or on disk, however the program dies.
//
// Ordering: what the program writes before it starts a call (engine.Reduce,
// Pool.Reduce) is seen by every worker in that call, since a call is
// published to the workers after its params, through the segment's
// atomics; the data may change between calls of a Pool.
package shared

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unsafe"
)

// Elem is an element type an Array may hold.
type Elem interface {
	~float64 | ~float32 | ~int64 | ~uint64 | ~int32 | ~uint32 | ~uint8
}

// Handle names an Array to the worker processes of the program that
// made it: a short string to put in a call's params.
type Handle string

// handle is a Handle's parts.
type handle struct {
	pid, fd, size, n int
	token            string
}

const prefix = "pishm-array:"

func (h handle) String() string {
	return fmt.Sprintf("%s%d:%d:%d:%d:%s", prefix, h.pid, h.fd, h.size, h.n, h.token)
}

func parseHandle(h Handle) (handle, error) {
	rest, ok := strings.CutPrefix(string(h), prefix)
	f := strings.Split(rest, ":")
	if !ok || len(f) != 5 {
		return handle{}, fmt.Errorf("shared: %q is not an array handle", h)
	}
	var x handle
	for i, p := range []*int{&x.pid, &x.fd, &x.size, &x.n} {
		v, err := strconv.Atoi(f[i])
		if err != nil || v < 0 {
			return handle{}, fmt.Errorf("shared: %q is not an array handle", h)
		}
		*p = v
	}
	x.token = f[4]
	return x, nil
}

// ErrClosed is the error of an Array used after Close.
var ErrClosed = errors.New("shared: array closed")

// Array is n elements of type T in shared memory.
type Array[T Elem] struct {
	data []T
	h    handle
	sys  sysArray
}

// New makes an array of n zero elements.
func New[T Elem](n int) (*Array[T], error) {
	var zero T
	size := int(unsafe.Sizeof(zero))
	if n < 0 || n > (1<<47)/size {
		return nil, fmt.Errorf("shared: %d elements of %d bytes", n, size)
	}
	sys, h, err := create(n * size)
	if err != nil {
		return nil, err
	}
	h.size, h.n = size, n
	a := &Array[T]{h: h, sys: sys}
	if n > 0 {
		a.data = unsafe.Slice((*T)(unsafe.Pointer(&sys.mem[0])), n)
	}
	local.add(h.token, sys.mem)
	return a, nil
}

// Data is the array's elements, to fill or read in this process.
func (a *Array[T]) Data() []T { return a.data }

// Handle is the array's name for Attach in a worker.
func (a *Array[T]) Handle() Handle { return Handle(a.h.String()) }

// Close unmaps the array in this process and lets its memory go once the
// workers have let it go too. Data must not be used after.
func (a *Array[T]) Close() error {
	if a.sys.mem == nil {
		return nil
	}
	local.remove(a.h.token)
	a.data = nil
	return a.sys.close()
}

// Attach maps the array h names into this process and returns its
// elements: in a worker, the pages the program made; in the program
// itself (a Func run in the caller), the program's own slice. A worker
// maps an array once and keeps it for its later calls. The element type
// must be the one the array was made with.
func Attach[T Elem](h Handle) ([]T, error) {
	x, err := parseHandle(h)
	if err != nil {
		return nil, err
	}
	var zero T
	if int(unsafe.Sizeof(zero)) != x.size {
		return nil, fmt.Errorf("shared: %s holds %d-byte elements, not %T", h, x.size, zero)
	}
	mem, err := attach(x)
	if err != nil {
		return nil, err
	}
	if len(mem) < x.n*x.size { // a handle edited by hand
		return nil, fmt.Errorf("shared: %s holds %d bytes, fewer than its %d elements", h, len(mem), x.n)
	}
	if x.n == 0 {
		return nil, nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(&mem[0])), x.n), nil
}
