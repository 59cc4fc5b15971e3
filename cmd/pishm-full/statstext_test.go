package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// textOut is the -json output for a text file, decoded.
type textOut struct {
	Header  bool `json:"header"`
	Records int  `json:"records"`
	Columns []struct {
		Name      string                `json:"name"`
		Missing   uint64                `json:"missing"`
		NotNumber uint64                `json:"not_a_number"`
		FirstBad  *struct{ Line int64 } `json:"first_not_a_number"`
		Stats     json.RawMessage       `json:"stats"`
	} `json:"columns"`
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// statsOf is the -json stats object of a raw float64 file of xs: what a
// text column of the same numbers must give, bit for bit.
func statsOf(t *testing.T, xs []float64) string {
	t.Helper()
	out, stderr, code := pishm(t, "stats", "-json", "-workers", "2", writeF64(t, xs))
	if code != 0 {
		t.Fatalf("raw: exit %d: %s", code, stderr)
	}
	return strings.TrimSpace(out)
}

func textStats(t *testing.T, path string, args ...string) textOut {
	t.Helper()
	out, stderr, code := pishm(t, append(append([]string{"stats", "-json"}, args...), path)...)
	if code != 0 {
		t.Fatalf("%s %v: exit %d: %s", filepath.Base(path), args, code, stderr)
	}
	var r textOut
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return r
}

// A column of a CSV gives the bits a raw file of its numbers gives, for
// any workers and mode, with and without quotes, CRLF, a BOM, empty
// fields and fields that are not numbers (counted, with the first line).
func TestStatsCSVSameBitsAsRaw(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	var b bytes.Buffer
	b.WriteString("\xef\xbb\xbfid,\"price, USD\",note\r\n")
	var price []float64
	for i := range 20_000 {
		x := 1e8 + r.NormFloat64()
		switch {
		case i == 7:
			fmt.Fprintf(&b, "%d,,empty\r\n", i)
		case i == 11:
			fmt.Fprintf(&b, "%d,n/a?,\"bad\nfield\"\r\n", i)
		case i%3 == 0:
			fmt.Fprintf(&b, "%d,\"%.17g\",\"a, \"\"quoted\"\"\nnote\"\r\n", i, x)
			price = append(price, x)
		default:
			fmt.Fprintf(&b, "%d,%.17g,plain\r\n", i, x)
			price = append(price, x)
		}
	}
	path := writeFile(t, "d.csv", b.Bytes())
	want := statsOf(t, price)
	for _, run := range [][]string{{"-workers", "1"}, {"-workers", "3"}, {"-workers", "2", "-mode", "cas"}, {"-workers", "2", "-mode", "goroutines"}, {"-workers", "2", "-mode", "pipe"},
		{"-workers", "3", "-read", "mmap"}, {"-workers", "2", "-read", "pread"}, {"-workers", "2", "-mode", "goroutines", "-read", "mmap"}} {
		got := textStats(t, path, append(run, "-col", "price, USD")...)
		if len(got.Columns) != 1 || !got.Header || got.Records != 20_000 {
			t.Fatalf("%v: %+v", run, got)
		}
		c := got.Columns[0]
		if string(c.Stats) != want {
			t.Errorf("%v: stats\n%s\nraw file of the column:\n%s", run, c.Stats, want)
		}
		// Line 1 is the header; record i starts on line 2 + i + the
		// quoted newlines before it (one in each record i%3 == 0, i < 11: 4).
		if c.Missing != 1 || c.NotNumber != 1 || c.FirstBad == nil || c.FirstBad.Line != 2+11+4 {
			t.Errorf("%v: missing %d, not a number %d (first %+v), want 1, 1 on line %d", run, c.Missing, c.NotNumber, c.FirstBad, 2+11+4)
		}
	}
	// -strict refuses the file, naming the line.
	_, stderr, code := pishm(t, "stats", "-strict", "-col", "2", path)
	if code != 2 || !strings.Contains(stderr, "line 17") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("-strict: exit %d, %q", code, stderr)
	}
}

