package transport

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestKinds(t *testing.T) {
	got := Kinds()
	want := []string{"file", "pipe", "fifo", "unix", "tcp", "socketpair", "posixmq", "sysvmq", "redis"}
	if !slices.Equal(got, want) {
		t.Fatalf("Kinds() = %v, want %v", got, want)
	}
	got[0] = "changed"
	if Kinds()[0] != "file" {
		t.Fatal("Kinds returns the package's slice")
	}
	for _, k := range want {
		if Import(k) == "" {
			t.Errorf("Import(%q) is empty", k)
		}
	}
	if Import("carrier-pigeon") != "" {
		t.Error("Import of an unknown kind")
	}
}

// This package's test binary links neither netsock nor redis: their kinds
// are known but not linked, and the error names the import.
func TestNotLinked(t *testing.T) {
	ctx := context.Background()
	for kind, pkg := range map[string]string{
		"unix":  "github.com/pishm/pishm/transport/netsock",
		"tcp":   "github.com/pishm/pishm/transport/netsock",
		"redis": "github.com/pishm/pishm/transport/redis",
	} {
		_, err := NewCollector(ctx, kind, Options{Workers: 1})
		if !errors.Is(err, ErrNotLinked) || !strings.Contains(err.Error(), `import _ "`+pkg+`"`) {
			t.Errorf("NewCollector(%s) = %v, want ErrNotLinked naming %s", kind, err, pkg)
		}
		err = SendRecord(ctx, ChildEnv{Kind: kind}, nil)
		if !errors.Is(err, ErrNotLinked) {
			t.Errorf("SendRecord(%s) = %v, want ErrNotLinked", kind, err)
		}
	}
}

