package filestats

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"unsafe"

	"github.com/edsrzf/mmap-go"

	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/engine"
)

// Text with no '"' is read without the index: there a record is a line,
// so each part finds its own records, and the pass that reads the whole
// file only to lay it out goes. Part k holds the records that start past
// the first '\n' in block k (from the first record, for part 0), up to
// and including the first '\n' at or past block k+1's start: the layout
// textcol.Resolve gives such a file. A part finds that first '\n' by
// looking in its own block only (none there: it holds no record start,
// and is empty), so that a line across many blocks is looked through
// once.
//
// A part's records cannot know their places in the arrays before the
// parts ahead of it are read: each block of values the part writes takes
// the next free places from a counter in a file all workers map. The
// arrays then hold the values in another order than the file's, which the
// statistics, exact sums and counts, do not see. A part also records
// where it starts and how many records it read, from which the parent
// finds the line of a bad field.
//
// A part that meets a '"' the head did not show stops, and says so: the
// parent then indexes the file and parses it again. So does a count of
// values placed that is not the count of records the parts read: a worker
// that died after it placed values, whose part ran again.
const directPref = "stats.text.direct."

func directName(cols int) string { return directPref + strconv.Itoa(tier(parseTiers, cols)) }

func init() {
	for _, t := range parseTiers {
		engine.Register(directName(t), parseDirect, parseOps(t))
	}
}

type directParams struct {
	Path   string   `json:"path"`
	Size   int64    `json:"size"`
	Start  int64    `json:"start"` // of the first record, past a byte-order mark
	Block  int64    `json:"block"` // part k starts in [k*Block, (k+1)*Block)
	Sep    byte     `json:"sep"`
	Cols   []int    `json:"cols"`
	Header bool     `json:"header"`
	Outs   []string `json:"outs"`   // one float64 array per column, room for a value per byte
	Shared string   `json:"shared"` // the counters and the parts' records: sharedBytes
	Mapped bool     `json:"mapped,omitempty"`
}

// The shared file: two counters, then two int64s a part.
const (
	sharedPlaced = 0  // values placed in the arrays, added to atomically
	sharedStop   = 8  // nonzero once a part met a '"': the rest stop
	sharedParts  = 64 // part k's start offset and its records (a header's included) at sharedParts+16k
)

func sharedBytes(parts int64) int64 { return sharedParts + 16*parts }

// parseDirect parses the records of parts [lo, hi) into the columns'
// arrays.
func parseDirect(raw []byte, lo, hi uint64, v *engine.Vector) {
	p := cachedParams[directParams](raw)
	nparts := uint64((p.Size + p.Block - 1) / p.Block)
	sh := mapShared(p.Shared, sharedBytes(int64(nparts)))
	defer sh.Unmap()
	placed := (*atomic.Int64)(unsafe.Pointer(&sh[sharedPlaced]))
	stop := (*atomic.Int64)(unsafe.Pointer(&sh[sharedStop]))
	if stop.Load() != 0 {
		return
	}
	data, in, done := openText(p.Path, p.Size, p.Mapped)
	defer done()
	begin, end := p.Start, p.Size
	if lo > 0 {
		begin = lineAfter(data, in, int64(lo)*p.Block, min(int64(hi)*p.Block, p.Size))
		if begin < 0 { // no record starts in these parts
			return
		}
	}
	if hi < nparts {
		if end = lineAfter(data, in, int64(hi)*p.Block, p.Size); end < 0 {
			end = p.Size
		}
	}
	t := newTextPiece(p.Outs, p.Sep, p.Cols, p.Header, false)
	defer t.release()
	t.stopAtQuote, t.par.NoQuotes = true, true
	if lo > 0 {
		t.record = t.hdr // past the header: record numbers serve only to skip it
	}
	first := t.record
	t.w.place = func(n int) int64 {
		at := placed.Add(int64(n)) - int64(n)
		if afterPlace != nil {
			afterPlace()
		}
		return at
	}
	t.parse(data, in, begin, end)
	if t.sawQuote {
		stop.Store(1)
		v.Add(tQuoted, 1)
		return
	}
	t.finish(v, false)
	e := sh[sharedParts+16*lo:]
	binary.LittleEndian.PutUint64(e, uint64(begin))
	binary.LittleEndian.PutUint64(e[8:], uint64(t.record-first))
}

