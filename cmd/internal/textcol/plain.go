package textcol

import (
	"bytes"
	"encoding/binary"
)

// Plain reads the plain records at the start of data, at most max of
// them, as Record reads them, in one pass over their bytes: the value of
// slot s of the r-th record goes to dst[s][at+r]. A plain record is one
// whole line in which every selected field is a number of parseDecimal's
// grammar that fills the field exactly (no blanks around it; a "\r\n"
// may end the line), and, with NoQuotes, that holds no '"'. Plain stops
// before the first record that is not plain, which the caller reads with
// Record. It returns the bytes and the records read. data must hold no
// '"' (Record's hasQuote false) unless NoQuotes: a record is then one
// line.
//
// Record finds the line's end, then each field, then parses it: three
// passes over the selected fields' bytes, with the calls between them.
// Plain parses each selected field where it starts and takes the
// number's end as the field's, and looks for the line's end only past the
// last selected field; where the CPU has them, the line readers
// (plainLines and its variants, lines_amd64.go) read runs of lines in one
// step each.
func (p *Parser) Plain(data []byte, dst [][]float64, at, max int) (n, records int) {
	return p.PlainFrom(data, 0, dst, at, max)
}

// PlainFrom is Plain of data[from:], where the line readers may read the
// bytes before from too (they take a line with 16 bytes before it), and
// returns the bytes read from from on. Where the separator is Blank
// (words), only the line readers read: Plain reads none on a CPU without
// them.
func (p *Parser) PlainFrom(data []byte, from int, dst [][]float64, at, max int) (n, records int) {
	readers := haveLines && p.fields != nil
	words := p.sep == Blank
	if !p.plain && !(words && readers) {
		return 0, 0
	}
	n = from
	for records < max {
		inGo := max - records // lines to read in Go, at most
		if readers && n < 16 {
			inGo = 1 // the readers read the 16 bytes before a line too
		} else if readers {
			m, k, full := p.linesAt(data, n, dst, at+records, max-records)
			n, records = n+m, records+k
			if full {
				continue
			}
			if records == max {
				break
			}
			// The line it did not take, or, where it took none (the
			// data's last 64 bytes, say), a few: then it tries again.
			inGo = 1
			if k == 0 {
				inGo = min(16, max-records)
			}
		}
		if words { // no Go loop for words: Record reads the line
			break
		}
		var end, k int
		if len(dst) == 1 {
			end, k = p.plain1(data, n, dst[0][at+records:at+records+inGo])
		} else {
			end, k = p.plainN(data, n, dst, at+records, inGo)
		}
		n, records = end, records+k
		if k < inGo { // a line that is not plain
			break
		}
	}
	return n - from, records
}

// plainN reads at most max plain lines from data[n:] into dst[s][r...]
// for each slot s, and returns where they end and how many it read.
func (p *Parser) plainN(data []byte, n int, dst [][]float64, r, max int) (end, records int) {
	sep, last := p.sep, len(p.slot)-1
	for records < max {
		start, i := n, n
		for j := 0; ; j++ {
			e := i
			s := p.slot[j]
			if s < 0 { // a field not read: skip it
				for e < len(data) && data[e] != sep && data[e] != '\n' {
					e++
				}
			} else {
				x, end, ok := fastNumber(data, i)
				if !ok {
					return n, records
				}
				dst[s][r+records] = x
				e = end
			}
			if e >= len(data) {
				return n, records
			}
			if data[e] == sep {
				if i = e + 1; j < last {
					continue
				}
				// The rest of the line: its first '\n' ends it (a '"'
				// in it: see NoQuotes below).
				k := bytes.IndexByte(data[i:], '\n')
				if k < 0 {
					return n, records
				}
				n = i + k + 1
				break
			}
			if data[e] == '\r' && s >= 0 && e+1 < len(data) {
				e++
			}
			if data[e] != '\n' || j < last { // not a number's end, or a column missing
				return n, records
			}
			n = e + 1
			break
		}
		if p.NoQuotes && bytes.IndexByte(data[start:n], '"') >= 0 {
			return start, records
		}
		records++
	}
	return n, records
}

// plain1 is plainN for one column read, the last column it needs, into
// dst: it skips the fields before it, parses it with fastNumber, and
// finds the line's end past it, with one call for each.
func (p *Parser) plain1(data []byte, n int, dst []float64) (end, records int) {
	sep, col := p.sep, len(p.slot)-1
	for records < len(dst) {
		i := n
		for range col {
			for i < len(data) && data[i] != sep && data[i] != '\n' {
				i++
			}
			if i >= len(data) || data[i] == '\n' { // a column missing
				return n, records
			}
			i++
		}
		x, e, ok := fastNumber(data, i)
		if !ok || e >= len(data) {
			return n, records
		}
		next := e + 1 // the next line's start
		if c := data[e]; c == sep {
			k := bytes.IndexByte(data[e+1:], '\n')
			if k < 0 {
				return n, records
			}
			next = e + 2 + k
		} else {
			if c == '\r' && e+1 < len(data) {
				e++
				c = data[e]
				next++
			}
			if c != '\n' {
				return n, records
			}
		}
		if p.NoQuotes && bytes.IndexByte(data[n:next], '"') >= 0 {
			return n, records
		}
		dst[records] = x
		n = next
		records++
	}
	return n, records
}

// linesBatch is the most lines plainLines reads in one call.
const linesBatch = 256

