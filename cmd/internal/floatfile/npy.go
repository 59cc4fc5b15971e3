package floatfile

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"os"
	"strconv"
	"strings"
)

// magic starts every .npy file; the format version follows it in two bytes.
const magic = "\x93NUMPY"

// maxHeader bounds the header we read: NumPy's own reader refuses headers
// over 10000 bytes unless told otherwise.
const maxHeader = 1 << 20

// inspectNPY reads the header of the .npy file f (size bytes; its magic
// already checked): version 1.0 (a 2-byte header length), 2.0 or 3.0 (4
// bytes), then a Python dict literal with descr, fortran_order and shape.
func inspectNPY(path string, f *os.File, size int64) (Layout, error) {
	var pre [4]byte // version, and the first bytes of the header length
	if _, err := f.ReadAt(pre[:], int64(len(magic))); err != nil {
		return Layout{}, errorf(path, "truncated .npy: the file ends inside its preamble")
	}
	var hlen, start int64
	switch major := pre[0]; major {
	case 1:
		hlen, start = int64(binary.LittleEndian.Uint16(pre[2:])), int64(len(magic))+4
	case 2, 3:
		var l [4]byte
		if _, err := f.ReadAt(l[:], int64(len(magic))+2); err != nil {
			return Layout{}, errorf(path, "truncated .npy: the file ends inside its preamble")
		}
		hlen, start = int64(binary.LittleEndian.Uint32(l[:])), int64(len(magic))+6
	default:
		return Layout{}, errorf(path, ".npy format version %d.%d is not supported (want 1.0, 2.0 or 3.0)", pre[0], pre[1])
	}
	if hlen > maxHeader {
		return Layout{}, errorf(path, ".npy header of %d bytes is too long (at most %d)", hlen, maxHeader)
	}
	if start+hlen > size {
		return Layout{}, errorf(path, "truncated .npy: the header is %d bytes, the file ends %d bytes into it", hlen, size-start)
	}
	header := make([]byte, hlen)
	if _, err := f.ReadAt(header, start); err != nil && err != io.EOF {
		return Layout{}, &Error{Path: path, Msg: oneLine(err)}
	}
	h, err := parseHeader(string(header))
	if err != nil {
		return Layout{}, errorf(path, "bad .npy header: %v", err)
	}
	var l Layout
	switch h.descr {
	case "<f8", "=f8":
		l.Elem = Float64
	case "<f4", "=f4":
		l.Elem = Float32
	default:
		return Layout{}, errorf(path, ".npy dtype %q is not supported (want '<f8' or '<f4': little-endian float64 or float32)", h.descr)
	}
	if h.fortran {
		return Layout{}, errorf(path, ".npy array is in Fortran order, which is not supported (save it in C order)")
	}
	l.NPY, l.Offset, l.Count = true, start+hlen, 1
	for _, d := range h.shape {
		hi, lo := bits.Mul64(l.Count, d)
		if hi != 0 || lo > uint64(size) {
			l.Count = uint64(size) + 1 // more than the file can hold: reported as truncated below
			break
		}
		l.Count = lo
	}
	if l.Count == 0 {
		return Layout{}, errorf(path, "is empty: the .npy array has shape %s", shapeString(h.shape))
	}
	data := size - l.Offset
	if l.Count > uint64(data)/uint64(l.Elem) {
		want := "more"
		if l.Count <= uint64(size) {
			want = strconv.FormatUint(l.Count*uint64(l.Elem), 10)
		}
		return Layout{}, errorf(path, "truncated .npy: shape %s needs %s bytes of data after byte %d, the file has %d",
			shapeString(h.shape), want, l.Offset, data)
	}
	if extra := uint64(data) - l.Count*uint64(l.Elem); extra != 0 {
		return Layout{}, errorf(path, "malformed .npy: %d bytes follow the %d elements its shape %s holds", extra, l.Count, shapeString(h.shape))
	}
	if l.Offset%int64(l.Elem) != 0 {
		return Layout{}, errorf(path, "malformed .npy: data at byte %d is not aligned to its %d-byte elements", l.Offset, int(l.Elem))
	}
	return l, nil
}

func shapeString(shape []uint64) string {
	var s []string
	for _, d := range shape {
		s = append(s, strconv.FormatUint(d, 10))
	}
	if len(s) == 1 {
		return "(" + s[0] + ",)"
	}
	return "(" + strings.Join(s, ", ") + ")"
}

