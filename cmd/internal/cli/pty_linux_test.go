//go:build linux

package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/pishm/pishm/engine"
	"golang.org/x/sys/unix"
)

// openPty opens a pseudo-terminal pair sized cols×rows (0×0: unsized).
func openPty(t *testing.T, cols, rows uint16) (master, slave *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skip("no pseudo-terminals:", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skip("unlockpt:", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skip("ptsname:", err)
	}
	s, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skip("open the pty's slave:", err)
	}
	if err := unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: rows}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// The bars show on a terminal of known size and, at the default width, on
// one that reports 0×0.
func TestProgressTerminal(t *testing.T) {
	for _, size := range [][2]uint16{{120, 40}, {0, 0}} {
		t.Run(fmt.Sprintf("size=%dx%d", size[0], size[1]), func(t *testing.T) {
			master, slave := openPty(t, size[0], size[1])
			if !IsTerminal(slave) {
				t.Skip("the pty is not a terminal")
			}
			var screen bytes.Buffer
			done := make(chan struct{})
			go func() { io.Copy(&screen, master); close(done) }() // until EIO: the slave closed
			v := NewProgressView(slave)
			v.Update(engine.Progress{N: 100, Worker: []uint64{30, 20}, Share: []uint64{50, 50}, Done: 50, Elapsed: 2 * progressDelay})
			v.Update(engine.Progress{N: 100, Worker: []uint64{50, 50}, Share: []uint64{50, 50}, Done: 100, Elapsed: 3 * progressDelay, Final: true})
			v.Close()
			slave.Close()
			<-done
			for _, want := range []string{"worker 0", "worker 1", "total", "100 %", "terms/s"} {
				if !strings.Contains(screen.String(), want) {
					t.Errorf("the terminal shows no %q:\n%q", want, screen.String())
				}
			}
		})
	}
}