// linesAt reads the lines plainLines takes from data[at:] (at >= 16) into
// dst from index r on, at most max of them, and returns their bytes and
// count, and whether it stopped only because its batch or max was full.
// A number Eisel-Lemire cannot decide ends the run before its line, as
// it ends Plain's.
func (p *Parser) linesAt(data []byte, at int, dst [][]float64, r, max int) (n, records int, full bool) {
	nf := len(p.fields)
	if p.lines == nil {
		p.lines = make([][2]uint64, linesBatch*nf)
	}
	lim := min(max, linesBatch)
	out := p.lines[:lim*nf]
	narrow, wide := plainLines, plainLines128
	if p.sep == Blank {
		narrow, wide = blankLines, blankLines128
	}
	var k int
	if p.wide {
		k = wide(data, at, p.fields, p.sep, &digitK, out)
	} else if k = narrow(data, at, p.fields, p.sep, &digitK, out); k == 0 {
		// A line over 64 bytes, or another stop, which the wide one
		// makes too.
		if k = wide(data, at, p.fields, p.sep, &digitK, out); k > 0 {
			p.wide = true
		}
	}
	if nf == 1 { // the common case, without the loop over fields (which made a one-column parse 22% slower)
		d := dst[0][r : r+k]
		for i, o := range out[:k] {
			exp10, neg := lineExp(o[1])
			x, ok := decimalValue(o[0], exp10, neg)
			if !ok {
				return n, i, false
			}
			d[i] = x
			n += int(o[1] & 0xFF) // the line's length
		}
		return n, k, k == lim
	}
	for i := range k {
		line := out[i*nf : i*nf+nf]
		for q, o := range line {
			exp10, neg := lineExp(o[1])
			x, ok := decimalValue(o[0], exp10, neg)
			if !ok {
				return n, i, false
			}
			dst[p.fieldSlot[q]][r+i] = x
		}
		n += int(line[0][1] & 0xFF) // the line's length
	}
	return n, k, k == lim
}

// lineExp is the power of ten and the sign of the number a line
// reader's out entry holds, from its meta word (see plainLines): the
// exponent less the fraction's digits.
func lineExp(meta uint64) (exp10 int, neg bool) {
	return int(int16(meta>>32)) - int(meta>>8&0xFF), meta&(1<<16) != 0
}

// fastNumber reads the number at data[i:] as parseNumber does, in fewer
// steps for the shapes nearly every numeric field has, [+-]D{0,7}.D*
// and [+-]D{1,7} with at most 19 digits. Where the CPU has SSE4.1 and
// data holds the 16 bytes before i and 49 from it, simdNumber reads it;
// else, where data holds 40 bytes from i, a word of integer digits, then
// at most three of fraction, each taken whole or up to its first byte
// that is not a digit, with no loop and no branch on the number of digits
// in a word. Anything else goes to parseNumber.
func fastNumber(data []byte, i int) (float64, int, bool) {
	if haveDigits && i >= 16 && i+49 <= len(data) {
		return simdNumber(data, i)
	}
	start := i
	if i+40 > len(data) {
		return parseNumber(data, start)
	}
	neg := false
	if c := data[i]; c == '-' || c == '+' {
		neg = c == '-'
		i++
	}
	v := binary.LittleEndian.Uint64(data[i:])
	n := leadingDigits(v)
	if n == 8 {
		return parseNumber(data, start)
	}
	man := uint64(parseEight(digitsAtTop(v, n)))
	j, frac := i+n, 0
	if data[j] == '.' {
		j++
		w := binary.LittleEndian.Uint64(data[j:])
		frac = leadingDigits(w)
		if frac == 8 {
			man = man*1e8 + uint64(parseEight(w))
			w = binary.LittleEndian.Uint64(data[j+8:])
			k := leadingDigits(w)
			if k == 8 {
				man = man*1e8 + uint64(parseEight(w))
				w = binary.LittleEndian.Uint64(data[j+16:])
				if k = leadingDigits(w); k == 8 {
					return parseNumber(data, start)
				}
				frac += 8
			}
			man = man*pow10Wrapped[k] + uint64(parseEight(digitsAtTop(w, k)))
			frac += k
		} else {
			man = man*pow10Wrapped[frac] + uint64(parseEight(digitsAtTop(w, frac)))
		}
		j += frac
	}
	digits := n + frac
	if digits == 0 || digits > 19 || data[j]|0x20 == 'e' { // none, more than a uint64 holds, or an exponent
		return parseNumber(data, start)
	}
	f, ok := decimalValue(man, -frac, neg)
	return f, j, ok
}

// simdNumber is fastNumber with the digits read by decimalDigits, for
// numbers with at most 16 digits before the '.' and 16 after it, where
// data holds the 16 bytes before i and 49 from it.
func simdNumber(data []byte, i int) (float64, int, bool) {
	start := i
	neg := false
	if c := data[i]; c == '-' || c == '+' {
		neg = c == '-'
		i++
	}
	man, n, frac, dot := decimalDigits(&data[i], &digitK)
	digits := n + frac
	j := i + n + dot + frac
	if n > 16 || frac > 16 || digits == 0 || digits > 19 || data[j]|0x20 == 'e' {
		return parseNumber(data, start)
	}
	f, ok := decimalValue(man, -frac, neg)
	return f, j, ok
}

// digitsAtTop is the word of eight ASCII digits whose value is that of
// the first n (0 to 7) bytes of v (little-endian): they move to the top,
// and '0's fill the rest.
func digitsAtTop(v uint64, n int) uint64 {
	sh := uint(8 * (8 - n))
	return v<<sh | 0x3030303030303030>>(64-sh)
}
