package filestats

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"

	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/stats"
	"github.com/pishm/pishm/cmd/internal/textcol"
	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/partial"
)

// Text is read in three steps, each a reduction on the same workers:
// index the file's blocks (textcol.Index, written to a shared index file),
// parse the records of each part into one shared array of float64 per
// column (a field that holds no number leaves a NaN there, counted apart),
// and run the two passes of Compute over each array. The arrays are what a
// raw file of the column would hold, so the statistics are its bits.
const (
	indexName  = "stats.text.index"
	parsePref  = "stats.text.parse."
	indexEntry = 8 * 8 // bytes per block in the index file: BlockIndex's eight int64s
)

// MaxColumns is the most columns one run reads.
const MaxColumns = 64

var parseTiers = []int{1, 4, 16, MaxColumns}

// The parse's elements: two for the file, then five per column.
const (
	tRecords = iota // Sum: records read
	tBlank          // Sum: blank lines
	tFile
)
const (
	cNumbers   = iota // Sum: fields that hold a number
	cMissing          // Sum: empty fields and NA spellings
	cBad              // Sum: fields that are not numbers
	cBadLine          // Min: the line of the first
	cBadOffset        // Min: its byte offset
	cLen
)

func parseOps(cols int) []partial.Op {
	ops := []partial.Op{partial.Sum, partial.Sum}
	for range cols {
		ops = append(ops, partial.Sum, partial.Sum, partial.Sum, partial.Min, partial.Min)
	}
	return ops
}

func parseName(cols int) string { return parsePref + strconv.Itoa(tier(parseTiers, cols)) }

func init() {
	engine.Register(indexName, indexBlocks, []partial.Op{partial.Sum})
	for _, t := range parseTiers {
		engine.Register(parseName(t), parseParts, parseOps(t))
	}
}

type indexParams struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Block  int64  `json:"block"`
	Out    string `json:"out"`              // the index file, indexEntry bytes per block
	Mapped bool   `json:"mapped,omitempty"` // read the file in place (mappedText), not with pread
}

// readBlock is the most bytes read at a time.
const readBlock = 1 << 20

// indexBlocks indexes blocks [lo, hi) and writes their entries.
func indexBlocks(raw []byte, lo, hi uint64, v *engine.Vector) {
	p := cachedParams[indexParams](raw)
	out := mustOpen(p.Out, os.O_WRONLY)
	defer out.Close()
	data, in, done := openText(p.Path, p.Size, p.Mapped)
	defer done()
	var buf []byte
	if data == nil {
		bp := readBufs.Get().(*[]byte)
		defer readBufs.Put(bp)
		buf = (*bp)[:readBlock]
	}
	ent := make([]byte, 0, indexEntry*(hi-lo))
	for b := lo; b < hi; b++ {
		start, end := int64(b)*p.Block, min(p.Size, int64(b+1)*p.Block)
		x := textcol.Index(nil) // the identity of Join
		if data != nil {
			x = textcol.Index(data[start:end])
		}
		for off := start; data == nil && off < end; {
			n := min(end-off, readBlock)
			mustReadAt(in, buf[:n], off)
			x = textcol.Join(x, textcol.Index(buf[:n]))
			off += n
		}
		for _, f := range []int64{x.Len, x.Quotes, x.First[0], x.First[1], x.Before[0], x.Before[1], x.Newlines[0], x.Newlines[1]} {
			ent = binary.LittleEndian.AppendUint64(ent, uint64(f))
		}
		v.Add(0, 1)
	}
	if _, err := out.WriteAt(ent, int64(lo)*indexEntry); err != nil {
		panic(err)
	}
}

func mustOpen(path string, flag int) *os.File {
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		panic(err)
	}
	return f
}

func mustReadAt(f *os.File, b []byte, off int64) {
	if _, err := f.ReadAt(b, off); err != nil && !(err == io.EOF && len(b) == 0) {
		panic(fmt.Errorf("%s: %w (did the file change while it was read?)", f.Name(), err))
	}
}

