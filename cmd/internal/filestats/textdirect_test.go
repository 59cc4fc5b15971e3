package filestats

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/pishm/pishm/cmd/internal/source"
	"github.com/pishm/pishm/engine/lab"
)

// killAfterPlaceEnv names a file: the first worker to create it, after it
// placed a block of values, SIGKILLs itself (TestMain sets the hook).
const killAfterPlaceEnv = "PISHM_FILESTATS_TEST_KILL_AFTER_PLACE"

func killAfterPlace() {
	marker := os.Getenv(killAfterPlaceEnv)
	if marker == "" {
		return
	}
	afterPlace = func() {
		if f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			f.Close()
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
	}
}

// refColumn is what reading one column of a quote-free CSV must give,
// found line by line with strconv, apart from the parse: the numbers, in
// the file's order, and the counts.
type refColumn struct {
	numbers        []float64
	missing, bad   uint64
	firstBad       *BadField
	records, blank uint64 // past the header
}

func readRef(text string, col int, header bool) refColumn {
	var r refColumn
	text = strings.TrimPrefix(text, "\xef\xbb\xbf")
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, l := range lines {
		if header && i == 0 {
			continue
		}
		r.records++
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), "\r")
		if strings.Trim(l, " \t\r") == "" && !strings.Contains(l, ",") {
			r.blank++
			continue
		}
		fields := strings.Split(l, ",")
		if col >= len(fields) {
			r.missing++
			continue
		}
		f := strings.Trim(fields[col], " \t\r")
		if x, err := strconv.ParseFloat(f, 64); err == nil || errors.Is(err, strconv.ErrRange) {
			r.numbers = append(r.numbers, x)
		} else if f == "" || f == "NA" {
			r.missing++
		} else {
			if r.bad == 0 {
				r.firstBad = &BadField{Line: int64(i + 1), Text: f}
			}
			r.bad++
		}
	}
	return r
}

