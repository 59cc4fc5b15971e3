package proc

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	pid, start, ok := ParseName("pishm-12-345-ab", "pishm-")
	if !ok || pid != 12 || start != 345 {
		t.Fatalf("got %d %d %v", pid, start, ok)
	}
	for _, bad := range []string{"pishm-12-ab", "pishm-x-1-a", "pishm-12-0-a", "other-1-2-a", "pishm-1-2-", "pishm-1-2-a-b"} {
		if _, _, ok := ParseName(bad, "pishm-"); ok {
			t.Errorf("%q parsed", bad)
		}
	}
	if tag := Self(); !strings.HasPrefix(tag, strconv.Itoa(os.Getpid())+"-") {
		t.Errorf("Self() = %q", tag)
	}
	if p, s, ok := ParseName("x-"+Self()+"-r", "x-"); !ok || !Alive(p, s) {
		t.Errorf("our own tag does not parse as alive: %d %d %v", p, s, ok)
	}
	if b, ok := BootTime(); !ok || b <= 0 {
		t.Errorf("BootTime = %d, %v", b, ok)
	}
}
