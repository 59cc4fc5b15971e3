package engine

// Where everything lives in a segment (layout), typed views of it
// (segView), and the checks a worker makes before it trusts a segment.

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/shmem"
)

// superacc's accumulators are updated with 64-bit atomics: they must be
// 8-byte aligned in the segment. The tail starts 8-byte aligned, and the
// arrays of accElems and folds keep every element so.
var (
	_ [0]struct{} = [unsafe.Offsetof(accElem{}.exact) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(accElem{}) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(fold.Fold{}) % 8]struct{}{}
)

// layout is where everything lives in a segment.
type layout struct {
	workers   int
	stride    int
	ctlBlocks int // control spans this many blocks
	accBlocks int // the accumulator spans this many
	slotSpan  int // blocks per slot
	lanePad   int
	maxChunks int
	maxParams int
	maxK      int
}

func newLayout(workers, stride, lanePad, maxChunks, maxParams, maxK int) layout {
	return layout{
		workers: workers, stride: stride,
		ctlBlocks: blocksFor(unsafe.Sizeof(control{}), stride),
		accBlocks: blocksFor(unsafe.Sizeof(accum{}), stride),
		slotSpan:  blocksFor(unsafe.Sizeof(slot{}), stride),
		lanePad:   lanePad, maxChunks: maxChunks, maxParams: maxParams, maxK: maxK,
	}
}

func blocksFor(size uintptr, stride int) int { return (int(size) + stride - 1) / stride }

func (l layout) blocks() int { return l.ctlBlocks + l.accBlocks + l.workers*l.slotSpan }

// The tail: lanes, the chunk table, the parameters, the ops of the
// elements, the shared accumulator's elements, then the journals' folds
// (worker by worker, entry 0 then 1, k folds each), each 8-byte aligned.
func (l layout) laneOff() int   { return 0 }
func (l layout) chunkOff() int  { return l.workers * l.lanePad }
func (l layout) paramsOff() int { return l.chunkOff() + (l.maxChunks*4+7)&^7 }
func (l layout) opsOff() int    { return l.paramsOff() + (l.maxParams+7)&^7 }
func (l layout) accOff() int    { return l.opsOff() + (l.maxK+7)&^7 }
func (l layout) foldsOff() int  { return l.accOff() + l.maxK*int(unsafe.Sizeof(accElem{})) }
func (l layout) tail() int {
	return l.foldsOff() + l.workers*2*l.maxK*int(unsafe.Sizeof(fold.Fold{}))
}

// segView is a segment seen through a layout.
type segView struct {
	seg *shmem.Segment
	l   layout
	ctl *control
	acc *accum
}

func newView(seg *shmem.Segment, l layout) segView {
	return segView{seg: seg, l: l, ctl: (*control)(seg.Block(0)), acc: (*accum)(seg.Block(l.ctlBlocks))}
}

func (v segView) slot(i int) *slot {
	return (*slot)(v.seg.Block(v.l.ctlBlocks + v.l.accBlocks + i*v.l.slotSpan))
}

// lane is worker i's word in the false-sharing experiment, or nil.
func (v segView) lane(i int) *atomic.Uint64 {
	if v.l.lanePad == 0 {
		return nil
	}
	return (*atomic.Uint64)(unsafe.Pointer(&v.seg.Tail()[v.l.laneOff()+i*v.l.lanePad]))
}

// chunks is the chunk table, k words.
func (v segView) chunks(k int) chunkTable {
	if k == 0 {
		return nil
	}
	return unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(&v.seg.Tail()[v.l.chunkOff()])), k)
}

// ops is the call's ops, k of them.
func (v segView) ops(k int) []fold.Op {
	off := v.l.opsOff()
	return unsafe.Slice((*fold.Op)(unsafe.Pointer(&v.seg.Tail()[off])), k)
}

// accElems is the shared accumulator's first k elements.
func (v segView) accElems(k int) []accElem {
	return unsafe.Slice((*accElem)(unsafe.Pointer(&v.seg.Tail()[v.l.accOff()])), k)
}

// entryFolds is the first k folds of entry e of worker i's journal.
func (v segView) entryFolds(i, e, k int) folds {
	off := v.l.foldsOff() + (i*2+e)*v.l.maxK*int(unsafe.Sizeof(fold.Fold{}))
	return unsafe.Slice((*fold.Fold)(unsafe.Pointer(&v.seg.Tail()[off])), k)
}

