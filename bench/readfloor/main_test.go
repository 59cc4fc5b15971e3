package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Both ways of reading add up every word of the file: the checksum is
// the sum of the words, whatever the threads.
func TestChecksum(t *testing.T) {
	var b []byte
	var want uint64
	for i := range uint64(100_003) {
		w := i*0x9e3779b97f4a7c15 + 1
		b = binary.LittleEndian.AppendUint64(b, w)
		want += w
	}
	p := filepath.Join(t.TempDir(), "words")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"-threads", "1"}, {"-threads", "3"}, {"-threads", "2", "-mmap"}} {
		var out bytes.Buffer
		if err := run(&out, append(args, p)); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if got := out.String(); !strings.HasPrefix(got, fmt.Sprintf("checksum %#x ", want)) {
			t.Errorf("%v: %q, want checksum %#x", args, got, want)
		}
	}
	if err := run(&bytes.Buffer{}, []string{filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Error("a missing file gave no error")
	}
}
