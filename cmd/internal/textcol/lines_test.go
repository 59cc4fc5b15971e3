package textcol

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// plainLines and plainLines128 (where the CPU has them) change nothing
// Plain reads: on long runs of lines, plain numbers of every shape they
// take and around its limits (16 integer digits, 19 in all, signs, a
// bare '.' on either side, leading zeros, exponents of 0 to 4 digits),
// numbers they leave to plain1 (20 digits, nan, inf, subnormals, out of
// range, undecidable by Eisel-Lemire), fields
// that are no number, CRLF, lines around 64 and 128 bytes, missing
// columns and bytes of every kind, one to three columns read in any
// order, each record Plain reads is what Record reads, and Plain stops
// where it stops without them.
func TestPlainLinesAsRecord(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = '0' + byte(r.IntN(10))
		}
		return string(b)
	}
	number := func() string {
		switch r.IntN(14) {
		case 2: // an exponent, as %e writes it or not
			s := digits(1+r.IntN(2)) + "." + digits(r.IntN(20))
			return s + []string{"e", "E"}[r.IntN(2)] + []string{"", "+", "-"}[r.IntN(3)] + digits(r.IntN(5))
		case 3: // long fractions
			return digits(r.IntN(3)) + "." + digits(15+r.IntN(6))
		case 0:
			return []string{"1e5", "-2E-3", "nan", "inf", "-Inf", "12345678901234567890", "9007199254740993",
				"0.000000000000000000001", "1e400", "+.5", "-.5", "5.", ".", "-", "+", "", "--1", "1.2.3", "0x10",
				"7\xff", "\x801", "1 ", " 1", "1,5", "\"1\"", "1e", "1e+", "1e-", "1e0400", "2.5e-324", "4.9e-324",
				"1.7976931348623157e308", "1.8e308", "1e-400", "1ee5", "1e5.5", "1e+-5", ".e5", "5.e5", "e5"}[r.IntN(40)]
		case 1: // around the run limits
			i, f := 14+r.IntN(5), r.IntN(6)
			if r.IntN(2) == 0 {
				i, f = f, i
			}
			return digits(i) + "." + digits(f)
		}
		s := digits(r.IntN(5)) + "." + digits(r.IntN(18))
		if r.IntN(3) == 0 {
			s = digits(1 + r.IntN(19))
		}
		if r.IntN(4) == 0 {
			s = []string{"-", "+"}[r.IntN(2)] + s
		}
		return s
	}
	ran, ran128, wide, words := 0, 0, 0, 0
	for trial := range scaled(3000) {
		sep := []byte{',', '\t', ';', '|', ',', '.', '-', 'e', '5', Blank, Blank}[r.IntN(11)] // '.' to '5' may be in a number
		cols := r.Perm(5)[:1+r.IntN(3)]                                                       // one to three, in any order
		last := slices.Max(cols)
		filler := []int{40, 110}[r.IntN(2)]
		var b []byte
		for range 50 + r.IntN(300) {
			if sep == Blank && r.IntN(4) == 0 {
				b = append(b, " \t"[r.IntN(2):]...) // blanks before the first word
			}
			fields := last + r.IntN(3)
			if r.IntN(30) == 0 {
				fields = r.IntN(last + 1) // a column missing
			}
			for f := range fields + 1 {
				if f > 0 && sep != Blank {
					b = append(b, sep)
				} else if f > 0 {
					b = append(b, []string{" ", " ", "  ", "\t", " \t\r "}[r.IntN(5)]...) // a run of blanks
				}
				if slices.Contains(cols, f) || r.IntN(2) == 0 {
					b = append(b, number()...)
				} else {
					b = append(b, strings.Repeat("x", r.IntN(filler/len(cols)))...) // lines near 64 or 128 bytes
				}
			}
			b = append(b, []string{"\n", "\n", "\n", "\r\n"}[r.IntN(4)]...)
		}
		with, without, ref := NewParser(sep, cols), NewParser(sep, cols), NewParser(sep, cols)
		dst, dst2 := make([][]float64, len(cols)), make([][]float64, len(cols))
		for s := range cols {
			dst[s], dst2[s] = make([]float64, 1000), make([]float64, 1000)
		}
		for at := 0; at < len(b); {
			d := b[at:]
			max := 1 + r.IntN(500)
			n, k := with.PlainFrom(b, at, dst, 0, max)
			compare := sep != Blank // words: only the readers read, there is nothing to compare with
			if compare {
				saved := haveLines
				setHaveLines(false)
				n2, k2 := without.PlainFrom(b, at, dst2, 0, max)
				setHaveLines(saved)
				if n != n2 || k != k2 {
					t.Fatalf("trial %d: Plain read %d records, %d bytes; without plainLines %d, %d", trial, k, n, k2, n2)
				}
			} else {
				words += k
			}
			for rec := range k {
				m, lines, blank, ok := ref.Record(d, true, false)
				if !ok || lines != 1 || blank || m > n {
					t.Fatalf("trial %d, %q: Plain read a record Record reads as %d bytes, %d lines, blank %v, ok %v", trial, d, m, lines, blank, ok)
				}
				for s := range cols {
					if ref.Kinds[s] != Number || math.Float64bits(ref.Values[s]) != math.Float64bits(dst[s][rec]) ||
						compare && math.Float64bits(dst2[s][rec]) != math.Float64bits(dst[s][rec]) {
						t.Fatalf("trial %d, %q, cols %v: slot %d: Plain %v, Record %v %v", trial, d[:m], cols, s, dst[s][rec], ref.Kinds[s], ref.Values[s])
					}
				}
				d, n, at = d[m:], n-m, at+m
			}
			m, _, _, ok := ref.Record(d, true, false)
			if !ok || m == 0 {
				break
			}
			at += m
		}
		if haveLines && with.fields != nil && len(b) > 150 && sep != Blank {
			out := make([][2]uint64, linesBatch*len(cols))
			ran += plainLines(b, 16+indexByteFrom(b, 16), with.fields, sep, &digitK, out)
			ran128 += plainLines128(b, 16+indexByteFrom(b, 16), with.fields, sep, &digitK, out)
		}
		wide += boolInt(with.wide)
	}
	if haveLines && (ran < scaled(1000) || ran128 < scaled(1000) || wide < scaled(300) || words < scaled(3000)) {
		t.Errorf("plainLines read %d lines in all, plainLines128 %d; %d trials went wide; the blank readers read %d", ran, ran128, wide, words)
	}
}

