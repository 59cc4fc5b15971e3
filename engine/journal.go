package engine

import "github.com/pishm/pishm/engine/internal/fold"

// The journal of a worker's slot (see "The journal" in protocol.go) and
// what the parent resets and settles after a death.

// journal is a worker's view of its slot's journal: the active entry, kept
// locally, and the commit that publishes a new one.
type journal struct {
	s     *slot
	seq   uint64
	folds [2]folds // each entry's folds
}

func openJournal(v segView, i, k int) journal {
	s := v.slot(i)
	return journal{s: s, seq: s.seq.Load(), folds: [2]folds{v.entryFolds(i, 0, k), v.entryFolds(i, 1, k)}}
}

// cur is the active entry and its folds. Only this worker writes its slot
// during a call, so it reads them from the segment.
func (j *journal) cur() (*journalEntry, folds) { return &j.s.entry[j.seq&1], j.folds[j.seq&1] }

// next is the inactive entry and its folds, made a copy of the active one
// for the caller to update and commit (plain stores: nothing else reads
// it).
func (j *journal) next() (*journalEntry, folds) {
	e, f := &j.s.entry[(j.seq+1)&1], j.folds[(j.seq+1)&1]
	ce, cf := j.cur()
	*e = *ce
	copy(f, cf)
	return e, f
}

// commit makes the entry next returned the active one (see "The journal").
func (j *journal) commit() {
	fault("journal-half")
	j.seq++
	j.s.seq.Store(j.seq) // store-release: the entry is whole before it is active
}

// active is the slot's committed journal entry.
func (s *slot) active() *journalEntry { return &s.entry[s.seq.Load()&1] }

// resetSlot makes slot i ready for a fresh share: the journal emptied to
// the identities of ops. Only the parent calls it, with no live process
// on the slot.
func (v segView) resetSlot(i int, ops []fold.Op) {
	s := v.slot(i)
	s.entry[0] = journalEntry{}
	s.entry[1] = journalEntry{}
	v.entryFolds(i, 0, len(ops)).Reset(ops)
	s.seq.Store(0)
	s.elapsed.Store(0)
	s.progress.Store(0)
}

// settleChunks fixes the chunk table after the worker with pid died: a chunk
// it claimed is done if its journal covers it, else free again.
func settleChunks(tbl chunkTable, pid uint32, e *journalEntry) {
	for c := range tbl {
		if tbl[c].Load() != pid {
			continue
		}
		if e.last == uint64(c)+1 {
			tbl[c].Store(chunkDone)
		} else {
			tbl[c].Store(0)
		}
	}
}
