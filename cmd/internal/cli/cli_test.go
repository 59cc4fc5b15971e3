package cli

import (
	"bytes"
	"context"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pishm/pishm/engine"
	"github.com/pishm/pishm/engine/lab"
)

func TestParseCount(t *testing.T) {
	for in, want := range map[string]uint64{
		"1000000": 1e6, "1e9": 1e9, "1_000_000_000": 1e9, "2.5e8": 2.5e8, "1e15": 1e15, "7": 7,
	} {
		if got, err := ParseCount(in, lab.MaxN); err != nil || got != want {
			t.Errorf("ParseCount(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

// The bars draw from progress snapshots once a run passes a second, and
// close cleanly.
func TestProgressView(t *testing.T) {
	var buf bytes.Buffer
	v := NewProgressView(&buf)
	v.Update(engine.Progress{N: 100, Worker: []uint64{10, 0}, Share: []uint64{50, 50}, Done: 10, Elapsed: progressDelay / 2})
	if v.started || buf.Len() > 0 {
		t.Fatal("bars drawn before the delay")
	}
	v.Update(engine.Progress{N: 100, Worker: []uint64{30, 20}, Share: []uint64{50, 50}, Done: 50, Elapsed: 2 * progressDelay})
	v.Update(engine.Progress{N: 100, Worker: []uint64{50, 50}, Share: []uint64{50, 50}, Done: 100, Elapsed: 3 * progressDelay, Final: true})
	v.Close()
	for _, want := range []string{"worker 0", "worker 1", "total", "100 %", "terms/s"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("bars lack %q:\n%s", want, buf.String())
		}
	}
}

func TestPrintVersion(t *testing.T) {
	s := func(k, v string) debug.BuildSetting { return debug.BuildSetting{Key: k, Value: v} }
	for _, tc := range []struct {
		bi   debug.BuildInfo
		want string
	}{{
		debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/pishm/pishm", Version: "v0.4.0"},
			Settings: []debug.BuildSetting{s("-buildmode", "exe"), s("-tags", "purego,noasm"), s("-race", "true"),
				s("CGO_ENABLED", "1"), s("GOARCH", "amd64"), s("GOOS", "linux"), s("GOAMD64", "v3"),
				s("vcs", "git"), s("vcs.revision", "8c3e0e1f5a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d"),
				s("vcs.time", "2026-03-01T12:00:00Z"), s("vcs.modified", "true")}},
		`pishm     github.com/pishm/pishm v0.4.0
go        go1.26.8 linux/amd64
revision  8c3e0e1f5a7b2d4c6e8f0a1b3c5d7e9f1a2b4c6d 2026-03-01T12:00:00Z (modified)
build     CGO_ENABLED=1 GOAMD64=v3 -tags=purego,noasm -race
`,
	}, {
		debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/pishm/pishm", Version: "(devel)"},
			Settings: []debug.BuildSetting{s("CGO_ENABLED", "0"), s("GOARCH", "arm64"), s("GOOS", "linux"), s("GOARM64", "v8.0")}},
		`pishm     github.com/pishm/pishm (devel)
go        go1.26.8 linux/arm64
revision  unknown (go build in a git checkout stamps it; go run, go test and -buildvcs=false do not)
build     CGO_ENABLED=0 GOARM64=v8.0 -tags=(none)
`,
	}} {
		var b strings.Builder
		printVersion(&b, &tc.bi)
		if b.String() != tc.want {
			t.Errorf("got\n%s\nwant\n%s", b.String(), tc.want)
		}
	}
}

// Off a terminal, progress is a line every progressLineEvery of the run,
// none for a run shorter than that, none at the end.
func TestProgressLines(t *testing.T) {
	var b strings.Builder
	p := newProgressLines(&b)
	for s := time.Duration(0); s <= 12*time.Second; s += 100 * time.Millisecond {
		p.update(engine.Progress{N: 1200, Done: uint64(s / (10 * time.Millisecond)), Elapsed: s})
	}
	p.update(engine.Progress{N: 1200, Done: 1200, Elapsed: 13 * time.Second, Final: true})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "pishm: 42% (500 of 1200 terms) after 5s") || !strings.Contains(lines[1], "after 10s") {
		t.Fatalf("progress lines:\n%s", b.String())
	}
}

// The racy line tells a lost update from the accumulator's rounding.
func TestRacyLine(t *testing.T) {
	if got := racyLine(-6.66e-16, 1.2337, 1000); !strings.Contains(got, "no update lost") {
		t.Errorf("rounding read as a loss: %q", got)
	}
	if got := racyLine(2.5e-8, 1.2337, 1000); !strings.Contains(got, "lost by the unsynchronized") {
		t.Errorf("a loss not reported: %q", got)
	}
}

// Progress says how long is left, at the rate so far.
func TestETA(t *testing.T) {
	for _, c := range []struct {
		done, total uint64
		elapsed     time.Duration
		want        string
	}{
		{0, 100, time.Second, ""},
		{100, 100, time.Second, ""},
		{25, 100, 3 * time.Second, ", about 9s left"},
		{50, 100, 30 * time.Second, ", about 30s left"},
	} {
		if got := ETA(c.done, c.total, c.elapsed); got != c.want {
			t.Errorf("eta(%d, %d, %v) = %q, want %q", c.done, c.total, c.elapsed, got, c.want)
		}
	}
}

// ExitCode names the signal that cancelled the run, as the shells do
// ("SIGTERM", not syscall's "terminated"), and exits 128 + its number.
func TestExitCodeSignal(t *testing.T) {
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		want string
	}{
		{syscall.SIGHUP, 129, "pishm: stopped by SIGHUP\n"},
		{syscall.SIGINT, 130, "pishm: stopped by SIGINT\n"},
		{syscall.SIGTERM, 143, "pishm: stopped by SIGTERM\n"},
	} {
		ctx, stop := context.WithCancelCause(context.Background())
		stop(signalError{tc.sig})
		var stderr bytes.Buffer
		if code := ExitCode(ctx, &stderr, context.Canceled); code != tc.code || stderr.String() != tc.want {
			t.Errorf("%v: exit %d, stderr %q; want %d, %q", tc.sig, code, stderr.String(), tc.code, tc.want)
		}
	}
}
