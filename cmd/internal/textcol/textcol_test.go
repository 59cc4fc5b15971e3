package textcol

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// row is what a parse gives for one record: its line and the selected
// columns' kinds and value bits.
type row struct {
	line  int64
	blank bool
	kinds string
	bits  string
}

func parseAll(t *testing.T, data []byte, sep byte, cols []int, line int64, hasQuote bool) []row {
	t.Helper()
	p := NewParser(sep, cols)
	var out []row
	for len(data) > 0 {
		n, lines, blank, ok := p.Record(data, true, hasQuote)
		if !ok || n == 0 {
			t.Fatalf("no record read from %q", data)
		}
		r := row{line: line, blank: blank}
		for s := range cols {
			r.kinds += strconv.Itoa(int(p.Kinds[s]))
			r.bits += fmt.Sprintf("%x,", math.Float64bits(p.Values[s]))
		}
		out = append(out, r)
		line += int64(lines)
		data = data[n:]
	}
	return out
}

// splitParse indexes data in blocks of the given size, lays the records
// out and parses each part on its own, as the workers do.
func splitParse(t *testing.T, data []byte, block int, sep byte, cols []int) ([]row, Layout) {
	t.Helper()
	var idx []BlockIndex
	for off := 0; off < len(data); off += block {
		b := data[off:min(len(data), off+block)]
		// Index each block in two halves joined, as a worker joins its reads.
		h := len(b) / 3
		idx = append(idx, Join(Index(b[:h]), Index(b[h:])))
	}
	l := Resolve(idx, int64(StartOf(data)), int64(len(data)), len(data) > 0 && data[len(data)-1] == '\n')
	var out []row
	for k := 0; k+1 < len(l.Parts); k++ {
		a, b := l.Parts[k], l.Parts[k+1]
		part := parseAll(t, data[a.Off:b.Off], sep, cols, a.Line, true)
		if int64(len(part)) != b.Record-a.Record {
			t.Fatalf("part %d [%d, %d): %d records, layout says %d", k, a.Off, b.Off, len(part), b.Record-a.Record)
		}
		out = append(out, part...)
	}
	return out, l
}

