package runq

import (
	"os/exec"
	"runtime"
	"testing"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		line string
		want int
		ok   bool
	}{
		{"0.55 0.97 0.77 3/111 3361\n", 3, true},
		{"12.00 8.10 4.02 17/2048 99", 17, true},
		{"0.00 0.00 0.00 0/1 1", 0, true},
		{"0.55 0.97 0.77 3111 3361", 0, false},
		{"0.55 0.97 0.77 /111 3361", 0, false},
		{"0.55 0.97 0.77 x/111 3361", 0, false},
		{"0.55 0.97", 0, false},
		{"", 0, false},
	} {
		if got, ok := parse([]byte(c.line)); got != c.want || ok != c.ok {
			t.Errorf("parse(%q) = %d, %v; want %d, %v", c.line, got, ok, c.want, c.ok)
		}
	}
}

func TestParseList(t *testing.T) {
	for s, want := range map[string]int{"0": 1, "0-1": 2, "0-63": 64, "0,2-5": 5, "0-3,8,10-11": 7, "": 0, "3-1": 0, "a": 0, "0-": 0} {
		if got := parseList(s); got != want {
			t.Errorf("parseList(%q) = %d, want %d", s, got, want)
		}
	}
}

// TestRunnableSeesBusyLoops: busy loops started here are counted while
// they run (each is runnable at every moment), beside the reader itself.
func TestRunnableSeesBusyLoops(t *testing.T) {
	r := Open()
	if r == nil {
		t.Skip("no /proc/loadavg")
	}
	defer r.Close()
	const loops = 3
	var cmds []*exec.Cmd
	for range loops {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Skipf("no busy loop: %v", err)
		}
		cmds = append(cmds, cmd)
	}
	defer func() {
		for _, cmd := range cmds {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()
	// The loops are runnable from their start on; the count is read at
	// once. A loop still being exec'd is runnable too.
	best := 0
	for range 100 {
		n, ok := r.Runnable()
		if !ok {
			t.Fatal("the count went unreadable")
		}
		best = max(best, n)
		if best >= loops+1 {
			break
		}
		runtime.Gosched()
	}
	if best < loops+1 {
		t.Errorf("runnable = %d with %d busy loops and the reader; want at least %d", best, loops, loops+1)
	}
	if Online() < 1 {
		t.Errorf("Online() = %d", Online())
	}
}