func TestRegister(t *testing.T) {
	k := Kind{New: newFileBackend, Send: sendFile}
	for name, f := range map[string]func(){
		"twice":   func() { Register("file", k) },
		"empty":   func() { Register("", k) },
		"nil New": func() { Register("test-nil", Kind{Send: sendFile}) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register %s did not panic", name)
				}
			}()
			f()
		}()
	}
	// A kind from outside: here, file under another name.
	Register("test-file", k)
	defer func() {
		regMu.Lock()
		delete(registry, "test-file")
		regMu.Unlock()
	}()
	if ks := Kinds(); ks[len(ks)-1] != "test-file" {
		t.Errorf("Kinds() = %v, want test-file last", ks)
	}
	col, err := NewCollector(context.Background(), "test-file", Options{Workers: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	env, _, err := col.Child(0)
	if err != nil || !slices.Contains(env, EnvKind+"=test-file") {
		t.Fatalf("Child(0) = %v, %v", env, err)
	}
}

func TestChildArgs(t *testing.T) {
	col, err := NewCollector(context.Background(), "file", Options{Workers: 2, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer col.Close()
	for _, i := range []int{-1, 2} {
		if _, _, err := col.Child(i); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Child(%d) = %v, want out of range", i, err)
		}
	}
	if _, _, err := col.Child(0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := col.Child(0); err == nil {
		t.Error("second Child(0) succeeded")
	}
}

func TestNewCollectorArgs(t *testing.T) {
	ctx := context.Background()
	if _, err := NewCollector(ctx, "file", Options{}); err == nil || !strings.Contains(err.Error(), "Workers must be > 0, got 0") {
		t.Errorf("Workers 0: %v", err)
	}
	if _, err := NewCollector(ctx, "carrier-pigeon", Options{Workers: 1}); err == nil || !strings.Contains(err.Error(), `"carrier-pigeon"`) {
		t.Errorf("unknown kind: %v", err)
	}
}

func TestSendErrors(t *testing.T) {
	ctx := context.Background()
	t.Setenv(EnvKind, "")
	if err := Send(ctx, Message{}); !errors.Is(err, ErrNotChild) {
		t.Errorf("Send without env = %v, want ErrNotChild", err)
	}
	path := t.TempDir() + "/rec"
	t.Setenv(EnvKind, "file")
	t.Setenv(EnvWorker, "2")
	t.Setenv(EnvAddr, path)
	if err := Send(ctx, Message{Worker: 1}); err == nil || !strings.Contains(err.Error(), "worker 2") {
		t.Errorf("Send for another worker = %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("refused Send wrote %s", path)
	}
	if err := Send(ctx, Message{Worker: 2}); err != nil {
		t.Fatal(err)
	}
	if err := Send(ctx, Message{Worker: 2}); err == nil {
		t.Error("second Send to the same file succeeded (want O_EXCL failure)")
	}
}

// nopBackend is a Backend with no channel: the test delivers to the Core.
type nopBackend struct{}

func (nopBackend) Child(int) ([]string, []*os.File, error) { return nil, nil, nil }
func (nopBackend) Started(int)                             {}
func (nopBackend) Exited(int)                              {}
func (nopBackend) Retry(int)                               {}
func (nopBackend) Shutdown() error                         { return nil }
func (nopBackend) Remove() error                           { return nil }

// A retried worker's second record is dropped only when it carries the
// same result as the first, its exact Sum included.
func TestRetryDuplicateComparesSum(t *testing.T) {
	var core *Core
	Register("test-nop", Kind{
		New:  func(_ context.Context, c *Core, _ Options) (Backend, error) { core = c; return nopBackend{}, nil },
		Send: func(context.Context, ChildEnv, []byte) error { return nil },
	})
	defer func() {
		regMu.Lock()
		delete(registry, "test-nop")
		regMu.Unlock()
	}()
	m := Message{Worker: 0, Lo: 0, Hi: 10, Partial: 1}
	m.Sum.AddSlice([]float64{0.5, 0.25, 0.25})
	other := m
	other.Sum.Add(0x1p-1074) // rounds to the same Partial, but another exact sum
	for _, c := range []struct {
		name   string
		second Message
		dup    bool
	}{
		{"same", m, false},
		{"same, other timing", func() Message { s := m; s.ElapsedNs = 99; return s }(), false},
		{"other sum", other, true},
	} {
		col, err := NewCollector(context.Background(), "test-nop", Options{Workers: 2, Retries: true})
		if err != nil {
			t.Fatal(err)
		}
		rec := func(m Message) []byte { b, _ := m.AppendBinary(nil); return b }
		core.Deliver(0, rec(m))
		if err := col.Retry(0); err != nil {
			t.Fatal(err)
		}
		core.Deliver(0, rec(c.second))
		core.Deliver(1, rec(Message{Worker: 1, Lo: 10, Hi: 20}))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		msgs, err := col.Collect(ctx)
		cancel()
		if c.dup {
			if !errors.Is(err, ErrDuplicate) {
				t.Errorf("%s: Collect = %v, want ErrDuplicate", c.name, err)
			}
		} else if err != nil || !msgs[0].Sum.Equal(&m.Sum) {
			t.Errorf("%s: Collect = %v, %v", c.name, msgs, err)
		}
		col.Close()
	}
}

// TestCodes: each of the nine kinds has its own protocol code, and only
// they have one; Builtin is exactly the kinds this package registers.
func TestCodes(t *testing.T) {
	seen := map[uint32]string{}
	for _, k := range Kinds()[:9] {
		c := Code(k)
		if c == 0 || seen[c] != "" {
			t.Errorf("Code(%q) = %d (also %q)", k, c, seen[c])
		}
		seen[c] = k
		_, registered := registry[k]
		if Builtin(k) != (Import(k) == thisPackage) || Builtin(k) && !registered {
			t.Errorf("Builtin(%q) = %v", k, Builtin(k))
		}
	}
	if Code("carrier-pigeon") != 0 || Builtin("carrier-pigeon") {
		t.Errorf("an unknown kind has a code or is builtin")
	}
}