// adversarial makes CSV with quoted fields holding separators, quotes,
// CRLF and LF newlines, blank lines, empty fields and numbers of every
// class.
func adversarial(r *rand.Rand, records int) []byte {
	nums := []string{"1.5", "-0", "+3", " 7 ", "1e400", "-1e-400", "4.9e-324", "0x1p-3", "inf", "-Infinity", "NaN",
		"0.1", "123456789012345678901234567890", "2.2250738585072011e-308", "", "NA", "abc", "1,5", "1.0.0"}
	var b bytes.Buffer
	if r.IntN(2) == 0 {
		b.Write(BOM)
	}
	for i := range records {
		if r.IntN(15) == 0 {
			b.WriteString("\n")
			continue
		}
		for c := range 3 {
			if c > 0 {
				b.WriteByte(',')
			}
			switch r.IntN(6) {
			case 0:
				b.WriteString(`"a, ""quoted""` + "\n" + `field"`)
			case 1:
				fmt.Fprintf(&b, `"%s"`, nums[r.IntN(len(nums))])
			default:
				b.WriteString(nums[r.IntN(len(nums))])
			}
		}
		if r.IntN(3) == 0 {
			b.WriteString("\r")
		}
		if i < records-1 || r.IntN(2) == 0 {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}

// Cut anywhere, the file parses as it does whole: the same records,
// lines, kinds and bits.
func TestSplitEqualsSerial(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for trial := range scaled(300) {
		data := adversarial(r, 1+r.IntN(200))
		cols := []int{0, 2}
		want := parseAll(t, data[StartOf(data):], ',', cols, 1, true)
		for _, block := range []int{1, 2, 3, 7, 16, 64, 1 + r.IntN(len(data))} {
			got, l := splitParse(t, data, block, ',', cols)
			if l.Open {
				t.Fatalf("trial %d: a quote left open in a file that closes them", trial)
			}
			if l.Records != int64(len(want)) || len(got) != len(want) {
				t.Fatalf("trial %d block %d: %d records (layout %d), serial %d", trial, block, len(got), l.Records, len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("trial %d block %d record %d: %+v, serial %+v\n%q", trial, block, i, got[i], want[i], data)
				}
			}
		}
	}
}

// A well-formed file, as encoding/csv writes it, reads field for field
// as encoding/csv reads it.
func TestAgreesWithEncodingCSV(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	words := []string{"1.25", "x,y", `say "hi"`, "two\nlines", "-7e3", " 4", "", "nan"}
	for trial := range 100 {
		var b bytes.Buffer
		w := csv.NewWriter(&b)
		w.UseCRLF = trial%2 == 0
		for range 1 + r.IntN(50) {
			rec := make([]string, 4)
			for c := range rec {
				rec[c] = words[r.IntN(len(words))]
			}
			if strings.Join(rec, "") == "" {
				rec[0] = "1"
			}
			w.Write(rec)
		}
		w.Flush()
		data := b.Bytes()
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		got, _ := splitParse(t, data, 1+r.IntN(40), ',', []int{0, 1, 2, 3})
		if len(got) != len(recs) {
			t.Fatalf("%d records, encoding/csv %d\n%q", len(got), len(recs), data)
		}
		for i, rec := range recs {
			var kinds, bits string
			for _, f := range rec {
				x, k := Field([]byte(f))
				kinds += strconv.Itoa(int(k))
				bits += fmt.Sprintf("%x,", math.Float64bits(x))
			}
			if got[i].kinds != kinds || got[i].bits != bits {
				t.Fatalf("record %d %q: kinds %s bits %s, want %s %s", i, rec, got[i].kinds, got[i].bits, kinds, bits)
			}
		}
	}
}

// Field gives strconv.ParseFloat's bits for every class of float64, and
// says what is not a number.
func TestFieldBitsAsStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	check := func(s string) {
		t.Helper()
		want, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		got, k := Field([]byte(s))
		if err != nil && !strings.Contains(err.Error(), "range") {
			if k == Number {
				t.Errorf("%q: a number %v, strconv says %v", s, got, err)
			}
			return
		}
		if k != Number || math.Float64bits(got) != math.Float64bits(want) && !(math.IsNaN(got) && math.IsNaN(want)) {
			t.Errorf("%q: %v (%d), strconv %v", s, got, k, want)
		}
	}
	for range scaled(200000) {
		x := math.Float64frombits(r.Uint64())
		check(strconv.FormatFloat(x, 'g', -1, 64))
		check(strconv.FormatFloat(x, 'e', 16, 64))
		check(strconv.FormatFloat(x, 'e', r.IntN(25), 64))
	}
	for _, s := range []string{"4.9e-324", "2.4703282292062327e-324", "2.4703282292062328e-324", "1e400", "-1e400", "1e-400",
		"inf", "+Inf", "-inf", "Infinity", "nan", "NaN", "+1", "-0", " 3.5", "3.5 ", "\t2", "0x1p-1074", ".5", "5.", "1_0", "1e", "--1", "", " "} {
		check(s)
	}
	for s, want := range map[string]Kind{"": Missing, "  ": Missing, "NA": Missing, "null": Missing, "#N/A": Missing,
		"abc": NotNumber, "1,5": NotNumber, "1.0.0": NotNumber, "nan": Number, "1_000": Number /* strconv reads Go literal underscores */} {
		if _, k := Field([]byte(s)); k != want {
			t.Errorf("%q: kind %d, want %d", s, k, want)
		}
	}
}

func TestDetectSepAndHeader(t *testing.T) {
	for _, c := range []struct {
		text   string
		sep    byte
		header bool
	}{
		{"id,price,temp\n1,2.5,3\n2,3.5,4\n", ',', true},
		{"a\tb\n1\t2\n", '\t', true},
		{"1;2;3\n4;5;6\n", ';', false},
		{"1.5\n2.5\n", ',', false},
		{"price\n1.5\n", ',', true},
		{"  1.5   2\n  3     4\n", Blank, false},
		{"\"x, y\",z\n1,2\n", ',', true},
	} {
		sep := DetectSep([]byte(c.text))
		fields, _ := Split([]byte(c.text), sep)
		if sep != c.sep || IsHeader(fields) != c.header {
			t.Errorf("%q: sep %q header %v, want %q %v", c.text, sep, IsHeader(fields), c.sep, c.header)
		}
	}
}

// A quote never closed shows in the layout.
func TestOpenQuote(t *testing.T) {
	data := []byte("1,2\n\"3,4\n5,6\n")
	l := Resolve([]BlockIndex{Index(data[:5]), Index(data[5:])}, 0, int64(len(data)), true)
	if !l.Open {
		t.Error("an open quote not seen")
	}
}

// The fast path alone, where it answers, gives strconv's bits: random
// float64 printed every way, and decimal strings of random digits and
// exponents (halfway cases and long mantissas included).
func TestParseDecimalAsStrconv(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	fast := 0
	check := func(s string) {
		t.Helper()
		got, ok := parseDecimal([]byte(s))
		// The same field with digits after it in its buffer, which the
		// eight-at-once reads see but must not take.
		padded := append([]byte(s), "12345678"...)
		got2, ok2 := parseDecimal(padded[:len(s)])
		if ok2 != ok || ok && math.Float64bits(got2) != math.Float64bits(got) {
			t.Fatalf("%q: %v %v alone, %v %v with digits after it in the buffer", s, got, ok, got2, ok2)
		}
		if !ok {
			return
		}
		fast++
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%q: %v (%#x), strconv %v (%#x) %v", s, got, math.Float64bits(got), want, math.Float64bits(want), err)
		}
	}
	for range scaled(1_000_000) {
		x := math.Float64frombits(r.Uint64())
		check(strconv.FormatFloat(x, 'g', -1, 64))
		check(strconv.FormatFloat(x, 'e', r.IntN(19), 64))
		check(strconv.FormatFloat(x, 'f', r.IntN(20), 64))
		// Random digits: a mantissa of 1 to 19 digits, an exponent anywhere.
		m := strconv.FormatUint(r.Uint64()>>uint(r.IntN(64)), 10)
		check(fmt.Sprintf("%s.%se%d", m[:1], m[1:], r.IntN(700)-350))
		check(fmt.Sprintf("-%se%d", m, r.IntN(60)-30))
	}
	for _, s := range []string{"0", "-0", "0.000", "1", "9007199254740993", "9007199254740992", "1e22", "1e23", "123456789012345678e-5",
		"2.2250738585072014e-308", "1.7976931348623157e308", "0.1", "33.095451725862591", ".5", "5.", "+5", "-.5e-3",
		"0.0000000000000000001234567890123456789", "00000000000000000000001.5", "1234567890123456789", "1.234567890123456789e-5",
		"12345678.12345678", "99999999.99999999e3", "0.00000000", "1.", "-.00000001"} {
		check(s)
	}
	if fast < 2*scaled(1_000_000) {
		t.Errorf("the fast path answered %d strings only", fast)
	}
	for _, s := range []string{"", "+", ".", "e5", "1e", "1e+", "inf", "nan", "0x10", "1_0", "1.2.3", "12345678901234567890",
		"1234567890.1234567890", "12345678a", "1.2345678x", "-", "+.", ".e1", "1..2", "12345678.."} {
		if _, ok := parseDecimal([]byte(s)); ok {
			t.Errorf("%q: the fast path answered", s)
		}
	}
}

// Without quotes, the fast path reads every record as the byte-by-byte
// reader does: lines of random fields, separators (a comma or a tab),
// blanks and CRs, cut anywhere, with and without the quote check.
func TestFastPathAsSlow(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	parts := []string{"1.5", "-2", "", " ", "\r", "x", "1e5", "123456789.123456789", ",", ",", ",", "\n", "\n", "\t"}
	for trial := range scaled(20000) {
		var b []byte
		for range r.IntN(40) {
			b = append(b, parts[r.IntN(len(parts))]...)
		}
		cols := []int{r.IntN(3), 3 + r.IntN(3)}
		if r.IntN(4) == 0 {
			cols = cols[:1] // the line goes on past the last column read
		}
		sep := []byte{',', '\t'}[r.IntN(2)] // a tab is also a blank
		fast, slow := NewParser(sep, cols), NewParser(sep, cols)
		for d := b; len(d) > 0; {
			atEOF := r.IntN(4) > 0
			n1, l1, b1, ok1 := fast.Record(d, atEOF, r.IntN(2) == 0)
			n2, l2, b2, ok2 := slow.slow(d, atEOF)
			if n1 != n2 || l1 != l2 || ok1 != ok2 || ok1 && (b1 != b2 || !b1 && fmt.Sprint(fast.Kinds, fast.Values) != fmt.Sprint(slow.Kinds, slow.Values)) {
				t.Fatalf("trial %d, %q (atEOF %v): fast %d %d %v %v %v %v, slow %d %d %v %v %v %v", trial, d, atEOF,
					n1, l1, b1, ok1, fast.Kinds, fast.Values, n2, l2, b2, ok2, slow.Kinds, slow.Values)
			}
			if !ok1 || n1 == 0 {
				break
			}
			d = d[n1:]
		}
	}
}

// scaled is n, or a tenth of it in the fast lane (go test -short).
func scaled(n int) int {
	if testing.Short() {
		return n / 10
	}
	return n
}

// Plain reads each record it reads as Record does (the same bytes, one
// line, a number in every column read, the same bits), and stops where it
// cannot: lines of random fields, numbers that are not plain among them,
// cut anywhere. On a file of plain numbers it reads every record.
func TestPlainAsRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	numbers := []string{"1.5", "-2", "1e5", "123456789.123456789", "+.5", "0", "-0", "7", "33.095451725862591", "1E-3", "5."}
	others := []string{"", " ", "\r", "x", "12345678901234567890", "1e", "1e400", "nan", " 1", "1 ", ",", "\n", "\r\n", "\t"}
	read := 0
	for trial := range scaled(20000) {
		// Lines of fields, most of them numbers, with stray bytes now
		// and then.
		sep := []byte{',', '\t'}[r.IntN(2)]
		var b []byte
		for range r.IntN(6) {
			for f := range r.IntN(6) {
				if f > 0 {
					b = append(b, sep)
				}
				if r.IntN(8) > 0 {
					b = append(b, numbers[r.IntN(len(numbers))]...)
				} else {
					b = append(b, others[r.IntN(len(others))]...)
				}
			}
			b = append(b, []string{"\n", "\n", "\r\n", ""}[r.IntN(4)]...)
		}
		cols := []int{r.IntN(3)}
		for range r.IntN(3) {
			cols = append(cols, r.IntN(5)) // now and then a column twice
		}
		plain, ref := NewParser(sep, cols), NewParser(sep, cols)
		dst := make([][]float64, len(cols))
		for s := range dst {
			dst[s] = make([]float64, 8)
		}
		for d := b; len(d) > 0; {
			n, k := plain.Plain(d, dst, 0, 1+r.IntN(8))
			read += k
			for rec := range k {
				m, lines, blank, ok := ref.Record(d, r.IntN(2) == 0, false)
				if !ok || lines != 1 || blank || m > n {
					t.Fatalf("trial %d, %q, cols %v: Plain read a record Record reads as %d bytes, %d lines, blank %v, ok %v", trial, d, cols, m, lines, blank, ok)
				}
				for s := range cols {
					if ref.Kinds[s] != Number || math.Float64bits(ref.Values[s]) != math.Float64bits(dst[s][rec]) {
						t.Fatalf("trial %d, %q, cols %v: slot %d: Plain %v, Record %v %v", trial, d, cols, s, dst[s][rec], ref.Kinds[s], ref.Values[s])
					}
				}
				d, n = d[m:], n-m
			}
			if n != 0 {
				t.Fatalf("trial %d: Plain's bytes are %d more than its records'", trial, n)
			}
			m, _, _, ok := ref.Record(d, true, false)
			if !ok || m == 0 {
				break
			}
			d = d[m:]
		}
	}
	if read < scaled(5000) {
		t.Errorf("Plain read %d records in all", read)
	}
	data := benchCSV()
	for _, cols := range [][]int{{1}, {2}, {0, 2}, {2, 1}} {
		p := NewParser(',', cols)
		dst := make([][]float64, len(cols))
		for s := range dst {
			dst[s] = make([]float64, 100_000)
		}
		if n, k := p.Plain(data, dst, 0, 100_000); n != len(data) || k != 100_000 {
			t.Errorf("cols %v: Plain read %d records, %d bytes of %d", cols, k, n, len(data))
		}
	}
}

