package engine

import (
	"testing"
	"unsafe"

	"github.com/pishm/pishm/engine/internal/segment"
	"github.com/pishm/pishm/shmem"
)

// TestLayout pins the shared structures: every atomic naturally aligned,
// and what workers of another build would read where this one writes.
func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name      string
		off, want uintptr
	}{
		{"control.job", unsafe.Offsetof(segment.Control{}.Job), 40},
		{"control.gen", unsafe.Offsetof(segment.Control{}.Gen), 144},
		{"control.arrived", unsafe.Offsetof(segment.Control{}.Arrived), 148},
		{"control.finished", unsafe.Offsetof(segment.Control{}.Finished), 152},
		{"control.cancel", unsafe.Offsetof(segment.Control{}.Cancel), 156},
		{"control.next", unsafe.Offsetof(segment.Control{}.Next), 160},
		{"jobSpec.name", unsafe.Offsetof(segment.JobSpec{}.Name), 60},
		{"jobSpec.k", unsafe.Offsetof(segment.JobSpec{}.K), 52},
		{"jobSpec.workers", unsafe.Offsetof(segment.JobSpec{}.Workers), 56},
		{"accElem.exact", unsafe.Offsetof(segment.AccElem{}.Exact), 8},
		{"accum.lock", unsafe.Offsetof(segment.Accum{}.Lock), 0},
		{"slot.seq", unsafe.Offsetof(segment.Slot{}.Seq), 48},
		{"slot.state", unsafe.Offsetof(segment.Slot{}.State), 56},
		{"slot.doneGen", unsafe.Offsetof(segment.Slot{}.DoneGen), 64},
		{"slot.elapsed", unsafe.Offsetof(segment.Slot{}.Elapsed), 72},
		{"slot.progress", unsafe.Offsetof(segment.Slot{}.Progress), 80},
	} {
		if c.off != c.want {
			t.Errorf("%s at %d, want %d (bump protocolVersion when the layout changes)", c.name, c.off, c.want)
		}
		if c.off%4 != 0 {
			t.Errorf("%s at %d is not aligned", c.name, c.off)
		}
	}
	// A slot's journal entries hold counts; their folds are in the tail.
	if s := unsafe.Sizeof(segment.Slot{}); s > 128 {
		t.Errorf("a slot is %d bytes, more than one block of the default stride", s)
	}
}

// FuzzControl writes arbitrary bytes over a segment's control block and
// checks what a worker would: the checks never panic, and what they
// accept is safe to index with.
func FuzzControl(f *testing.F) {
	l := segment.NewLayout(3, 128, 8, 16, 32, 5)
	seg, err := shmem.Create(shmem.Options{Blocks: l.Blocks(), Stride: l.Stride, Tail: l.Tail()})
	if err != nil {
		f.Fatal(err)
	}
	defer seg.Close()
	ctl := (*segment.Control)(seg.Block(0))
	raw := unsafe.Slice((*byte)(unsafe.Pointer(ctl)), unsafe.Sizeof(segment.Control{}))
	*ctl = segment.Control{Protocol: segment.Version, Workers: 3, Stamp: buildStamp(), LanePad: 8, MaxChunks: 16, MaxParams: 32, MaxK: 5}
	ctl.Job = segment.JobSpec{N: 100, Step: 10, Chunks: 10, Grain: 5, Mode: modeCode[modeSlots], K: 2, Dynamic: true, Params: 4, Workers: 3}
	copy(segment.NewView(seg, l).Ops(2), []Op{Sum, Max})
	segment.SetName(ctl.Job.Name[:], "oddsq")
	f.Add(append([]byte(nil), raw...))
	f.Fuzz(func(t *testing.T, b []byte) {
		copy(raw, b)
		got, err := ctl.Check(seg, buildStamp(), maxWorkers)
		if err != nil {
			return
		}
		if got.Blocks() != int(seg.Header().Blocks) || got.Tail() != len(seg.Tail()) {
			t.Fatalf("accepted a layout that does not match the segment: %+v", got)
		}
		j := ctl.Job
		v := segment.NewView(seg, got)
		if err := checkJob(&j, got, v.Ops); err != nil {
			return
		}
		if j.N == 0 || j.Step == 0 || j.Params > uint32(got.MaxParams) || j.K < 1 || j.K > uint32(got.MaxK) ||
			j.Dynamic && (j.Chunks > uint64(got.MaxChunks) || j.Chunks*j.Step < j.N) {
			t.Fatalf("accepted a bad job: %+v", j)
		}
		_ = v.Params(int(j.Params))
		_ = v.AccElems(int(j.K))
		_ = v.EntryFolds(got.Workers-1, 1, int(j.K))
		_ = v.Chunks(int(j.Chunks))
		_ = v.Slot(got.Workers - 1)
		_ = v.Lane(got.Workers - 1)
	})
}
