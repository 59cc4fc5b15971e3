package filestats

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/pishm/pishm/cmd/internal/floatfile"
	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/cmd/internal/stats"
	"github.com/pishm/pishm/cmd/internal/textcol"
)

// TextOptions say how to read text.
type TextOptions struct {
	Sep    byte     // 0: detect it (textcol.DetectSep)
	Header int      // 1: the first record names the columns; -1: it is data; 0: guess (textcol.IsHeader)
	Cols   []string // by name (from the header) or number (from 1); none: every column
	// ColsFlag is Cols as the user wrote them, comma-separated: a header
	// name that holds a comma matches it whole.
	ColsFlag string
	Strict   bool // a field that is not a number fails the run
}

// Column is one column's outcome.
type Column struct {
	Name      string        `json:"name"`
	Number    int           `json:"column"` // from 1
	Missing   uint64        `json:"missing"`
	NotNumber uint64        `json:"not_a_number"`
	FirstBad  *BadField     `json:"first_not_a_number,omitempty"`
	Numbers   uint64        `json:"numbers"`         // fields that hold a number (NaN included)
	Stats     *stats.Result `json:"stats,omitempty"` // nil for a column with no number
}

// BadField is a field that holds no number: where, and what.
type BadField struct {
	Line int64  `json:"line"`
	Text string `json:"text"`
}

// TextResult is what ComputeText gives.
type TextResult struct {
	Sep     string   `json:"sep"`
	Header  bool     `json:"header"`
	Records uint64   `json:"records"` // past the header, blank lines included
	Blank   uint64   `json:"blank_lines"`
	Columns []Column `json:"columns"`
}

// UsageError is text that cannot be read as asked: a column that is not
// there, a quote never closed, a field that is not a number under Strict.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// headMax is the most bytes read to find the first record.
const headMax = 1 << 20

// ComputeText reads the columns of the text in src and runs the
// statistics of each, on the same workers throughout.
func ComputeText(ctx context.Context, src *source.Source, opt Options, topt TextOptions) (TextResult, error) {
	var res TextResult
	head := make([]byte, min(src.Size, headMax))
	mustReadAt(src.File, head, 0)
	start := textcol.StartOf(head)
	sep := topt.Sep
	if sep == 0 {
		sep = textcol.DetectSep(head[start:])
	}
	first, _ := textcol.Split(head[start:], sep)
	header := topt.Header > 0 || topt.Header == 0 && textcol.IsHeader(first)
	want := topt.Cols
	if header && slices.Contains(first, topt.ColsFlag) {
		want = []string{topt.ColsFlag}
	}
	cols, names, err := pickColumns(first, header, want, src.Name)
	if err != nil {
		return res, err
	}
	if len(cols) > MaxColumns {
		return res, &UsageError{fmt.Sprintf("%s: %d columns: at most %d at once (pick some with -col)", src.Name, len(cols), MaxColumns)}
	}
	res.Sep, res.Header = textcol.SepName(sep), header

	r, err := newReducer(ctx, opt, max(maxK(opt), len(parseOps(tier(parseTiers, len(cols))))))
	if err != nil {
		return res, err
	}
	defer r.close()
	// The file is read mapped where that pays (as Compute decides for a
	// raw file), one mapping per worker for every pass over it: the parse,
	// and the index where the parse needs one.
	mapped := opt.Read.maps(func() bool { return floatfile.MapPaysBytes(src.Path, 0, src.Size, 2) })
	defer releaseText(src.Path, src.Size)
	var files []*os.File // the columns' arrays
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pp := parseParams{Path: src.Path, Sep: sep, Cols: cols, Header: header, Size: src.Size, Mapped: mapped}
	var (
		w    []float64
		rows int64
		outs []string
		ok   bool
	)
	if bytes.IndexByte(head, '"') < 0 {
		if w, rows, outs, ok, err = r.parseDirect(src, int64(start), pp, &files); err != nil {
			return res, err
		}
	}
	if !ok {
		if w, rows, outs, err = r.parseIndexed(src, int64(start), pp, &files); err != nil {
			return res, err
		}
	}
	res.Records, res.Blank = uint64(rows), uint64(w[tBlank])
	some := false
	for i := range cols {
		some = some || w[tFile+cLen*i+cNumbers] > 0
	}
	if !some {
		return res, noNumbers(src, w, cols, names, rows, sep)
	}
	for i, c := range cols {
		e := w[tFile+cLen*i:]
		col := Column{Name: names[i], Number: c + 1, Missing: uint64(e[cMissing]), NotNumber: uint64(e[cBad])}
		if col.NotNumber > 0 {
			col.FirstBad = &BadField{Line: int64(e[cBadLine]), Text: fieldAt(src.File, int64(e[cBadOffset]), sep)}
			if topt.Strict {
				return res, &UsageError{fmt.Sprintf("%s: line %d, column %s: %q is not a number (-strict)", src.Name, col.FirstBad.Line, col.Name, col.FirstBad.Text)}
			}
		}
		col.Numbers = uint64(e[cNumbers])
		if col.Numbers > 0 {
			st, err := r.statsOfColumn(ctx, outs[i], uint64(rows), uint64(rows)-col.Numbers, opt)
			if err != nil {
				return res, err
			}
			col.Stats = &st
		}
		res.Columns = append(res.Columns, col)
	}
	return res, nil
}