type parseParams struct {
	Path   string     `json:"path"`
	Parts  [][3]int64 `json:"parts"` // textcol.Part: offset, record, line
	Sep    byte       `json:"sep"`
	Cols   []int      `json:"cols"`
	Header bool       `json:"header"`
	Quotes bool       `json:"quotes"` // the file holds a '"'
	Outs   []string   `json:"outs"`   // one float64 array per column, a value per record past the header
	Size   int64      `json:"size"`   // of the file
	Mapped bool       `json:"mapped,omitempty"`
}

// hole is what a record with no number in a column leaves in its array:
// a NaN, which the statistics count apart and leave out of the rest.
var hole = math.NaN()

// parseParts parses the records of parts [lo, hi) into the columns'
// arrays.
func parseParts(raw []byte, lo, hi uint64, v *engine.Vector) {
	p := cachedParams[parseParams](raw)
	outs := make([]*os.File, len(p.Cols))
	for i, o := range p.Outs {
		outs[i] = mustOpen(o, os.O_WRONLY)
		defer outs[i].Close()
	}
	first, last := p.Parts[lo], p.Parts[hi]
	hdr := int64(0)
	if p.Header {
		hdr = 1
	}
	w := newColumnWriter(outs, max(first[1]-hdr, 0))
	defer w.release()
	par := textcol.NewParser(p.Sep, p.Cols)
	record, line := first[1], first[2]
	// Counted here and added to v once: an exact add per field would cost
	// more than the parse.
	type colCounts struct {
		numbers, missing, bad int64
		badLine, badOff       int64 // of the first bad field in this part
	}
	counts := make([]colCounts, len(p.Cols))
	var records, blanks int64
	// The part's bytes: mapped, all of them at once (its capacity ends
	// with the part, so that nothing below writes into the mapping), else
	// read into buf a block at a time.
	data, in, done := openText(p.Path, p.Size, p.Mapped)
	defer done()
	var buf []byte
	off, end := first[0], last[0]
	if data != nil {
		buf, off = data[off:end:end], end
	} else {
		bp := readBufs.Get().(*[]byte)
		defer readBufs.Put(bp)
		buf = (*bp)[:0]
		defer func() { *bp = buf[:0] }()
	}
	for off < end || len(buf) > 0 {
		// Top up the buffer: what is left of the last read, then more.
		if n := min(end-off, int64(cap(buf)-len(buf))); n > 0 {
			k := len(buf)
			buf = buf[:k+int(n)]
			mustReadAt(in, buf[k:], off)
			off += n
		}
		atEOF := off == end
		used := 0
		for used < len(buf) {
			if !p.Quotes && record >= hdr {
				// As many records as Plain reads in one pass, each a
				// number in every column read.
				n, k := par.Plain(buf[used:], w.vals, w.n, writeBlock-w.n)
				for s := range counts {
					counts[s].numbers += int64(k)
				}
				w.added(k)
				records, record, line, used = records+int64(k), record+int64(k), line+int64(k), used+n
				if used == len(buf) {
					break
				}
			}
			n, lines, blank, ok := par.Record(buf[used:], atEOF, p.Quotes)
			if !ok {
				break
			}
			if record >= hdr {
				if blank {
					blanks++
					w.holes()
				} else {
					for s, k := range par.Kinds {
						c := &counts[s]
						switch k {
						case textcol.Number:
							c.numbers++
							w.put(s, par.Values[s])
							continue
						case textcol.Missing:
							c.missing++
						case textcol.NotNumber:
							if c.bad == 0 {
								c.badLine, c.badOff = line, off-int64(len(buf))+int64(used+par.Start[s])
							}
							c.bad++
						}
						w.put(s, hole)
					}
				}
				w.next()
				records++
			}
			record++
			line += int64(lines)
			used += n
		}
		if used == 0 && !atEOF && len(buf) == cap(buf) { // a record longer than the buffer
			buf = append(buf[:cap(buf)], 0)[:len(buf)]
			continue
		}
		buf = buf[:copy(buf, buf[used:])]
		if atEOF && used == 0 && len(buf) > 0 {
			panic("filestats: a record the parser would not read")
		}
	}
	if record != last[1] {
		panic(fmt.Sprintf("filestats: part [%d, %d) holds %d records, the index says %d", lo, hi, record-first[1], last[1]-first[1]))
	}
	w.flush()
	v.Add(tRecords, float64(records))
	v.Add(tBlank, float64(blanks))
	for s, c := range counts {
		e := tFile + cLen*s
		v.Add(e+cNumbers, float64(c.numbers))
		v.Add(e+cMissing, float64(c.missing))
		v.Add(e+cBad, float64(c.bad))
		if c.bad > 0 {
			v.Add(e+cBadLine, float64(c.badLine))
			v.Add(e+cBadOffset, float64(c.badOff))
		}
	}
}

