package textcol

import (
	"bytes"
	"errors"
	"strconv"
	"unsafe"
)

// Blank is the separator that stands for runs of blanks (spaces and
// tabs): fields are the words of the line, as in a file of one number
// per line or columns aligned with spaces.
const Blank = ' '

// Kind is what a field holds.
type Kind uint8

// The kinds of field.
const (
	Missing   Kind = iota // empty, blank, a NA spelling, or past the record's last field
	Number                // a number (NaN and ±Inf spelled out count)
	NotNumber             // anything else: counted and reported, never dropped unseen
)

// naSpellings are the fields read as missing, as pandas reads them by
// default, less the NaN spellings (those are numbers: NaN).
var naSpellings = []string{"NA", "N/A", "n/a", "na", "NULL", "null", "Null", "None", "none", "#N/A", "#N/A N/A", "#NA", "<NA>"}

// Field reads one field: its value and what it holds. A number reads to
// the bits strconv.ParseFloat gives (a magnitude beyond float64 reads as
// ±Inf or ±0, as ParseFloat rounds it); blanks around it are ignored.
func Field(f []byte) (float64, Kind) {
	for len(f) > 0 && (f[0] == ' ' || f[0] == '\t') {
		f = f[1:]
	}
	for len(f) > 0 && (f[len(f)-1] == ' ' || f[len(f)-1] == '\t' || f[len(f)-1] == '\r') {
		f = f[:len(f)-1]
	}
	if len(f) == 0 {
		return 0, Missing
	}
	if x, ok := parseDecimal(f); ok {
		return x, Number
	}
	// The string shares f's bytes: ParseFloat keeps no reference to it,
	// and f does not change during the call.
	x, err := strconv.ParseFloat(unsafe.String(&f[0], len(f)), 64)
	if err == nil || errors.Is(err, strconv.ErrRange) {
		return x, Number
	}
	if c := f[0]; c == 'N' || c == 'n' || c == '#' || c == '<' {
		for _, s := range naSpellings {
			if string(f) == s {
				return 0, Missing
			}
		}
	}
	return 0, NotNumber
}

// Parser reads the selected columns of records.
type Parser struct {
	sep       byte
	slot      []int // slot[j]: the output slot of column j, or -1
	plain     bool  // Plain may read: a separator, and no column asked twice
	Values    []float64
	Kinds     []Kind
	Start     []int // offset in the record of each slot's field, for reports
	scratch   []byte
	fields    []byte      // the fields read, in order: plainLines' (nil: too far for it)
	fieldSlot []int       // the slot of each of fields
	lines     [][2]uint64 // plainLines' output, linesBatch lines of fields
	wide      bool        // lines over 64 bytes seen: plainLines128 reads

	// NoQuotes makes Plain leave each line that holds a '"' to Record,
	// for a caller that reads text without its index, where such a line
	// may not be a record: it looks for the '"' in the lines Record reads.
	NoQuotes bool
}

// inNumber says whether c may be a byte of a number parseNumber or
// strconv reads: a digit, a sign, a '.', an '_' or a letter (e, inf, nan,
// 0x).
func inNumber(c byte) bool {
	return c-'0' < 10 || c == '.' || c == '+' || c == '-' || c == '_' || (c|0x20)-'a' < 26
}

// NewParser reads the columns cols (0-based; slot i is cols[i]) of
// records separated by sep (or Blank).
func NewParser(sep byte, cols []int) *Parser {
	last := 0
	for _, c := range cols {
		last = max(last, c+1)
	}
	p := &Parser{sep: sep, slot: make([]int, last), Values: make([]float64, len(cols)),
		Kinds: make([]Kind, len(cols)), Start: make([]int, len(cols))}
	for j := range p.slot {
		p.slot[j] = -1
	}
	for i, c := range cols {
		p.slot[c] = i
	}
	// Plain takes a number's end for its field's: a separator that may be
	// part of a number ("-sep ." on 1.2.3) leaves every field to Record,
	// which splits the fields first.
	p.plain = sep != Blank && !inNumber(sep)
	for i, c := range cols {
		p.plain = p.plain && p.slot[c] == i // a column asked twice fills its last slot only
	}
	for j, sl := range p.slot {
		if sl >= 0 && j < 64 { // a field past the 64th cannot be in plainLines' window
			p.fields = append(p.fields, byte(j))
			p.fieldSlot = append(p.fieldSlot, sl)
		}
	}
	if len(p.fields) != len(cols) {
		p.fields = nil
	}
	return p
}

func (p *Parser) reset() {
	for i := range p.Kinds {
		p.Kinds[i], p.Values[i], p.Start[i] = Missing, 0, 0
	}
}

