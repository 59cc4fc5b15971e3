package filestats

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"

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

// The parse's elements: three for the file, then five per column.
const (
	tRecords = iota // Sum: records read
	tBlank          // Sum: blank lines
	tQuoted         // Sum: parts that met a '"' where none was looked for (parseDirect)
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
	ops := []partial.Op{partial.Sum, partial.Sum, partial.Sum}
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