// parseIndexed indexes src, whose records start at start, and parses it
// into new arrays (one per column, its file added to files) as the index
// lays it out.
func (r *reducer) parseIndexed(src *source.Source, start int64, pp parseParams, files *[]*os.File) (w []float64, rows int64, outs []string, err error) {
	indexedRuns.Add(1)
	// The index and the parse each read the whole file, mapped (one
	// mapping per worker for both) or with pread.
	layout, quotes, err := r.index(src, start, pp.Mapped)
	if err != nil {
		return nil, 0, nil, err
	}
	if layout.Open {
		return nil, 0, nil, &UsageError{src.Name + ": a quoted field is never closed (an odd number of '\"'): not read"}
	}
	hdr := int64(0)
	if pp.Header {
		hdr = 1
	}
	rows = max(layout.Records-hdr, 0)
	if outs, err = columnArrays(len(pp.Cols), rows, files); err != nil {
		return nil, 0, nil, err
	}
	pp.Parts = make([][3]int64, len(layout.Parts))
	for i, p := range layout.Parts {
		pp.Parts[i] = [3]int64{p.Off, p.Record, p.Line}
	}
	pp.Quotes, pp.Outs = quotes, outs
	raw, err := json.Marshal(pp)
	if err != nil {
		return nil, 0, nil, err
	}
	red, err := r.reduce(parseName(len(pp.Cols)), uint64(len(pp.Parts)-1), raw, r.partsSplit()...)
	if err != nil {
		return nil, 0, nil, err
	}
	w = red.Values
	if got := int64(w[tRecords]); got != rows {
		return nil, 0, nil, fmt.Errorf("filestats: the parse read %d records, the index says %d", got, rows)
	}
	return w, rows, outs, nil
}

// columnArrays makes the arrays of cols columns, room for rows float64
// values each, in anonymous in-memory files (added to files), and returns
// the paths the workers open them by.
func columnArrays(cols int, rows int64, files *[]*os.File) (paths []string, err error) {
	for range cols {
		f, path, err := source.MemFile("pishm-column", 8*rows)
		if err != nil {
			return paths, err
		}
		*files = append(*files, f)
		paths = append(paths, path)
	}
	return paths, nil
}

// indexedRuns counts the runs of parseIndexed, for the tests.
var indexedRuns atomic.Int64

// pickColumns resolves the columns asked for (names or numbers from 1)
// against the first record; none asked: all of them.
func pickColumns(first []string, header bool, want []string, name string) (cols []int, names []string, err error) {
	label := func(c int) string {
		if header && c < len(first) && first[c] != "" {
			return first[c]
		}
		return "column " + strconv.Itoa(c+1)
	}
	if len(want) == 0 {
		for c := range first {
			cols, names = append(cols, c), append(names, label(c))
		}
		return cols, names, nil
	}
	for _, w := range want {
		c := -1
		if header {
			for j, f := range first {
				if f == w {
					c = j
					break
				}
			}
		}
		if c < 0 {
			if k, err := strconv.Atoi(w); err == nil && k >= 1 {
				c = k - 1
			}
		}
		if c < 0 {
			have := "it has no header line (give a column number from 1)"
			if header {
				have = "its columns are " + quoteAll(first)
			}
			return nil, nil, &UsageError{fmt.Sprintf("%s: no column %q: %s", name, w, have)}
		}
		cols, names = append(cols, c), append(names, label(c))
	}
	return cols, names, nil
}

