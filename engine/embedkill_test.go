package engine

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func init() {
	// embed-sleep sleeps in every piece when its params say "sleep": a
	// call that lasts until its program is killed.
	Register("embed-sleep", func(p []byte, lo, hi uint64) float64 {
		if string(p) == "sleep" {
			time.Sleep(time.Hour)
		}
		return float64(hi - lo)
	}, []Op{Sum})
}

// embedMain is the test binary as a program that embeds the engine: one
// one-shot call in mode, sleeping or not (PISHM_TEST_EMBED=mode:sleep).
func embedMain(spec string) int {
	if spec == "nofile" {
		return nofileMain()
	}
	mode, sleep, _ := strings.Cut(spec, ":")
	r, err := Reduce(context.Background(), "embed-sleep", 1<<21, WithMode(strategy(mode)), WithWorkers(2), WithParams([]byte(sleep)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(r.Value)
	return 0
}

// childPids is the pids of pid's children, on all its threads.
func childPids(pid int) []int {
	var kids []int
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, f := range strings.Fields(string(b)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// leftBy lists the transport names that pid made and left: temp dirs and
// manifests in os.TempDir(), POSIX queues in /dev/mqueue.
func leftBy(pid int) []string {
	var left []string
	for _, pat := range []string{
		filepath.Join(os.TempDir(), fmt.Sprintf("pishm-transport-%d-*", pid)),
		filepath.Join(os.TempDir(), fmt.Sprintf("pishm-res-%d-*", pid)),
		fmt.Sprintf("/dev/mqueue/pishm-%d-*", pid),
	} {
		m, _ := filepath.Glob(pat)
		left = append(left, m...)
	}
	return left
}

// A program killed by SIGTERM (Go's default: it dies at once) during a
// one-shot call leaves its transport's names; the next transport run of
// any program removes them. Before, only `pishm gc` did, and the names
// of 25 killed runs of 25 stayed.
func TestKilledEmbedderLeavesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 55 programs")
	}
	run := func(spec string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "PISHM_TEST_EMBED="+spec)
		return cmd
	}
	for _, mode := range []strategy{FIFO, Unix, File, PosixMQ, SysVMQ} {
		t.Run(string(mode), func(t *testing.T) {
			var killed []int
			left := 0
			for range 10 {
				cmd := run(string(mode) + ":sleep")
				var stderr strings.Builder
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				// Kill it mid-call: once both workers are up. The limit only
				// bounds a broken run.
				for deadline := time.Now().Add(time.Minute); len(childPids(cmd.Process.Pid)) < 2 && time.Now().Before(deadline); {
					time.Sleep(2 * time.Millisecond)
				}
				cmd.Process.Signal(syscall.SIGTERM)
				cmd.Wait()
				if strings.Contains(stderr.String(), "not supported") {
					t.Skipf("%s: %s", mode, stderr.String())
				}
				killed = append(killed, cmd.Process.Pid)
				left += len(leftBy(cmd.Process.Pid))
			}
			if left == 0 {
				t.Fatalf("the killed runs left nothing to reclaim: the test proves nothing")
			}
			out, err := run(string(mode) + ":").CombinedOutput()
			if err != nil {
				t.Fatalf("the next run: %v: %s", err, out)
			}
			for _, pid := range killed {
				if l := leftBy(pid); len(l) > 0 {
					t.Errorf("left by killed pid %d after the next run: %v", pid, l)
				}
			}
		})
	}
}

// nofileMain runs the entry points with too few descriptors for their
// workers, then again with the limit restored: each must fail with an
// error naming the limit (no panic), and work once the descriptors are
// back (no failure cached). It prints what went wrong and returns 1, or
// returns 0.
func nofileMain() int {
	ctx := context.Background()
	var saved syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &saved); err != nil {
		fmt.Println(err)
		return 1
	}
	entries := []struct {
		name string
		run  func() error
	}{
		{"Reduce pipe", func() error {
			_, err := Reduce(ctx, "embed-sleep", 1<<21, WithMode(Pipe), WithWorkers(16))
			return err
		}},
		{"Reduce slots", func() error {
			_, err := Reduce(ctx, "embed-sleep", 1<<21, WithWorkers(16))
			return err
		}},
		{"Run", func() error {
			_, err := Run(ctx, "embed-sleep", Config{N: 1 << 21, Workers: 16})
			return err
		}},
		{"NewPool", func() error {
			p, err := NewPool(ctx, WithWorkers(16))
			if err == nil {
				_, err = p.Reduce(ctx, "embed-sleep", 1<<21)
				p.Close()
			}
			return err
		}},
	}
	bad := 0
	for _, e := range entries {
		low := saved
		low.Cur = 16
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
			fmt.Println(err)
			return 1
		}
		err := e.run()
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &saved)
		if err == nil || !strings.Contains(err.Error(), "RLIMIT_NOFILE 16") {
			fmt.Printf("%s with 16 descriptors: %v, want an error naming RLIMIT_NOFILE 16\n", e.name, err)
			bad++
		}
		if err := e.run(); err != nil {
			fmt.Printf("%s with the descriptors back: %v\n", e.name, err)
			bad++
		}
	}
	if bad > 0 {
		return 1
	}
	return 0
}

// Out of descriptors, every entry point fails with an error naming the
// limit, and works again once they are back; before, the engine panicked
// and cached the panic for the life of the process.
func TestOutOfDescriptorsEveryEntry(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "PISHM_TEST_EMBED=nofile")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("%v:\n%s", err, out)
	}
}
