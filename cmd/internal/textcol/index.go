// Package textcol reads numeric columns of delimited text (CSV, TSV, one
// number per line) in pieces that separate processes parse on their own,
// with the same result as one parse of the whole file.
//
// The grammar is RFC 4180's, read so that a file can be cut anywhere: a
// record ends at a '\n' outside quotes (a '\r' before it is dropped), and
// every '"' toggles the quoted state, so that the state at any byte is the
// parity of the quotes before it. A well-formed RFC 4180 field ("a ""b""")
// reads as RFC 4180 says; a quote inside an unquoted field opens a quoted
// run, where a lenient reader would keep it as a letter (such a field is
// not a number either way).
//
// Splitting is two passes. Index reads each block of the file on its own
// and reports, for both quote states the block may start in, where its
// first record boundary lies and how many boundaries it holds; Resolve
// chains the blocks' quote parities from the start of the file and turns
// that into the byte offset, record number and line number where each
// part of the parse starts. Parse then reads the records of one part.
package textcol

import "bytes"

// BlockIndex is what Index finds in a block of bytes, for each quote
// state s (0: outside quotes, 1: inside) the block may start in.
type BlockIndex struct {
	Len      int64    // bytes in the block
	Quotes   int64    // the '"' in the block
	First    [2]int64 // offset of the first record-ending '\n' if the block starts in state s; -1 if none
	Before   [2]int64 // '\n' (of any kind) in the block before First[s]; all of them if none
	Newlines [2]int64 // record-ending '\n' if the block starts in state s
}

// Index reads b, a block of the file.
func Index(b []byte) BlockIndex {
	x := BlockIndex{Len: int64(len(b)), First: [2]int64{-1, -1}}
	nl := []byte{'\n'}
	par, pos, quotes := 0, 0, int64(0)
	for {
		q := bytes.IndexByte(b[pos:], '"')
		end := len(b)
		if q >= 0 {
			end = pos + q
		}
		seg := b[pos:end]
		if c := bytes.Count(seg, nl); c > 0 {
			// A '\n' at local parity par ends a record if the block
			// started in state par (state = start ^ local parity = 0).
			if x.First[par] < 0 {
				i := bytes.IndexByte(seg, '\n')
				x.First[par] = int64(pos + i)
				x.Before[par] = x.Newlines[0] + x.Newlines[1]
			}
			x.Newlines[par] += int64(c)
		}
		if q < 0 {
			break
		}
		par ^= 1
		quotes++
		pos = end + 1
	}
	for s := range 2 {
		if x.First[s] < 0 {
			x.Before[s] = x.Newlines[0] + x.Newlines[1]
		}
	}
	x.Quotes = quotes
	return x
}

// Join is the index of block a followed by block b. Index(nil), not the
// zero BlockIndex, is its identity.
func Join(a, b BlockIndex) BlockIndex {
	x := BlockIndex{Len: a.Len + b.Len, Quotes: a.Quotes + b.Quotes}
	all := a.Newlines[0] + a.Newlines[1]
	for s := range 2 {
		t := s ^ int(a.Quotes&1) // b's start state when a started in s
		x.Newlines[s] = a.Newlines[s] + b.Newlines[t]
		switch {
		case a.First[s] >= 0:
			x.First[s], x.Before[s] = a.First[s], a.Before[s]
		case b.First[t] >= 0:
			x.First[s], x.Before[s] = a.Len+b.First[t], all+b.Before[t]
		default:
			x.First[s], x.Before[s] = -1, all+b.Before[t]
		}
	}
	return x
}

// Part is where one part of the parse starts: the byte offset of a record
// start, the record's number (0 for the file's first record) and the line
// it starts on (1 for the first).
type Part struct {
	Off    int64
	Record int64
	Line   int64
}

// Layout is how the records of a file fall into parts.
type Layout struct {
	Parts   []Part // len(blocks)+1 starts; the last is the end of the data
	Records int64  // records in the file, the header's included
	Open    bool   // the file ends inside a quoted field
}

// Resolve lays out the records of a file of size bytes whose blocks,
// in order from offset 0, have the indexes given; records start at start
// (past a byte-order mark). Part k holds the records that start in
// [Parts[k].Off, Parts[k+1].Off): those after the first record-ending
// '\n' at or past block k's start, up to and including the first one in
// block k+1. lastEnded says whether the file's last byte is '\n'.
func Resolve(idx []BlockIndex, start, size int64, lastByteNewline bool) Layout {
	parts := make([]Part, len(idx)+1)
	var state, off, records, lines int64
	type first struct{ at, before int64 }
	firsts := make([]first, len(idx))
	cum := make([]Part, len(idx)) // records and lines before each block
	for k, x := range idx {
		cum[k] = Part{Record: records, Line: lines}
		firsts[k] = first{-1, 0}
		if x.First[state] >= 0 {
			firsts[k] = first{off + x.First[state], x.Before[state]}
		}
		records += x.Newlines[state]
		lines += x.Newlines[0] + x.Newlines[1]
		state ^= x.Quotes & 1
		off += x.Len
	}
	// A record ends at every record-ending '\n', and at the end of a file
	// whose last byte is something else.
	total := records
	if size > start && !lastByteNewline {
		total++
	}
	parts[len(idx)] = Part{Off: size, Record: total, Line: lines + 1}
	for k := len(idx) - 1; k >= 1; k-- {
		f := firsts[k]
		if f.at < 0 {
			parts[k] = parts[k+1]
			continue
		}
		parts[k] = Part{Off: f.at + 1, Record: cum[k].Record + 1, Line: cum[k].Line + f.before + 2}
	}
	if len(idx) > 0 {
		parts[0] = Part{Off: start, Record: 0, Line: 1}
	}
	return Layout{Parts: parts, Records: total, Open: state != 0}
}
