package filestats

import (
	"os"

	"golang.org/x/sys/unix"
)

// populate maps the pages of data[off:end] (a mapping of the file) into
// this process at once (MADV_POPULATE_READ, Linux 5.14 on; advice only,
// so an older kernel's refusal is ignored). Touched one by one, they cost
// a page fault each 16 pages (the kernel's fault-around): the 10⁷-row
// CSV's run took 10.5k faults in all, 5.1k with this, in the same time on
// a VM where a fault costs about 1.4 µs; where one costs 10-14 µs, the
// faults saved are some 60 ms of CPU.
func populate(data []byte, off, end int64) {
	off &^= int64(os.Getpagesize() - 1)
	unix.Madvise(data[off:end], unix.MADV_POPULATE_READ)
}