// columnWriter gathers the values of consecutive records, a column each
// (vals[s][:n]), and writes them to the columns' arrays in blocks.
type columnWriter struct {
	outs []*os.File
	at   int64 // the array index of the first value held
	vals [][]float64
	b    []byte // the bytes of one column's block
	n    int    // records held
}

const writeBlock = 1 << 14

func newColumnWriter(outs []*os.File, at int64) *columnWriter {
	w := &columnWriter{outs: outs, at: at, vals: make([][]float64, len(outs))}
	for i := range w.vals {
		w.vals[i] = *colBufs.Get().(*[]float64)
	}
	w.b = *byteBufs.Get().(*[]byte)
	return w
}

// release gives the writer's buffers back for the next part.
func (w *columnWriter) release() {
	for _, xs := range w.vals {
		colBufs.Put(&xs)
	}
	byteBufs.Put(&w.b)
}

// Buffers reused across parts: a worker parses many.
var (
	readBufs = sync.Pool{New: func() any { b := make([]byte, 0, readBlock); return &b }}
	colBufs  = sync.Pool{New: func() any { b := make([]float64, writeBlock); return &b }}
	byteBufs = sync.Pool{New: func() any { b := make([]byte, 8*writeBlock); return &b }}
)

// paramsCache holds each call's decoded params, by their bytes: a call's
// pieces all carry the same ones, and the parts table is long.
var paramsCache = struct {
	sync.Mutex
	m map[string]any
}{m: map[string]any{}}

func cachedParams[T any](raw []byte) *T {
	paramsCache.Lock()
	defer paramsCache.Unlock()
	if p, ok := paramsCache.m[string(raw)]; ok {
		return p.(*T)
	}
	p := new(T)
	if err := json.Unmarshal(raw, p); err != nil {
		panic(fmt.Sprintf("filestats: bad params: %v", err))
	}
	if len(paramsCache.m) > 64 { // a pool worker serves call after call
		clear(paramsCache.m)
	}
	paramsCache.m[string(raw)] = p
	return p
}

// put sets column s of the record being read.
func (w *columnWriter) put(s int, x float64) { w.vals[s][w.n] = x }

// holes sets every column of the record being read to a hole.
func (w *columnWriter) holes() {
	for s := range w.vals {
		w.vals[s][w.n] = hole
	}
}

// next ends the record being read.
func (w *columnWriter) next() { w.added(1) }

// added counts k records, whose values the caller set, as held.
func (w *columnWriter) added(k int) {
	if w.n += k; w.n == writeBlock {
		w.flush()
	}
}

func (w *columnWriter) flush() {
	if w.n == 0 {
		return
	}
	b := w.b[:8*w.n]
	for s, xs := range w.vals {
		for i, x := range xs[:w.n] {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
		if _, err := w.outs[s].WriteAt(b, 8*w.at); err != nil {
			panic(err)
		}
	}
	w.at += int64(w.n)
	w.n = 0
}

// statsOfColumn runs the statistics over a column's array of n values,
// holes of them not numbers.
func (r *reducer) statsOfColumn(ctx context.Context, path string, n, holes uint64, opt Options) (stats.Result, error) {
	if n == 0 {
		return stats.Result{}, nil
	}
	res, err := r.stats(ctx, path, floatfile.Layout{Elem: floatfile.Float64, Count: n}, opt)
	if err != nil {
		return res, err
	}
	if res.NaN < holes {
		return res, fmt.Errorf("filestats: %d NaN in a column with %d holes", res.NaN, holes)
	}
	res.NaN -= holes
	return res, nil
}