// quoteFreeCSV is n records of three columns in every shape the parse
// meets: numbers of every kind, empty and NA fields, words, short rows,
// blank lines, CRLF, blanks around fields, and lines longer than a block.
func quoteFreeCSV(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 7))
	field := func() string {
		switch r.IntN(14) {
		case 0:
			return ""
		case 1:
			return "NA"
		case 2:
			return "abc" + strconv.Itoa(r.IntN(100))
		case 3:
			return fmt.Sprint(r.NormFloat64() * 1e300)
		case 4:
			return []string{"inf", "-Inf", "NaN", "1e400", "-0", "+5", "4.9e-324"}[r.IntN(7)]
		case 5:
			return " " + strconv.Itoa(r.IntN(1000)) + "\t"
		case 6:
			return strings.Repeat("9", 200+r.IntN(200)) // a long line
		default:
			return strconv.FormatFloat(r.Float64()*100, 'g', 17, 64)
		}
	}
	var b strings.Builder
	for range n {
		switch r.IntN(20) {
		case 0:
			b.WriteString("\n")
			continue
		case 1:
			b.WriteString(" \t\r\n")
			continue
		case 2:
			b.WriteString(field() + "\n") // a short row
			continue
		}
		b.WriteString(field() + "," + field() + "," + field())
		if r.IntN(5) == 0 {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	return b.String()
}

// resultOf reads column col of the file at path as text.
func resultOf(t *testing.T, path string, col int, header bool, mode lab.Mode, read ReadMethod) (Column, TextResult) {
	t.Helper()
	src, err := source.Open(context.Background(), path, source.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	h := -1
	if header {
		h = 1
	}
	res, err := ComputeText(context.Background(), src, Options{Workers: 2, Mode: mode, Bins: 8, Read: read},
		TextOptions{Sep: ',', Header: h, Cols: []string{strconv.Itoa(col + 1)}})
	if err != nil {
		t.Fatalf("%v, %v: %v", mode, read, err)
	}
	return res.Columns[0], res
}

// checkColumn compares what ComputeText read with the reference: the
// counts, the first bad field, and the statistics, which must be those of
// a raw file of the reference's numbers, bit for bit.
func checkColumn(t *testing.T, what string, got Column, res TextResult, want refColumn) {
	t.Helper()
	if res.Records != want.records || res.Blank != want.blank || got.Missing != want.missing || got.NotNumber != want.bad ||
		got.Numbers != uint64(len(want.numbers)) {
		t.Fatalf("%s: records %d blank %d missing %d bad %d numbers %d; want %d %d %d %d %d", what, res.Records, res.Blank,
			got.Missing, got.NotNumber, got.Numbers, want.records, want.blank, want.missing, want.bad, len(want.numbers))
	}
	if fmt.Sprint(got.FirstBad) != fmt.Sprint(want.firstBad) {
		t.Fatalf("%s: first bad field %+v, want %+v", what, got.FirstBad, want.firstBad)
	}
	path, l := floatFile(t, len(want.numbers), func(i int) float64 { return want.numbers[i] })
	st, err := Compute(context.Background(), path, l, Options{Workers: 2, Mode: lab.Goroutines, Bins: 8})
	if err != nil {
		t.Fatal(err)
	}
	if g, w := fmt.Sprintf("%+v", *got.Stats), fmt.Sprintf("%+v", st); g != w {
		t.Fatalf("%s: stats\n%s\nwant those of the raw numbers\n%s", what, g, w)
	}
}

// withBlock makes the parts b bytes long for the test.
func withBlock(t *testing.T, b int64) {
	old := minBlock
	minBlock = b
	t.Cleanup(func() { minBlock = old })
}

// A quote-free file is parsed without the index, cut into many small
// parts, in the modes of each kind and with each read method, and reads as the reference does:
// records, counts, the line of the first bad field, and statistics.
func TestParseDirect(t *testing.T) {
	withBlock(t, 97)
	for i, c := range []struct {
		prefix  string
		header  bool
		trailer string
	}{{"", false, ""}, {"x,y,z\n", true, ""}, {"\xef\xbb\xbfx,y,z\r\n", true, "1,2,3"}, {"", false, "\n\n"}} {
		text := c.prefix + quoteFreeCSV(uint64(i), 3000) + c.trailer
		path := filepath.Join(t.TempDir(), "d.csv")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		for col := range 3 {
			want := readRef(text, col, c.header)
			// A transport gives each worker one range of many parts.
			for _, mode := range []lab.Mode{lab.Goroutines, lab.Slots, lab.Pipe} {
				for _, read := range []ReadMethod{ReadMmap, ReadPread} {
					before := indexedRuns.Load()
					got, res := resultOf(t, path, col, c.header, mode, read)
					checkColumn(t, fmt.Sprintf("file %d, column %d, %v, %v", i, col, mode, read), got, res, want)
					if indexedRuns.Load() != before {
						t.Errorf("file %d: indexed, though it holds no '\"'", i)
					}
				}
			}
		}
	}
}

// A '"' the head did not show, anywhere a part meets it, sends the run
// to the index, which reads the file right: in a field skipped, in the
// field read, in one past it, in a line Record reads (a missing value),
// in a line over 64 bytes, and in the file's last line, read apart from
// the lines before it.
func TestParseDirectMeetsQuote(t *testing.T) {
	withBlock(t, 4096)
	for _, quoted := range []string{
		"\"2\",7.25,1\n", "2,\"7.25\",1\n", "2,7.25,\"x\"\n", "2,,\"x\"\n",
		"2,7.25,\"" + strings.Repeat("x", 80) + "\"\n", "",
	} {
		text := strings.Repeat("1,2.5,3\n", (headMax+10000)/8) + quoted + strings.Repeat("1,2.5,3\n", 1000)
		if quoted == "" {
			text += "2,7.25,\"x\"\n"
		}
		path := filepath.Join(t.TempDir(), "q.csv")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		want := readRef(strings.ReplaceAll(text, "\"", ""), 1, false)
		for _, mode := range []lab.Mode{lab.Goroutines, lab.Slots} {
			for _, read := range []ReadMethod{ReadMmap, ReadPread} {
				before := indexedRuns.Load()
				got, res := resultOf(t, path, 1, false, mode, read)
				what := fmt.Sprintf("%q, %v, %v", quoted, mode, read)
				checkColumn(t, what, got, res, want)
				if indexedRuns.Load() != before+1 {
					t.Errorf("%s: not indexed after the quote", what)
				}
			}
		}
	}
}

// A worker SIGKILLed after its values took their places leaves places
// that its part's second run takes again: the count of places is then
// not the count of records, and the run indexes the file and parses it
// again, to the same result.
func TestParseDirectWorkerKilled(t *testing.T) {
	withBlock(t, 4096)
	text := quoteFreeCSV(9, 200_000)
	path := filepath.Join(t.TempDir(), "k.csv")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "killed")
	t.Setenv(killAfterPlaceEnv, marker)
	before := indexedRuns.Load()
	got, res := resultOf(t, path, 1, false, lab.Slots, ReadMmap)
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("no worker was killed")
	}
	checkColumn(t, "killed", got, res, readRef(text, 1, false))
	if indexedRuns.Load() != before+1 {
		t.Error("the places a dead worker took were kept")
	}
}
