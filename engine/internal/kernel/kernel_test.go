package kernel

import "testing"

func TestGenericSmall(t *testing.T) {
	// 1 + 1/9 + 1/25
	want := 1.0 + 1.0/9 + 1.0/25
	if got := sumGeneric(0, 3); got != want {
		t.Fatalf("sumGeneric(0,3) = %v, want %v", got, want)
	}
	if got := sumGeneric(5, 5); got != 0 {
		t.Fatalf("empty range = %v", got)
	}
}