// Every input of the corpus gives the right statistics or a one-line
// refusal with exit 2: never a number it did not read as meant.
func TestStatsCorpus(t *testing.T) {
	one := []float64{1.5, -2.25, 1e300, 4}
	var csvText bytes.Buffer
	for _, x := range one {
		fmt.Fprintf(&csvText, "%v\n", x)
	}
	want := statsOf(t, one)
	gz := func(b []byte) []byte {
		var o bytes.Buffer
		w := gzip.NewWriter(&o)
		w.Write(b)
		w.Close()
		return o.Bytes()
	}
	zst := func(b []byte) []byte {
		w, _ := zstd.NewWriter(nil)
		return w.EncodeAll(b, nil)
	}
	npz := func() []byte {
		var o bytes.Buffer
		z := zip.NewWriter(&o)
		for _, n := range []string{"price.npy", "temp.npy"} {
			w, _ := z.Create(n)
			w.Write([]byte("\x93NUMPY\x01\x00"))
		}
		z.Close()
		return o.Bytes()
	}()
	printable := bytes.Repeat([]byte("abcdefgh"), 20_000) // raw f64 whose bytes are all printable letters
	random := make([]byte, 8*1000+3)
	rr := rand.New(rand.NewPCG(1, 1))
	for i := range random {
		random[i] = byte(rr.Uint32())
	}
	for _, c := range []struct {
		name string
		data []byte
		args []string
		ok   bool   // the statistics of `one`
		msg  string // in the refusal
	}{
		{"one.csv", csvText.Bytes(), nil, true, ""},
		{"hdr.csv", append([]byte("x\n"), csvText.Bytes()...), nil, true, ""},
		{"one.tsv", []byte("a\tx\n1\t1.5\n2\t-2.25\n3\t1e300\n4\t4\n"), []string{"-col", "x"}, true, ""},
		{"crlf.csv", bytes.ReplaceAll(csvText.Bytes(), []byte("\n"), []byte("\r\n")), nil, true, ""},
		{"bom.csv", append([]byte("\xef\xbb\xbf"), csvText.Bytes()...), nil, true, ""},
		{"x.csv.gz", gz(csvText.Bytes()), nil, true, ""},
		{"x.csv.zst", zst(csvText.Bytes()), nil, true, ""},
		{"x.f64.gz", gz(rawBytes(one)), nil, true, ""},
		{"x.npz", npz, nil, false, "NumPy .npz archive of 2 arrays (price, temp)"},
		{"x.png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 64)...), nil, false, "PNG image"},
		{"x.json", []byte(`{"a": [1, 2, 3]}` + "\n"), nil, false, "JSON"},
		{"random", random, nil, false, "not a whole number"},
		{"empty", nil, nil, false, "empty"},
		{"printable.f64", printable, nil, false, "no line break"},
		{"one.csv as raw", csvText.Bytes()[:16], []string{"-col", "1", "-type", "f64"}, false, "apply to text"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := writeFile(t, strings.Fields(c.name)[0], c.data)
			out, stderr, code := pishm(t, append(append([]string{"stats", "-json"}, c.args...), path)...)
			if !c.ok {
				if code != 2 || !strings.Contains(stderr, c.msg) || strings.Count(stderr, "\n") != 1 || out != "" {
					t.Fatalf("exit %d, stdout %q, stderr %q: want exit 2 and one line with %q", code, out, stderr, c.msg)
				}
				return
			}
			if code != 0 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var tr textOut
			json.Unmarshal([]byte(out), &tr)
			got := strings.TrimSpace(out)
			if len(tr.Columns) > 0 {
				got = string(tr.Columns[len(tr.Columns)-1].Stats)
			}
			if got != want {
				t.Errorf("got\n%s\nwant\n%s", got, want)
			}
		})
	}
	// Said to be raw, the printable file is read as raw.
	out, stderr, code := pishm(t, "stats", "-json", "-type", "f64", writeFile(t, "p.f64", printable))
	if code != 0 || !strings.Contains(out, `"count":20000`) {
		t.Errorf("-type f64 on printable bytes: exit %d %s %s", code, out, stderr)
	}
}

func rawBytes(xs []float64) []byte {
	var b []byte
	for _, x := range xs {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(x))
	}
	return b
}

