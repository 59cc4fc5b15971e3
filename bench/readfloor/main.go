// Command readfloor is the read anchor of bench/stats.sh: a plain
// multi-threaded read of a file, one goroutine per share, each adding up
// its bytes as 64-bit words so that the read cannot be optimised away.
// Nothing a reduction over the file does can be faster than this; pishm
// stats is compared with it on the same bytes.
//
// Usage:
//
//	readfloor [-threads T] [-mmap] FILE
//
// By default each goroutine reads its share with pread into a 1 MiB buffer
// (a copy out of the page cache); with -mmap it maps the file and reads it
// in place, as pishm's workers do. It prints the checksum and the time.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/edsrzf/mmap-go"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "readfloor:", err)
		os.Exit(2)
	}
}

func run(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("readfloor", flag.ContinueOnError)
	threads := fs.Int("threads", runtime.NumCPU(), "goroutines reading at once")
	useMmap := fs.Bool("mmap", false, "map the file and read it in place instead of pread")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *threads < 1 {
		return errors.New("usage: readfloor [-threads T] [-mmap] FILE")
	}
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size() &^ 7
	start := time.Now()
	var data []byte
	if *useMmap {
		m, err := mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			return err
		}
		defer m.Unmap()
		data = m
	}
	sums := make([]uint64, *threads)
	errs := make([]error, *threads)
	var wg sync.WaitGroup
	for i := range *threads {
		lo, hi := size*int64(i)/int64(*threads)&^7, size*int64(i+1)/int64(*threads)&^7
		wg.Go(func() {
			if data != nil {
				sums[i] = sum(data[lo:hi])
				return
			}
			buf := make([]byte, 1<<20)
			for off := lo; off < hi; {
				n, err := f.ReadAt(buf[:min(int64(len(buf)), hi-off)], off)
				if err != nil && !(errors.Is(err, io.EOF) && n > 0) {
					errs[i] = err
					return
				}
				sums[i] += sum(buf[:n&^7])
				off += int64(n)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total uint64
	for i, s := range sums {
		if errs[i] != nil {
			return errs[i]
		}
		total += s
	}
	fmt.Fprintf(stdout, "checksum %#x  %d bytes  %d threads  %v  %.2f GB/s\n", total, size, *threads,
		elapsed.Round(time.Microsecond), float64(size)/elapsed.Seconds()/1e9)
	return nil
}

// sum adds up b as little-endian 64-bit words, four at a time.
func sum(b []byte) uint64 {
	var s0, s1, s2, s3 uint64
	for len(b) >= 32 {
		s0 += binary.LittleEndian.Uint64(b)
		s1 += binary.LittleEndian.Uint64(b[8:])
		s2 += binary.LittleEndian.Uint64(b[16:])
		s3 += binary.LittleEndian.Uint64(b[24:])
		b = b[32:]
	}
	for len(b) >= 8 {
		s0 += binary.LittleEndian.Uint64(b)
		b = b[8:]
	}
	return s0 + s1 + s2 + s3
}
