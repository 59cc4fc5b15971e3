package engine

import (
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

// TestStampOf: a build's stamp names its source only where its build
// info or tag does; elsewhere it names the executable, so that a worker
// binary from a dirty tree or a -buildvcs=false build is never taken for
// the parent's build because their build info matches.
func TestStampOf(t *testing.T) {
	info := func(version, sum string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{GoVersion: "go1.26", Main: debug.Module{Path: "github.com/pishm/pishm", Version: version, Sum: sum}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	clean := info("v0.0.0-20261207-abc", "", "vcs.revision", "abc", "vcs.modified", "false")
	for _, c := range []struct {
		name       string
		bi         *debug.BuildInfo
		tag        string
		fromSource bool
	}{
		{"clean checkout", clean, "", true},
		{"module version", info("v1.2.3", "h1:xyz="), "", true},
		{"uncommitted changes", info("v0.0.0-20261207-abc+dirty", "", "vcs.revision", "abc", "vcs.modified", "true"), "", false},
		{"-buildvcs=false", info("(devel)", ""), "", false},
		{"dirty version with a sum", info("v1.2.3+dirty", "h1:xyz="), "", false},
		{"no build info", nil, "", false},
		{"tagged dirty tree", info("(devel)", "", "vcs.revision", "abc", "vcs.modified", "true"), "t1", true},
		{"tagged -buildvcs=false", info("(devel)", ""), "t1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			asked := 0
			exe := func(id string) func() string { return func() string { asked++; return id } }
			a, b := stampOf(c.bi, c.tag, exe("exe-a")), stampOf(c.bi, c.tag, exe("exe-b"))
			if a.fromSource != c.fromSource || b.fromSource != c.fromSource {
				t.Fatalf("fromSource %v, want %v", a.fromSource, c.fromSource)
			}
			if c.fromSource && (a.stamp != b.stamp || asked != 0) {
				t.Errorf("a build from named source depends on its executable (asked %d times)", asked)
			}
			if !c.fromSource && a.stamp == b.stamp {
				t.Error("two executables of a build whose source is not named share a stamp")
			}
			if c.tag != "" && stampOf(c.bi, c.tag+"x", exe("exe-a")).stamp == a.stamp {
				t.Error("another tag, the same stamp")
			}
		})
	}
	if stampOf(clean, "", nil).stamp == stampOf(info("v0.0.0-20261207-abd", "", "vcs.revision", "abd", "vcs.modified", "false"), "", nil).stamp {
		t.Error("two revisions, one stamp")
	}
}

// TestExeBuildID: the ID read from this test binary is the one the go
// command reports for it.
func TestExeBuildID(t *testing.T) {
	id := exeBuildID()
	if strings.HasPrefix(id, "sum ") || strings.Count(id, "/") < 1 {
		t.Fatalf("no Go build ID found in this executable: %q", id)
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gobin, "tool", "buildid", self).Output()
	if err != nil {
		t.Skipf("go tool buildid: %v", err)
	}
	if want := strings.TrimSpace(string(out)); id != want {
		t.Errorf("read %q, go tool buildid says %q", id, want)
	}
	if goBuildID([]byte("no note here")) != "" {
		t.Error("an ID found in bytes that hold none")
	}
}