// noNumbers is the refusal of text whose columns read hold no number at
// all: a statistics of nothing would print zeros.
func noNumbers(src *source.Source, w []float64, cols []int, names []string, rows int64, sep byte) error {
	msg := fmt.Sprintf("%s: no numbers in the columns read (%d records", src.Name, rows)
	for i := range cols {
		e := w[tFile+cLen*i:]
		if e[cBad] > 0 {
			msg += fmt.Sprintf("; column %q, line %d: %q", names[i], int64(e[cBadLine]), fieldAt(src.File, int64(e[cBadOffset]), sep))
			break
		}
	}
	return &UsageError{msg + "): not summarised (pick numeric columns with -col)"}
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// blockFor is the size of the blocks a file of size bytes is indexed and
// parsed in: at least minBlock, and at most 4096 blocks.
func blockFor(size int64) int64 {
	b := minBlock
	for size/b >= 4096 {
		b *= 2
	}
	return b
}

// minBlock is 1 MiB: a block costs the parent an entry and the workers a
// call. Tests make it small, to cut small files into many parts.
var minBlock = int64(1 << 20)

// index indexes src's blocks on the workers and lays out its records,
// which start at start (past a byte-order mark, as ComputeText found),
// the workers reading src mapped or with pread. quotes says whether the
// file holds a '"'.
func (r *reducer) index(src *source.Source, start int64, mapped bool) (textcol.Layout, bool, error) {
	block := blockFor(src.Size)
	nb := (src.Size + block - 1) / block
	f, path, err := source.MemFile("pishm-index", nb*indexEntry)
	if err != nil {
		return textcol.Layout{}, false, err
	}
	defer f.Close()
	p, err := json.Marshal(indexParams{Path: src.Path, Size: src.Size, Block: block, Out: path, Mapped: mapped})
	if err != nil {
		return textcol.Layout{}, false, err
	}
	red, err := r.reduce(indexName, uint64(nb), p, r.partsSplit()...)
	if err != nil {
		return textcol.Layout{}, false, err
	}
	if got := int64(red.Values[0]); got != nb {
		return textcol.Layout{}, false, fmt.Errorf("filestats: %d of %d blocks indexed", got, nb)
	}
	raw := make([]byte, nb*indexEntry)
	mustReadAt(f, raw, 0)
	idx := make([]textcol.BlockIndex, nb)
	quotes := false
	for b := range idx {
		var v [8]int64
		for i := range v {
			v[i] = int64(binary.LittleEndian.Uint64(raw[b*indexEntry+8*i:]))
		}
		idx[b] = textcol.BlockIndex{Len: v[0], Quotes: v[1], First: [2]int64{v[2], v[3]}, Before: [2]int64{v[4], v[5]}, Newlines: [2]int64{v[6], v[7]}}
		if idx[b].Len != min(block, src.Size-int64(b)*block) {
			return textcol.Layout{}, false, fmt.Errorf("filestats: block %d indexed as %d bytes", b, idx[b].Len)
		}
		quotes = quotes || idx[b].Quotes != 0
	}
	last := make([]byte, 1)
	mustReadAt(src.File, last, src.Size-1)
	return textcol.Resolve(idx, start, src.Size, last[0] == '\n'), quotes, nil
}

// fieldAt reads the field that starts at off, for a report.
func fieldAt(f *os.File, off int64, sep byte) string {
	b := make([]byte, 64)
	n, _ := f.ReadAt(b, off)
	b = b[:n]
	ends := string([]byte{sep, '\n', '\r'})
	if sep == textcol.Blank {
		ends = " \t\n\r"
	}
	if i := bytes.IndexAny(b, ends); i >= 0 {
		b = b[:i]
	}
	s := strings.TrimSpace(string(b))
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