// header is what a .npy header says.
type header struct {
	descr   string
	fortran bool
	shape   []uint64
}

// parseHeader reads the dict literal NumPy writes, such as
//
//	{'descr': '<f8', 'fortran_order': False, 'shape': (1000,), }
//
// followed by spaces and a newline: the subset of Python literals that
// format uses (strings, True, False, integers, tuples), no more.
func parseHeader(s string) (header, error) {
	p := &parser{s: s}
	var h header
	seen := map[string]bool{}
	if err := p.expect('{'); err != nil {
		return h, err
	}
	for {
		if p.peek() == '}' {
			p.pos++
			break
		}
		key, err := p.str()
		if err != nil {
			return h, err
		}
		if seen[key] {
			return h, fmt.Errorf("key %q twice", key)
		}
		seen[key] = true
		if err := p.expect(':'); err != nil {
			return h, err
		}
		switch key {
		case "descr":
			if p.peek() != '\'' && p.peek() != '"' {
				return h, fmt.Errorf("descr is not a simple dtype string (a structured dtype?)")
			}
			if h.descr, err = p.str(); err != nil {
				return h, err
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return h, err
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return h, err
			}
		default:
			return h, fmt.Errorf("unknown key %q", key)
		}
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect('}'); err != nil {
			return h, err
		}
		break
	}
	if rest := strings.TrimRight(s[p.pos:], " \t\n\x00"); rest != "" {
		return h, fmt.Errorf("unexpected %q after the dict", rest)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return h, fmt.Errorf("no %q key", k)
		}
	}
	return h, nil
}

type parser struct {
	s   string
	pos int
}

// peek skips blanks and returns the next byte, or 0 at the end.
func (p *parser) peek() byte {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n') {
		p.pos++
	}
	if p.pos == len(p.s) {
		return 0
	}
	return p.s[p.pos]
}

func (p *parser) expect(c byte) error {
	if got := p.peek(); got != c {
		return fmt.Errorf("want %q at byte %d, got %s", c, p.pos, p.near())
	}
	p.pos++
	return nil
}

func (p *parser) near() string {
	if p.pos >= len(p.s) {
		return "the end"
	}
	return strconv.Quote(p.s[p.pos:min(len(p.s), p.pos+12)])
}

// str reads a quoted string without escapes (dtype strings and keys have none).
func (p *parser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", fmt.Errorf("want a string at byte %d, got %s", p.pos, p.near())
	}
	end := strings.IndexByte(p.s[p.pos+1:], q)
	if end < 0 {
		return "", fmt.Errorf("unterminated string at byte %d", p.pos)
	}
	v := p.s[p.pos+1 : p.pos+1+end]
	if strings.ContainsRune(v, '\\') {
		return "", fmt.Errorf("escaped string at byte %d", p.pos)
	}
	p.pos += end + 2
	return v, nil
}

func (p *parser) boolean() (bool, error) {
	p.peek()
	for _, w := range []string{"True", "False"} {
		if strings.HasPrefix(p.s[p.pos:], w) {
			p.pos += len(w)
			return w == "True", nil
		}
	}
	return false, fmt.Errorf("want True or False at byte %d, got %s", p.pos, p.near())
}

// tuple reads a tuple of non-negative integers: (), (3,), (2, 3).
func (p *parser) tuple() ([]uint64, error) {
	if err := p.expect('('); err != nil {
		return nil, err
	}
	dims := []uint64{}
	for {
		c := p.peek()
		if c == ')' {
			p.pos++
			return dims, nil
		}
		start := p.pos
		for p.pos < len(p.s) && '0' <= p.s[p.pos] && p.s[p.pos] <= '9' {
			p.pos++
		}
		if p.pos == start {
			return nil, fmt.Errorf("want a dimension at byte %d, got %s", p.pos, p.near())
		}
		d, err := strconv.ParseUint(p.s[start:p.pos], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("dimension %s: %v", p.s[start:p.pos], err)
		}
		if p.pos < len(p.s) && p.s[p.pos] == 'L' { // Python 2's long
			p.pos++
		}
		dims = append(dims, d)
		if p.peek() == ',' {
			p.pos++
			continue
		}
		if err := p.expect(')'); err != nil {
			return nil, err
		}
		return dims, nil
	}
}