// activeFolds is the first k folds of worker i's committed journal entry.
func (v segView) activeFolds(i, k int) folds {
	return v.entryFolds(i, int(v.slot(i).seq.Load()&1), k)
}

// params is the call's parameter bytes.
func (v segView) params(n int) []byte {
	off := v.l.paramsOff()
	return v.seg.Tail()[off : off+n : off+n]
}

// check validates what a worker reads from the control block against the
// segment it found it in: everything it indexes with must be in bounds.
func (c *control) check(seg *shmem.Segment) (layout, error) {
	if c.protocol != protocolVersion {
		return layout{}, fmt.Errorf("%w: segment speaks protocol %d, this binary %d", ErrProtocol, c.protocol, protocolVersion)
	}
	if c.stamp != buildStamp() {
		return layout{}, fmt.Errorf("%w: the parent was built as %x, this binary as %x", ErrProtocol, c.stamp, buildStamp())
	}
	h := seg.Header()
	if c.workers < 1 || c.workers > maxWorkers || c.maxChunks > maxChunkTable || c.maxParams > maxParams ||
		c.maxK < 1 || c.maxK > maxK ||
		c.lanePad != 0 && (c.lanePad < 8 || c.lanePad > 4096 || c.lanePad&(c.lanePad-1) != 0) {
		return layout{}, fmt.Errorf("%w: control block workers=%d maxChunks=%d maxParams=%d maxK=%d lanePad=%d",
			ErrProtocol, c.workers, c.maxChunks, c.maxParams, c.maxK, c.lanePad)
	}
	l := newLayout(int(c.workers), int(h.Stride), int(c.lanePad), int(c.maxChunks), int(c.maxParams), int(c.maxK))
	if l.blocks() != int(h.Blocks) || l.tail() != int(h.Tail) {
		return layout{}, fmt.Errorf("%w: control block needs %d blocks and %d tail bytes, the segment has %d and %d",
			ErrProtocol, l.blocks(), l.tail(), h.Blocks, h.Tail)
	}
	return l, nil
}

// check validates a job a worker is about to run, and its ops.
func (j *jobSpec) check(l layout, ops func(k int) []fold.Op) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: job "+format, append([]any{ErrProtocol}, args...)...)
	}
	mode, ok := modeOf(j.mode)
	switch {
	case !ok || mode == modeGoroutines:
		return bad("mode code %d", j.mode)
	case j.k < 1 || j.k > uint32(l.maxK):
		return bad("%d elements (room for %d)", j.k, l.maxK)
	case j.k > 1 && mode == modeRacy:
		return bad("mode %s with %d elements", mode, j.k)
	case j.n == 0 || j.n > maxN || j.offset > maxN-j.n:
		return bad("terms [%d, %d+%d)", j.offset, j.offset, j.n)
	case j.grain == 0 || j.grain > maxGrain || j.step == 0 || j.step%j.grain != 0:
		return bad("step %d, grain %d", j.step, j.grain)
	case j.dynamic && (j.chunks != (j.n-1)/j.step+1 || j.chunks > uint64(l.maxChunks)):
		return bad("%d chunks of %d for %d terms (table holds %d)", j.chunks, j.step, j.n, l.maxChunks)
	case !j.dynamic && j.chunks != 0:
		return bad("static with %d chunks", j.chunks)
	case j.params > uint32(l.maxParams):
		return bad("%d parameter bytes (room for %d)", j.params, l.maxParams)
	case mode.isTransport() && j.dynamic:
		return bad("mode %s with dynamic chunks", mode)
	}
	for e, op := range ops(int(j.k)) {
		if op < fold.Sum || op > fold.Max {
			return bad("element %d: op %d", e, op)
		}
	}
	if _, err := cString(j.name[:]); err != nil {
		return bad("name: %v", err)
	}
	return nil
}

// cString reads a NUL-padded name: printable ASCII, then only NULs.
func cString(b []byte) (string, error) {
	s, rest, _ := strings.Cut(string(b), "\x00")
	if strings.Trim(rest, "\x00") != "" {
		return "", errors.New("bytes after the end")
	}
	for _, r := range s {
		if r <= ' ' || r > '~' {
			return "", fmt.Errorf("byte %q", r)
		}
	}
	return s, nil
}

// setName writes s NUL-padded into b (s already validated to fit).
func setName(b []byte, s string) {
	clear(b)
	copy(b, s)
}
