package segment

// Where everything lives in a segment (layout), typed views of it
// (View), and the checks a worker makes before it trusts a segment.

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/fold"
	"github.com/pishm/pishm/shmem"
)

// superacc's accumulators are updated with 64-bit atomics: they must be
// 8-byte aligned in the segment. The tail starts 8-byte aligned, and the
// arrays of accElems and folds keep every element so.
var (
	_ [0]struct{} = [unsafe.Offsetof(AccElem{}.Exact) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(AccElem{}) % 8]struct{}{}
	_ [0]struct{} = [unsafe.Sizeof(fold.Fold{}) % 8]struct{}{}
)

// Layout is where everything lives in a segment.
type Layout struct {
	Workers   int
	Stride    int
	CtlBlocks int // control spans this many blocks
	AccBlocks int // the accumulator spans this many
	SlotSpan  int // blocks per slot
	LanePad   int
	MaxChunks int
	MaxParams int
	MaxK      int
}

func NewLayout(workers, stride, lanePad, maxChunks, maxParams, maxK int) Layout {
	return Layout{
		Workers: workers, Stride: stride,
		CtlBlocks: blocksFor(unsafe.Sizeof(Control{}), stride),
		AccBlocks: blocksFor(unsafe.Sizeof(Accum{}), stride),
		SlotSpan:  blocksFor(unsafe.Sizeof(Slot{}), stride),
		LanePad:   lanePad, MaxChunks: maxChunks, MaxParams: maxParams, MaxK: maxK,
	}
}

func blocksFor(size uintptr, stride int) int { return (int(size) + stride - 1) / stride }

func (l Layout) Blocks() int { return l.CtlBlocks + l.AccBlocks + l.Workers*l.SlotSpan }

// The tail: lanes, the chunk table, the parameters, the ops of the
// elements, the shared accumulator's elements, then the journals' folds
// (worker by worker, entry 0 then 1, k folds each), each 8-byte aligned.
func (l Layout) laneOff() int   { return 0 }
func (l Layout) chunkOff() int  { return l.Workers * l.LanePad }
func (l Layout) paramsOff() int { return l.chunkOff() + (l.MaxChunks*4+7)&^7 }
func (l Layout) opsOff() int    { return l.paramsOff() + (l.MaxParams+7)&^7 }
func (l Layout) accOff() int    { return l.opsOff() + (l.MaxK+7)&^7 }
func (l Layout) foldsOff() int  { return l.accOff() + l.MaxK*int(unsafe.Sizeof(AccElem{})) }
func (l Layout) Tail() int {
	return l.foldsOff() + l.Workers*2*l.MaxK*int(unsafe.Sizeof(fold.Fold{}))
}

// View is a segment seen through a layout.
type View struct {
	Seg *shmem.Segment
	L   Layout
	Ctl *Control
	Acc *Accum
}

func NewView(seg *shmem.Segment, l Layout) View {
	return View{Seg: seg, L: l, Ctl: (*Control)(seg.Block(0)), Acc: (*Accum)(seg.Block(l.CtlBlocks))}
}

func (v View) Slot(i int) *Slot {
	return (*Slot)(v.Seg.Block(v.L.CtlBlocks + v.L.AccBlocks + i*v.L.SlotSpan))
}

// Lane is worker i's word in the false-sharing experiment, or nil.
func (v View) Lane(i int) *atomic.Uint64 {
	if v.L.LanePad == 0 {
		return nil
	}
	return (*atomic.Uint64)(unsafe.Pointer(&v.Seg.Tail()[v.L.laneOff()+i*v.L.LanePad]))
}

// Chunks is the chunk table, k words.
func (v View) Chunks(k int) ChunkTable {
	if k == 0 {
		return nil
	}
	return unsafe.Slice((*atomic.Uint32)(unsafe.Pointer(&v.Seg.Tail()[v.L.chunkOff()])), k)
}

