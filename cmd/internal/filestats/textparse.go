package filestats

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sync"

	"github.com/pishm/pishm/cmd/internal/textcol"
	"github.com/pishm/pishm/engine"
)

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

// parseParts parses the records of parts [lo, hi), as the index laid
// them out, into the columns' arrays.
func parseParts(raw []byte, lo, hi uint64, v *engine.Vector) {
	p := cachedParams[parseParams](raw)
	first, last := p.Parts[lo], p.Parts[hi]
	t := newTextPiece(p.Outs, p.Sep, p.Cols, p.Header, p.Quotes)
	defer t.release()
	t.w.at = max(first[1]-t.hdr, 0)
	t.record, t.line = first[1], first[2]
	data, in, done := openText(p.Path, p.Size, p.Mapped)
	defer done()
	t.parse(data, in, first[0], last[0])
	if t.record != last[1] {
		panic(fmt.Sprintf("filestats: part [%d, %d) holds %d records, the index says %d", lo, hi, t.record-first[1], last[1]-first[1]))
	}
	t.finish(v, true)
}

// colCounts are one column's counts in a piece, added to the piece's
// vector once at its end: an exact add per field would cost more than
// the parse.
type colCounts struct {
	numbers, missing, bad int64
	badLine, badOff       int64 // of the first bad field in the piece
}

// textPiece parses the records of one piece of a text file into the
// columns' arrays, and counts what it reads.
type textPiece struct {
	outs            []*os.File
	w               *columnWriter
	par             *textcol.Parser
	quotes          bool // the bytes may hold a '"' (else a record is a line, and Plain reads)
	stopAtQuote     bool // stop at the first record that holds a '"' (par.NoQuotes too), and set sawQuote
	sawQuote        bool
	hdr             int64 // records before the data: 1 for a header, else 0
	record, line    int64 // of the next record: its number from the file's first, and its line from 1
	records, blanks int64 // read past the header
	counts          []colCounts
}

func newTextPiece(outPaths []string, sep byte, cols []int, header, quotes bool) *textPiece {
	t := &textPiece{outs: make([]*os.File, len(cols)), par: textcol.NewParser(sep, cols), quotes: quotes,
		counts: make([]colCounts, len(cols))}
	for i, o := range outPaths {
		t.outs[i] = mustOpen(o, os.O_WRONLY)
	}
	if header {
		t.hdr = 1
	}
	t.w = newColumnWriter(t.outs)
	return t
}

// release closes the arrays and gives the buffers back for the next
// piece.
func (t *textPiece) release() {
	t.w.release()
	for _, f := range t.outs {
		f.Close()
	}
}

// parse reads the records in [off, end) of the file, which start with
// the piece's next record: mapped (data), all of them at once (the
// slice's capacity ends with them, so that nothing below writes into the
// mapping), else read from in a block at a time.
func (t *textPiece) parse(data []byte, in *os.File, off, end int64) {
	var buf []byte
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
		used := t.readRecords(buf, off-int64(len(buf)), atEOF)
		if t.sawQuote {
			return
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
}

// readRecords reads the whole records at the start of buf, which lies at
// offset at in the file (the last one may end at the buffer's end where
// atEOF), and returns the bytes read.
func (t *textPiece) readRecords(buf []byte, at int64, atEOF bool) int {
	w, par := t.w, t.par
	used := 0
	for used < len(buf) {
		if !t.quotes && t.record >= t.hdr {
			// As many records as Plain reads in one pass, each a number
			// in every column read.
			n, k := par.PlainFrom(buf, used, w.vals, w.n, writeBlock-w.n)
			for s := range t.counts {
				t.counts[s].numbers += int64(k)
			}
			w.added(k)
			t.records, t.record, t.line, used = t.records+int64(k), t.record+int64(k), t.line+int64(k), used+n
			if used == len(buf) {
				break
			}
		}
		n, lines, blank, ok := par.Record(buf[used:], atEOF, t.quotes)
		if !ok {
			break
		}
		if t.stopAtQuote && bytes.IndexByte(buf[used:used+n], '"') >= 0 {
			t.sawQuote = true
			break
		}
		if t.record >= t.hdr {
			if blank {
				t.blanks++
				w.holes()
			} else {
				for s, k := range par.Kinds {
					c := &t.counts[s]
					switch k {
					case textcol.Number:
						c.numbers++
						w.put(s, par.Values[s])
						continue
					case textcol.Missing:
						c.missing++
					case textcol.NotNumber:
						if c.bad == 0 {
							c.badLine, c.badOff = t.line, at+int64(used+par.Start[s])
						}
						c.bad++
					}
					w.put(s, hole)
				}
			}
			w.next()
			t.records++
		}
		t.record++
		t.line += int64(lines)
		used += n
	}
	return used
}

// finish writes what the writer holds and adds the piece's counts to v;
// the line of a column's first bad field only where withLines (where the
// piece knows the line it started on).
func (t *textPiece) finish(v *engine.Vector, withLines bool) {
	t.w.flush()
	v.Add(tRecords, float64(t.records))
	v.Add(tBlank, float64(t.blanks))
	for s, c := range t.counts {
		e := tFile + cLen*s
		v.Add(e+cNumbers, float64(c.numbers))
		v.Add(e+cMissing, float64(c.missing))
		v.Add(e+cBad, float64(c.bad))
		if c.bad > 0 {
			if withLines {
				v.Add(e+cBadLine, float64(c.badLine))
			}
			v.Add(e+cBadOffset, float64(c.badOff))
		}
	}
}

// columnWriter gathers the values of consecutive records, a column each
// (vals[s][:n]), and writes them to the columns' arrays in blocks: from
// index at on, or, where place is set, where place puts each block.
type columnWriter struct {
	outs  []*os.File
	at    int64 // the array index of the first value held
	place func(n int) int64
	vals  [][]float64
	b     []byte // the bytes of one column's block
	n     int    // records held
}

const writeBlock = 1 << 14

func newColumnWriter(outs []*os.File) *columnWriter {
	w := &columnWriter{outs: outs, vals: make([][]float64, len(outs))}
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
	at := w.at
	if w.place != nil {
		at = w.place(w.n)
	}
	b := w.b[:8*w.n]
	for s, xs := range w.vals {
		for i, x := range xs[:w.n] {
			binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
		}
		if _, err := w.outs[s].WriteAt(b, 8*at); err != nil {
			panic(err)
		}
	}
	w.at = at + int64(w.n)
	w.n = 0
}