// fastNumber reads what parseNumber reads (the same bits, end and ok) for
// numbers of every shape around the ones it takes itself: signs, 0 to 9
// integer digits, 0 to 20 fraction digits, leading zeros, exponents, and
// any byte after, near the end of the data and far from it.
func TestFastNumber(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = '0' + byte(r.IntN(10))
			if r.IntN(3) == 0 {
				b[i] = '0'
			}
		}
		return string(b)
	}
	tails := []string{",", "\n", "\r\n", "e5", "E-3", "x", ".", " ", "", "12345678901234567890123456789012345"}
	for range scaled(500000) {
		s := []string{"", "-", "+"}[r.IntN(3)] + digits(r.IntN(20))
		if r.IntN(4) > 0 {
			s += "." + digits(r.IntN(21))
		}
		s += tails[r.IntN(len(tails))]
		if r.IntN(2) == 0 {
			s += strings.Repeat("7,", r.IntN(20))
		}
		// At the start of the data (read in Go), and inside it with room
		// around it (read by decimalDigits where there is one).
		for _, off := range []int{0, 16 + r.IntN(8)} {
			d := append(append([]byte(strings.Repeat("9", off)), s...), strings.Repeat("12,", min(off, 17)+r.IntN(4))...)
			x1, e1, ok1 := fastNumber(d, off)
			x2, e2, ok2 := parseNumber(d, off)
			if ok1 != ok2 || ok1 && (e1 != e2 || math.Float64bits(x1) != math.Float64bits(x2)) {
				t.Fatalf("%q at %d: fastNumber %v %d %v, parseNumber %v %d %v", d, off, x1, e1, ok1, x2, e2, ok2)
			}
		}
	}
}
