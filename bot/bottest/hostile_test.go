package bottest

import "testing"

// TestMessagesCoverEveryKind checks the fixture itself.
func TestMessagesCoverEveryKind(t *testing.T) {
	got := Messages(t, "slack", "U0ANALYST")
	names := map[string]bool{}
	for _, s := range got {
		names[s.Name] = true
	}
	if len(names) < 20 {
		t.Fatalf("%d kinds: %v", len(names), names)
	}
	for _, s := range got {
		if s.Reply != nil {
			t.Logf("%s: %.160q", s.Name, s.Reply.Text)
		}
	}
}
