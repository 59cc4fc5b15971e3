package textcol

import "bytes"

// BOM is the UTF-8 byte-order mark some programs start text with.
var BOM = []byte("\xef\xbb\xbf")

// seps are the separators DetectSep tries, most likely first.
var seps = []byte{',', '\t', ';', '|', Blank}

// DetectSep guesses the separator of the text that head starts (past any
// BOM): the first of comma, tab, semicolon, bar and blanks that splits
// the first records, up to 20, into the same number of fields, more than
// one, taking the one that gives the most fields. A file of one column
// has no separator to find: it reads as comma-separated.
func DetectSep(head []byte) byte {
	best, most := byte(','), 1
	for _, sep := range seps {
		n, ok := sameFields(head, sep)
		if ok && n > most {
			best, most = sep, n
		}
	}
	return best
}

// sameFields reports the fields of the first record and whether the
// complete records among the first 20 all have that many.
func sameFields(head []byte, sep byte) (int, bool) {
	want := -1
	for rec := 0; rec < 20 && len(head) > 0; rec++ {
		fields, n := Split(head, sep)
		if n == len(head) && rec > 0 && head[n-1] != '\n' { // cut by the sample's end
			break
		}
		head = head[n:]
		if len(fields) == 1 && fields[0] == "" { // a blank line
			continue
		}
		if want < 0 {
			want = len(fields)
		} else if len(fields) != want {
			return want, false
		}
	}
	return want, want > 0
}

// IsHeader reports whether the fields of a file's first record look like
// column names: none is a number, and one at least is text.
func IsHeader(fields []string) bool {
	text := false
	for _, f := range fields {
		switch _, k := Field([]byte(f)); k {
		case Number:
			return false
		case NotNumber:
			text = true
		}
	}
	return text
}

// SepName is how a separator is shown.
func SepName(sep byte) string {
	switch sep {
	case '\t':
		return "tab"
	case Blank:
		return "blanks"
	}
	return string([]byte{sep})
}

// ParseSep reads a separator as a flag gives it: one character, or tab,
// space or blanks (runs of spaces and tabs).
func ParseSep(s string) (byte, bool) {
	switch s {
	case "tab", `\t`, "\t":
		return '\t', true
	case "space", "blank", "blanks", "whitespace", " ":
		return Blank, true
	}
	if len(s) == 1 && s[0] != '"' && s[0] != '\n' && s[0] != '\r' && s[0] < 0x80 {
		return s[0], true
	}
	return 0, false
}

// StartOf is where the records of text start: past a BOM.
func StartOf(head []byte) int {
	if bytes.HasPrefix(head, BOM) {
		return len(BOM)
	}
	return 0
}