// Ops is the call's Ops, k of them.
func (v View) Ops(k int) []fold.Op {
	off := v.L.opsOff()
	return unsafe.Slice((*fold.Op)(unsafe.Pointer(&v.Seg.Tail()[off])), k)
}

// AccElems is the shared accumulator's first k elements.
func (v View) AccElems(k int) []AccElem {
	return unsafe.Slice((*AccElem)(unsafe.Pointer(&v.Seg.Tail()[v.L.accOff()])), k)
}

// EntryFolds is the first k folds of entry e of worker i's journal.
func (v View) EntryFolds(i, e, k int) fold.Folds {
	off := v.L.foldsOff() + (i*2+e)*v.L.MaxK*int(unsafe.Sizeof(fold.Fold{}))
	return unsafe.Slice((*fold.Fold)(unsafe.Pointer(&v.Seg.Tail()[off])), k)
}

// ActiveFolds is the first k folds of worker i's committed journal entry.
func (v View) ActiveFolds(i, k int) fold.Folds {
	return v.EntryFolds(i, int(v.Slot(i).Seq.Load()&1), k)
}

// Params is the call's parameter bytes.
func (v View) Params(n int) []byte {
	off := v.L.paramsOff()
	return v.Seg.Tail()[off : off+n : off+n]
}

// Check validates what a worker reads from the control block against the
// segment it found it in: everything it indexes with must be in bounds.
func (c *Control) Check(seg *shmem.Segment, stamp [16]byte, maxWorkers int) (Layout, error) {
	if c.Protocol != Version {
		return Layout{}, fmt.Errorf("%w: segment speaks protocol %d, this binary %d", ErrMismatch, c.Protocol, Version)
	}
	if c.Stamp != stamp {
		return Layout{}, fmt.Errorf("%w: the parent was built as %x, this binary as %x", ErrMismatch, c.Stamp, stamp)
	}
	h := seg.Header()
	if c.Workers < 1 || int(c.Workers) > maxWorkers || c.MaxChunks > MaxChunkTable || c.MaxParams > MaxParamBytes ||
		c.MaxK < 1 || c.MaxK > fold.MaxK ||
		c.LanePad != 0 && (c.LanePad < 8 || c.LanePad > 4096 || c.LanePad&(c.LanePad-1) != 0) {
		return Layout{}, fmt.Errorf("%w: control block workers=%d maxChunks=%d maxParams=%d maxK=%d lanePad=%d",
			ErrMismatch, c.Workers, c.MaxChunks, c.MaxParams, c.MaxK, c.LanePad)
	}
	l := NewLayout(int(c.Workers), int(h.Stride), int(c.LanePad), int(c.MaxChunks), int(c.MaxParams), int(c.MaxK))
	if l.Blocks() != int(h.Blocks) || l.Tail() != int(h.Tail) {
		return Layout{}, fmt.Errorf("%w: control block needs %d blocks and %d tail bytes, the segment has %d and %d",
			ErrMismatch, l.Blocks(), l.Tail(), h.Blocks, h.Tail)
	}
	return l, nil
}

// CString reads a NUL-padded name: printable ASCII, then only NULs.
func CString(b []byte) (string, error) {
	s, err := CBytes(b)
	return string(s), err
}

// CBytes is CString without the copy: the name's bytes within b, for a
// lookup (m[string(s)] does not allocate).
func CBytes(b []byte) ([]byte, error) {
	s, rest, _ := bytes.Cut(b, []byte{0})
	for _, c := range rest {
		if c != 0 {
			return nil, errors.New("bytes after the end")
		}
	}
	for _, c := range s {
		if c <= ' ' || c > '~' {
			return nil, fmt.Errorf("byte %q", c)
		}
	}
	return s, nil
}

// SetName writes s NUL-padded into b (s already validated to fit).
func SetName(b []byte, s string) {
	clear(b)
	copy(b, s)
}