// afterPlace, where a test sets it, runs in a worker after each block of
// values took its places: the test kills the worker there.
var afterPlace func()

// mapShared maps size bytes of the file at path to read and write,
// shared with every process that maps it.
func mapShared(path string, size int64) mmap.MMap {
	f := mustOpen(path, os.O_RDWR)
	defer f.Close()
	m, err := mmap.MapRegion(f, int(size), mmap.RDWR, 0, 0)
	if err != nil {
		panic(fmt.Sprintf("%s: map: %v", path, err))
	}
	return m
}

// lineAfter is the offset just past the first '\n' in [from, limit) of
// the file, mapped (data) or read from in; -1 if there is none.
func lineAfter(data []byte, in *os.File, from, limit int64) int64 {
	if data != nil {
		if i := bytes.IndexByte(data[from:limit], '\n'); i >= 0 {
			return from + int64(i) + 1
		}
		return -1
	}
	buf := make([]byte, 4<<10)
	for from < limit {
		b := buf[:min(int64(len(buf)), limit-from)]
		mustReadAt(in, b, from)
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			return from + int64(i) + 1
		}
		from += int64(len(b))
		if len(buf) < readBlock {
			buf = make([]byte, 2*len(buf))
		}
	}
	return -1
}

// parseDirect parses src, whose records start at start, into new arrays
// (one per column, its file added to files) without an index. ok is false
// where a part met a '"' or a worker died after it placed values: the
// caller then indexes the file and parses it again. In the parse's
// values, the line of a column's first bad field is set here.
func (r *reducer) parseDirect(src *source.Source, start int64, pp parseParams, files *[]*os.File) (w []float64, rows int64, outs []string, ok bool, err error) {
	block := blockFor(src.Size)
	nparts := (src.Size + block - 1) / block
	var mine []*os.File
	defer func() {
		if ok {
			*files = append(*files, mine...)
			return
		}
		for _, f := range mine {
			f.Close()
		}
	}()
	// A record holds a byte at least.
	if outs, err = columnArrays(len(pp.Cols), src.Size-start+1, &mine); err != nil {
		return nil, 0, nil, false, err
	}
	sh, shPath, err := source.MemFile("pishm-parts", sharedBytes(nparts))
	if err != nil {
		return nil, 0, nil, false, err
	}
	mine = append(mine, sh)
	raw, err := json.Marshal(directParams{Path: src.Path, Size: src.Size, Start: start, Block: block, Sep: pp.Sep, Cols: pp.Cols,
		Header: pp.Header, Outs: outs, Shared: shPath, Mapped: pp.Mapped})
	if err != nil {
		return nil, 0, nil, false, err
	}
	red, err := r.reduce(directName(len(pp.Cols)), uint64(nparts), raw, r.partsSplit()...)
	if err != nil {
		return nil, 0, nil, false, err
	}
	w = red.Values
	shared := make([]byte, sharedBytes(nparts))
	mustReadAt(sh, shared, 0)
	rows = int64(binary.LittleEndian.Uint64(shared[sharedPlaced:]))
	if w[tQuoted] > 0 || rows != int64(w[tRecords]) {
		return nil, 0, nil, false, nil
	}
	for i := range pp.Cols {
		if e := w[tFile+cLen*i:]; e[cBad] > 0 {
			e[cBadLine] = float64(lineOf(src.File, shared[sharedParts:], int64(e[cBadOffset])))
		}
	}
	return w, rows, outs, true, nil
}

// lineOf is the line, from 1, of the byte at off in a file whose records
// are lines, from the parts' starts and records in parts: the lines of
// the parts before the one that holds off, and the '\n' before off in
// that one.
func lineOf(f *os.File, parts []byte, off int64) int64 {
	var before, begin, part int64
	for k := 0; 16*k < len(parts); k++ {
		b, n := int64(binary.LittleEndian.Uint64(parts[16*k:])), int64(binary.LittleEndian.Uint64(parts[16*k+8:]))
		if n == 0 {
			continue
		}
		if b > off {
			break
		}
		before += part
		begin, part = b, n
	}
	buf := make([]byte, readBlock)
	lines := before + 1
	for at := begin; at < off; {
		b := buf[:min(int64(len(buf)), off-at)]
		mustReadAt(f, b, at)
		lines += int64(bytes.Count(b, []byte{'\n'}))
		at += int64(len(b))
	}
	return lines
}