func (p *Parser) field(j int, f []byte, at int) {
	if j < len(p.slot) {
		if s := p.slot[j]; s >= 0 {
			p.Values[s], p.Kinds[s] = Field(f)
			p.Start[s] = at
		}
	}
}

// Record reads the record that starts data. It returns the bytes it
// spans (its ending '\n' included) and the '\n' in it; ok is false when
// data holds no whole record and more may follow (atEOF false). blank
// says the record holds nothing but blanks: a blank line, which a reader
// skips. The fields of the selected columns are in Values and Kinds.
// hasQuote says whether data may hold a '"' (false lets the fast path
// skip looking).
func (p *Parser) Record(data []byte, atEOF, hasQuote bool) (n, lines int, blank, ok bool) {
	e := bytes.IndexByte(data, '\n')
	line := data
	if e >= 0 {
		line = data[:e]
	} else if !atEOF {
		return 0, 0, false, false
	}
	if hasQuote && bytes.IndexByte(line, '"') >= 0 {
		return p.slow(data, atEOF)
	}
	p.reset()
	n, lines = len(data), 0
	if e >= 0 {
		n, lines = e+1, 1
	}
	if p.blankLine(line) {
		return n, lines, true, true
	}
	if p.sep == Blank {
		j, i := 0, 0
		for j < len(p.slot) {
			for i < len(line) && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r') {
				i++
			}
			if i == len(line) {
				break
			}
			k := i
			for k < len(line) && line[k] != ' ' && line[k] != '\t' && line[k] != '\r' {
				k++
			}
			p.field(j, line[i:k], i)
			i = k
			j++
		}
		return n, lines, false, true
	}
	for j, i := 0, 0; j < len(p.slot); j++ {
		k := bytes.IndexByte(line[i:], p.sep)
		if k < 0 {
			p.field(j, line[i:], i)
			break
		}
		p.field(j, line[i:i+k], i)
		i += k + 1
	}
	return n, lines, false, true
}

// blankLine reports whether line is a blank line: nothing but blanks, and
// no separator among them (a line of tabs in a tab-separated file is a
// record of empty fields, as scanRecord reads it).
func (p *Parser) blankLine(line []byte) bool {
	return isBlank(line) && (p.sep == Blank || bytes.IndexByte(line, p.sep) < 0)
}

func isBlank(b []byte) bool {
	if len(b) > 0 && b[0] != ' ' && b[0] != '\t' && b[0] != '\r' { // nearly every line: no loop
		return false
	}
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// slow reads a record with quotes in it, byte by byte (scanRecord).
func (p *Parser) slow(data []byte, atEOF bool) (n, lines int, blank, ok bool) {
	p.reset()
	return scanRecord(data, atEOF, p.sep, &p.scratch, p.field)
}

// scanRecord reads the record that starts data byte by byte: a '"'
// toggles the quoted state, '""' inside quotes is one '"', and separators
// and '\n' inside quotes are part of the field. It calls emit with each
// field's number, bytes (unquoted, in *scratch: valid during the call)
// and offset in data, and returns what Record returns.
func scanRecord(data []byte, atEOF bool, sep byte, scratch *[]byte, emit func(j int, f []byte, at int)) (n, lines int, blank, ok bool) {
	f := (*scratch)[:0]
	defer func() { *scratch = f[:0] }()
	quoted, j, at, inWord := false, 0, 0, false
	blank = true
	next := func(i int) {
		emit(j, f, at)
		j++
		f = f[:0]
		at = i + 1
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			blank, inWord = false, true
			if quoted && i+1 < len(data) && data[i+1] == '"' {
				f = append(f, '"')
				i++
				continue
			}
			quoted = !quoted
		case c == '\n' && !quoted:
			if sep != Blank || inWord {
				next(i)
			}
			return i + 1, lines + 1, blank, true
		case quoted:
			if c == '\n' {
				lines++
			}
			f = append(f, c)
		case sep == Blank && (c == ' ' || c == '\t' || c == '\r'):
			if inWord {
				next(i)
				inWord = false
			}
			at = i + 1
		case c == sep:
			blank = false
			next(i)
		default:
			if c != ' ' && c != '\t' && c != '\r' {
				blank = false
			}
			inWord = true
			f = append(f, c)
		}
	}
	if !atEOF {
		return 0, 0, false, false
	}
	if sep != Blank || inWord {
		next(len(data))
	}
	return len(data), lines, blank, true
}

// Split reads the record that starts data as strings, every field, for
// a header or a report, by the rules Record reads fields by. It returns
// the fields and the bytes the record spans.
func Split(data []byte, sep byte) (fields []string, n int) {
	var scratch []byte
	n, _, _, _ = scanRecord(data, true, sep, &scratch, func(_ int, f []byte, _ int) {
		fields = append(fields, trimBlanks(string(f)))
	})
	return fields, n
}

func trimBlanks(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