// indexByteFrom is the offset past the first '\n' at or after b[i].
func indexByteFrom(b []byte, i int) int {
	return strings.IndexByte(string(b[i:]), '\n') + 1
}

// With NoQuotes, Plain reads what it reads without, up to the first line
// that holds a '"', and not that line: on one column (plainLines and
// plain1) and on two (Plain's own loop), with the '"' in a field read,
// in one skipped, past the last read, and in lines of 60 to 70 bytes.
func TestPlainNoQuotes(t *testing.T) {
	r := rand.New(rand.NewPCG(23, 24))
	fields := []string{"1.5", "-2", "33.095451725862591", "7", "1e5", "\"", "\"1\"", "x\"", "", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}
	stopped := 0
	for trial := range scaled(3000) {
		cols := []int{r.IntN(3)}
		if r.IntN(2) == 0 {
			cols = append(cols, 3)
		}
		var lines []string
		for range 1 + r.IntN(200) {
			var line []byte
			for f := range 5 {
				if f > 0 {
					line = append(line, ',')
				}
				if r.IntN(40) == 0 {
					line = append(line, fields[r.IntN(len(fields))]...)
				} else {
					line = append(line, fields[r.IntN(4)]...)
				}
			}
			lines = append(lines, string(line)+"\n")
		}
		data := []byte(strings.Join(lines, ""))
		first := len(lines) // the first line with a '"'
		for i, l := range lines {
			if strings.Contains(l, "\"") {
				first = i
				break
			}
		}
		with, without := NewParser(',', cols), NewParser(',', cols)
		with.NoQuotes = true
		dst := [][]float64{make([]float64, 300), make([]float64, 300)}[:len(cols)]
		max := 1 + r.IntN(300)
		n, k := with.Plain(data, dst, 0, max)
		n2, k2 := without.Plain(data, dst, 0, max)
		if k != min(k2, first) || n != len(strings.Join(lines[:k], "")) || k == k2 && n != n2 {
			t.Fatalf("trial %d, cols %v: with NoQuotes %d records, %d bytes; without %d, %d; first '\"' in line %d", trial, cols, k, n, k2, n2, first)
		}
		if k == first && k < k2 {
			stopped++
		}
	}
	if stopped < scaled(300) {
		t.Errorf("NoQuotes stopped Plain %d times", stopped)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// On lines of plain numbers only, the line readers (separators, or
// blanks) take every line whose window lies in the data, whatever the numbers' digits and
// where they fall in the window (across its 64th byte too): a line they
// leave to Go costs speed, not bits, so TestPlainLinesAsRecord cannot
// see it.
func TestPlainLinesTakeAll(t *testing.T) {
	if !haveLines {
		t.Skip("no plainLines on this CPU or build")
	}
	r := rand.New(rand.NewPCG(25, 26))
	for trial := range scaled(2000) {
		cols, words, blank := 2+r.IntN(2), 1+r.IntN(2), r.IntN(2) == 0
		if words == 2 {
			cols = 4 + r.IntN(3)
		}
		data := make([]byte, 16)
		var ends []int
		for range 100 {
			for c := range cols {
				if c > 0 && !blank {
					data = append(data, ',')
				} else if c > 0 {
					data = append(data, " \t"[r.IntN(2)])
				}
				x := (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(8)))
				if r.IntN(2) == 0 {
					data = fmt.Appendf(data, "%.*f", r.IntN(10), x)
				} else {
					data = fmt.Appendf(data, "%.*e", r.IntN(words*9), x*math.Pow(10, float64(r.IntN(80)-40)))
				}
			}
			data = append(data, "\r\n"[r.IntN(2):]...)
			ends = append(ends, len(data))
		}
		fields := make([]byte, cols)
		for i := range fields {
			fields[i] = byte(i)
		}
		want, start := 0, 16
		for _, e := range ends {
			if e-start > 64*words || start+64*words > len(data) {
				break
			}
			want++
			start = e
		}
		out := make([][2]uint64, 256*cols)
		kern := [2][2]func([]byte, int, []byte, byte, *[368]byte, [][2]uint64) int{
			{plainLines, plainLines128}, {blankLines, blankLines128}}[boolInt(blank)][words-1]
		if got := kern(data, 16, fields, ',', &digitK, out); got != want {
			t.Fatalf("trial %d, %d-byte window: took %d lines of %d: %q", trial, 64*words, got, want, data[16:])
		}
	}
}