// stdin, /dev/stdin (a file or a pipe) and a FIFO are read once, by the
// parent; the workers never open the stream.
func TestStatsStdinAndFIFO(t *testing.T) {
	xs := []float64{3, 1.25, -7, 2e-300}
	want := statsOf(t, xs)
	raw := rawBytes(xs)
	file := writeFile(t, "x.f64", raw)
	run := func(stdin any, args ...string) (string, string, int) {
		cmd := exec.Command(os.Args[0], append([]string{"stats", "-json", "-workers", "2"}, args...)...)
		cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
		switch s := stdin.(type) {
		case []byte:
			cmd.Stdin = bytes.NewReader(s) // a pipe
		case *os.File:
			cmd.Stdin = s
		}
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(o.String()), e.String(), code
	}
	f, _ := os.Open(file)
	defer f.Close()
	for name, c := range map[string]struct {
		stdin any
		arg   string
	}{"- pipe": {raw, "-"}, "/dev/stdin pipe": {raw, "/dev/stdin"}, "- file": {f, "-"}, "/dev/stdin file": {f, "/dev/stdin"}} {
		if f, ok := c.stdin.(*os.File); ok {
			f.Seek(0, 0)
		}
		out, stderr, code := run(c.stdin, c.arg)
		if code != 0 || out != want {
			t.Errorf("%s: exit %d %s\n%s\nwant %s", name, code, stderr, out, want)
		}
	}
	// A FIFO whose writer comes later, then one that never gets a writer.
	fifo := filepath.Join(t.TempDir(), "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until the reader opens
		if err == nil {
			w.Write(raw)
			w.Close()
		}
	}()
	if out, stderr, code := run(nil, fifo); code != 0 || out != want {
		t.Errorf("FIFO: exit %d %s\n%s\nwant %s", code, stderr, out, want)
	}
	out, stderr, code := run(nil, "-writer-wait", "300ms", fifo)
	if code != 2 || !strings.Contains(stderr, "no writer") || out != "" {
		t.Errorf("FIFO with no writer: exit %d, %q", code, stderr)
	}
}

// SIGTERM stops pishm stats waiting for a FIFO's writer.
func TestStatsFIFOSignal(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "f")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "stats", "-writer-wait", "1h", fifo)
	cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
	var e bytes.Buffer
	cmd.Stderr = &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until it has the FIFO open, then signal.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/3", cmd.Process.Pid)); l != "" && hasFD(cmd.Process.Pid, fifo) {
			break
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 143 {
			t.Errorf("exit %v, want 143; stderr %q", err, e.String())
		}
	case <-time.After(time.Minute): // only bounds a broken run
		cmd.Process.Kill()
		t.Fatal("SIGTERM did not stop pishm stats on a FIFO")
	}
}

func hasFD(pid int, path string) bool {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, e := range ents {
		if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, e.Name())); l == path {
			return true
		}
	}
	return false
}

// Output that cannot be written fails the command (exit 1) for every
// command; it exited 0 with nothing written before.
func TestOutputErrorFails(t *testing.T) {
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skip("no /dev/full")
	}
	defer full.Close()
	csv := writeFile(t, "x.csv", []byte("1\n2\n"))
	for _, args := range [][]string{{"-n", "1e5", "-workers", "2"}, {"stats", csv}, {"info"}, {"version"}} {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
		cmd.Stdout = full
		var e bytes.Buffer
		cmd.Stderr = &e
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(e.String(), "writing the output") {
			t.Errorf("%v > /dev/full: %v, %q; want exit 1", args, err, e.String())
		}
	}
}

// Out of descriptors, a run fails with one line naming the limit; it
// printed a Go panic before (the engine's /dev/null was a panicking Once).
func TestOutOfDescriptors(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", `ulimit -n 12 && exec "$0" -n 1e6 -workers 16 -mode pipe`, os.Args[0])
	cmd.Env = append(os.Environ(), "PISHM_TEST_MAIN=1")
	var e bytes.Buffer
	cmd.Stderr = &e
	err := cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 1 || strings.Contains(e.String(), "panic") || strings.Count(e.String(), "\n") != 1 || !strings.Contains(e.String(), "RLIMIT_NOFILE 12") {
		t.Errorf("exit %v, stderr %q: want exit 1 and one line naming RLIMIT_NOFILE 12", err, e.String())
	}
}

// Text whose columns hold no number is refused (exit 2, one line naming
// the first field), never summarised as zeros; a column without numbers
// beside one with them has no stats object in -json.
func TestStatsTextWithoutNumbers(t *testing.T) {
	for name, text := range map[string]string{"header only": "a,b\n", "names": "name\nbob\nalice\n", "BOM only": "\xef\xbb\xbf"} {
		out, stderr, code := pishm(t, "stats", "-json", writeFile(t, "x.csv", []byte(text)))
		if code != 2 || out != "" || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "no numbers") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q: want a one-line refusal", name, code, out, stderr)
		}
	}
	out, stderr, code := pishm(t, "stats", "-json", writeFile(t, "y.csv", []byte("name,x\nbob,1\nal,2\n")))
	var r textOut
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || len(r.Columns) != 2 || r.Columns[0].Stats != nil || r.Columns[1].Stats == nil {
		t.Errorf("exit %d %s\n%s", code, stderr, out)
	}
}
