package engine

import (
	"testing"
	"unsafe"

	"github.com/pishm/pishm/shmem"
)

// TestLayout pins the shared structures: every atomic naturally aligned,
// and what workers of another build would read where this one writes.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		off, want uintptr
	}{
		{"control.job", unsafe.Offsetof(control{}.job), 40},
		{"control.gen", unsafe.Offsetof(control{}.gen), 136},
		{"control.arrived", unsafe.Offsetof(control{}.arrived), 140},
		{"control.finished", unsafe.Offsetof(control{}.finished), 144},
		{"control.cancel", unsafe.Offsetof(control{}.cancel), 148},
		{"control.next", unsafe.Offsetof(control{}.next), 152},
		{"jobSpec.name", unsafe.Offsetof(jobSpec{}.name), 56},
		{"jobSpec.k", unsafe.Offsetof(jobSpec{}.k), 52},
		{"accElem.exact", unsafe.Offsetof(accElem{}.exact), 8},
		{"accum.lock", unsafe.Offsetof(accum{}.lock), 0},
		{"slot.seq", unsafe.Offsetof(slot{}.seq), 48},
		{"slot.state", unsafe.Offsetof(slot{}.state), 56},
		{"slot.doneGen", unsafe.Offsetof(slot{}.doneGen), 64},
		{"slot.elapsed", unsafe.Offsetof(slot{}.elapsed), 72},
		{"slot.progress", unsafe.Offsetof(slot{}.progress), 80},
	} {
		if c.off != c.want {
			t.Errorf("%s at %d, want %d (bump protocolVersion when the layout changes)", c.name, c.off, c.want)
		}
		if c.off%4 != 0 {
			t.Errorf("%s at %d is not aligned", c.name, c.off)
		}
	}
	// A slot's journal entries hold counts; their folds are in the tail.
	if s := unsafe.Sizeof(slot{}); s > 128 {
		t.Errorf("a slot is %d bytes, more than one block of the default stride", s)
	}
}

// FuzzControl writes arbitrary bytes over a segment's control block and
// checks what a worker would: the checks never panic, and what they
// accept is safe to index with.
func FuzzControl(f *testing.F) {
	l := newLayout(3, 128, 8, 16, 32, 5)
	seg, err := shmem.Create(shmem.Options{Blocks: l.blocks(), Stride: l.stride, Tail: l.tail()})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	ctl := (*control)(seg.Block(0))
	raw := unsafe.Slice((*byte)(unsafe.Pointer(ctl)), unsafe.Sizeof(control{}))
	*ctl = control{protocol: protocolVersion, workers: 3, stamp: buildStamp(), lanePad: 8, maxChunks: 16, maxParams: 32, maxK: 5}
	ctl.job = jobSpec{n: 100, step: 10, chunks: 10, grain: 5, mode: modeCode[modeSlots], k: 2, dynamic: true, params: 4}
	copy(newView(seg, l).ops(2), []Op{Sum, Max})
	setName(ctl.job.name[:], "oddsq")
	f.Add(append([]byte(nil), raw...))
	f.Fuzz(func(t *testing.T, b []byte) {
		copy(raw, b)
		got, err := ctl.check(seg)
		if err != nil {
			return
		}
		if got.blocks() != int(seg.Header().Blocks) || got.tail() != len(seg.Tail()) {
			t.Fatalf("accepted a layout that does not match the segment: %+v", got)
		}
		j := ctl.job
		v := newView(seg, got)
		if err := j.check(got, v.ops); err != nil {
			return
		}
		if j.n == 0 || j.step == 0 || j.params > uint32(got.maxParams) || j.k < 1 || j.k > uint32(got.maxK) ||
			j.dynamic && (j.chunks > uint64(got.maxChunks) || j.chunks*j.step < j.n) {
			t.Fatalf("accepted a bad job: %+v", j)
		}
		_ = v.params(int(j.params))
		_ = v.accElems(int(j.k))
		_ = v.entryFolds(got.workers-1, 1, int(j.k))
		_ = v.chunks(int(j.chunks))
		_ = v.slot(got.workers - 1)
		_ = v.lane(got.workers - 1)
	})
}
