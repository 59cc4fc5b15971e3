package queue

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// BuildStamp names this build: module version, VCS revision (with
// "+dirty" for uncommitted changes) and Go version. Jobs and results carry
// it so that a disagreement between two hosts can be traced to their
// builds.
func BuildStamp() string { return buildStamp() }

var buildStamp = sync.OnceValue(func() string {
	v, rev, dirty := "(unknown)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(12, len(s.Value))]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	s := v
	if rev != "" {
		s += " " + rev
		if dirty {
			s += "+dirty"
		}
	}
	return s + " " + runtime.Version()
})
