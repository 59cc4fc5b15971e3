package transport

import (
	"os"
	"testing"
)

// CheckFileModes checks, for the file kind, that the private dir is 0700
// and every record file 0600; other backends pass.
func CheckFileModes(t *testing.T, b Backend, n int) {
	fb, ok := b.(*fileBackend)
	if !ok {
		return
	}
	st, err := os.Stat(fb.dir.Path)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("dir %s: %v, %v; want mode 0700", fb.dir.Path, st.Mode(), err)
	}
	for i := range n {
		st, err := os.Stat(fb.path(i))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", fb.path(i), st.Mode(), err)
		}
	}
}
