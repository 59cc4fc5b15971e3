package segment

import "github.com/pishm/pishm/engine/internal/fold"

// The journal of a worker's slot (see "The journal" in engine/protocol.go) and
// what the parent resets and settles after a death.

// Journal is a worker's view of its slot's Journal: the active entry, kept
// locally, and the commit that publishes a new one.
type Journal struct {
	s     *Slot
	seq   uint64
	folds [2]fold.Folds // each entry's folds
}

func OpenJournal(v View, i, k int) Journal {
	s := v.Slot(i)
	return Journal{s: s, seq: s.Seq.Load(), folds: [2]fold.Folds{v.EntryFolds(i, 0, k), v.EntryFolds(i, 1, k)}}
}

// Cur is the active entry and its folds. Only this worker writes its slot
// during a call, so it reads them from the segment.
func (j *Journal) Cur() (*JournalEntry, fold.Folds) { return &j.s.Entry[j.seq&1], j.folds[j.seq&1] }

// Next is the inactive entry and its folds, made a copy of the active one
// for the caller to update and commit (plain stores: nothing else reads
// it).
func (j *Journal) Next() (*JournalEntry, fold.Folds) {
	e, f := &j.s.Entry[(j.seq+1)&1], j.folds[(j.seq+1)&1]
	ce, cf := j.Cur()
	*e = *ce
	copy(f, cf)
	return e, f
}

// Commit makes the entry next returned the active one (see "The journal" in engine/protocol.go).
func (j *Journal) Commit() {
	j.seq++
	j.s.Seq.Store(j.seq) // store-release: the entry is whole before it is active
}

// Active is the slot's committed journal entry.
func (s *Slot) Active() *JournalEntry { return &s.Entry[s.Seq.Load()&1] }

// ResetSlot makes slot i ready for a fresh share: the journal emptied to
// the identities of ops. Only the parent calls it, with no live process
// on the slot.
func (v View) ResetSlot(i int, ops []fold.Op) {
	s := v.Slot(i)
	s.Entry[0] = JournalEntry{}
	s.Entry[1] = JournalEntry{}
	v.EntryFolds(i, 0, len(ops)).Reset(ops)
	s.Seq.Store(0)
	s.Elapsed.Store(0)
	s.Progress.Store(0)
}

// SettleChunks fixes the chunk table after the worker with pid died: a chunk
// it claimed is done if its journal covers it, else free again.
func SettleChunks(tbl ChunkTable, pid uint32, e *JournalEntry) {
	for c := range tbl {
		if tbl[c].Load() != pid {
			continue
		}
		if e.Last == uint64(c)+1 {
			tbl[c].Store(ChunkDone)
		} else {
			tbl[c].Store(0)
		}
	}
}
