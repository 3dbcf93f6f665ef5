package anomaly

import (
	"fmt"
	"testing"
)

// TestRecentForgetsOldest: an ID is seen again per detector bit while it
// is among the last size IDs, and forgotten, oldest first, after that.
func TestRecentForgetsOldest(t *testing.T) {
	r := newRecent(3)
	for _, id := range []string{"a", "b", "c"} {
		if r.seen(id, 1) {
			t.Fatalf("%s seen before it was marked", id)
		}
	}
	if !r.seen("a", 1) || r.seen("a", 2) || !r.seen("a", 2) {
		t.Fatal("a: want seen for bit 1, new then seen for bit 2")
	}
	if r.seen("d", 1) { // pushes out a, the oldest
		t.Fatal("d seen before it was marked")
	}
	if r.seen("a", 1) {
		t.Fatal("a still remembered after 3 newer IDs")
	}
	if !r.seen("d", 1) || r.seen("", 1) {
		t.Fatal("d forgotten too early, or the empty ID remembered")
	}
	for i := 0; i < 10; i++ {
		r.seen(fmt.Sprint("x", i), 1)
	}
	if len(r.bits) != 3 {
		t.Fatalf("remembers %d IDs, want 3", len(r.bits))
	}
}
