package floatfile

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"
)

// Format is what a file holds, as Sniff tells it from its bytes.
type Format int

// The formats Sniff tells apart and a command can read.
const (
	Raw  Format = iota // little-endian floats: nothing else recognised
	NPY                // a NumPy .npy array
	Text               // delimited text: CSV, TSV, one number per line
	Gzip               // gzip-compressed: read through a decompressor
	Zstd               // zstd-compressed: read through a decompressor
)

func (f Format) String() string {
	return [...]string{"raw", ".npy", "text", "gzip", "zstd"}[f]
}

// SniffLen is how much of a file's start Sniff wants to see.
const SniffLen = 64 << 10

// foreign are formats recognised by their first bytes that no command
// reads: each is refused with what it is, rather than read as numbers.
var foreign = []struct{ magic, what string }{
	{"\x89PNG\r\n\x1a\n", "a PNG image"},
	{"\xff\xd8\xff", "a JPEG image"},
	{"GIF8", "a GIF image"},
	{"%PDF", "a PDF document"},
	{"\x7fELF", "an ELF executable"},
	{"BZh", "bzip2-compressed (decompress it: bzcat FILE | pishm stats -)"},
	{"\xfd7zXZ\x00", "xz-compressed (decompress it: xzcat FILE | pishm stats -)"},
	{"PAR1", "a Parquet file (export the column as CSV or .npy)"},
	{"\x89HDF\r\n\x1a\n", "an HDF5 file (export the array with np.save)"},
	{"SQLite format 3\x00", "an SQLite database (export the column as CSV)"},
	{"ARROW1", "an Arrow file (export the column as CSV or .npy)"},
	{"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"},
	{"Rar!\x1a\x07", "a RAR archive"},
	{"\x80\x04\x95", "a Python pickle (save the array with np.save)"},
	{"\x80\x05\x95", "a Python pickle (save the array with np.save)"},
}

// Sniff tells what the file f of size bytes holds from head, its first
// bytes (SniffLen of them, or all), and tail, its last few (for text, to
// check that the end is text too). A format no command reads gets an
// *Error saying what the file looks like and what to do.
func Sniff(path string, f io.ReaderAt, size int64, head, tail []byte) (Format, error) {
	switch {
	case bytes.HasPrefix(head, []byte(magic)):
		return NPY, nil
	case bytes.HasPrefix(head, []byte("\x1f\x8b")):
		return Gzip, nil
	case bytes.HasPrefix(head, []byte("\x28\xb5\x2f\xfd")):
		return Zstd, nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")) || bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return 0, errorf(path, "%s", describeZip(f, size))
	}
	for _, m := range foreign {
		if bytes.HasPrefix(head, []byte(m.magic)) {
			return 0, errorf(path, "is %s, not numbers: not read", m.what)
		}
	}
	if !isText(head, false) || !isText(tail, int64(len(head)) < size) {
		return Raw, nil
	}
	body := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
	switch {
	case len(body) > 0 && (body[0] == '{' || body[0] == '['):
		return 0, errorf(path, "is JSON, not CSV or raw numbers: not read (convert it to CSV, one record a line, or to .npy)")
	case len(body) > 0 && body[0] == '<':
		return 0, errorf(path, "is markup (XML or HTML), not CSV or raw numbers: not read")
	case int64(len(head)) < size && bytes.IndexByte(head, '\n') < 0:
		return 0, errorf(path, "is text with no line break in its first %d KiB: not a CSV (if it is raw binary floats, say -type f64 or -type f32)", len(head)>>10)
	}
	return Text, nil
}

// isText reports whether b reads as text: UTF-8 with no control
// characters but tab, CR and LF; a character cut at its end is allowed,
// and one cut at its start (at most three continuation bytes) where b is
// taken from inside the file (cut), not from its first byte.
func isText(b []byte, cut bool) bool {
	for k := 0; cut && k < utf8.UTFMax-1 && len(b) > 0 && b[0]&0xc0 == 0x80; k++ { // the tail of a character cut at the start
		b = b[1:]
	}
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:]) // cut at the end
		}
		i += n
	}
	return true
}

// describeZip says what a zip file holds: the arrays of an .npz, or its
// first files.
func describeZip(f io.ReaderAt, size int64) string {
	z, err := zip.NewReader(f, size)
	if err != nil {
		return "is a zip archive (unreadable: " + err.Error() + "): not read"
	}
	var npy, other []string
	for _, e := range z.File {
		if name, ok := strings.CutSuffix(e.Name, ".npy"); ok {
			npy = append(npy, name)
		} else {
			other = append(other, e.Name)
		}
	}
	sort.Strings(npy)
	if len(npy) > 0 && len(other) == 0 {
		return fmt.Sprintf("is a NumPy .npz archive of %d arrays (%s): not read; save the one you want with np.save(\"x.npy\", a[%q]) and give that file", len(npy), list(npy), npy[0])
	}
	return fmt.Sprintf("is a zip archive (%s): not read; unzip it and give the file of numbers", list(append(npy, other...)))
}

func list(names []string) string {
	const most = 5
	if len(names) <= most {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:most], ", ") + fmt.Sprintf(" and %d more", len(names)-most)
}

// SniffFile reads the start and end of the open file f and sniffs them.
func SniffFile(path string, f *os.File, size int64) (Format, error) {
	head := make([]byte, min(size, SniffLen))
	if _, err := f.ReadAt(head, 0); err != nil {
		return 0, &Error{Path: path, Msg: oneLine(err)}
	}
	tail := make([]byte, min(size, 4096))
	if _, err := f.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, &Error{Path: path, Msg: oneLine(err)}
	}
	return Sniff(path, f, size, head, tail)
}
