package slack

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestReplayAfterRestart replays a signed /trailhound silence command: once
// at once (ignored), then again after the process restarts on the same
// database, 8 seconds after signing. The request ids are kept in bbolt, so
// the replay is still refused and there is one silence. Before the fix the
// ids lived in memory and the second replay created a duplicate silence.
func TestReplayAfterRestart(t *testing.T) {
	h := newHarness(t)
	h.start()
	body := commandBody(h, "U0ANALYST", "silence aws-root-account-use 2h planned work")
	hdr := sign(testSecret, h.clock.now(), body)
	if status, _ := h.do(PathCommands, hdr, body); status != http.StatusOK {
		t.Fatalf("status=%d", status)
	}
	h.n.Wait()
	silences := func() int {
		t.Helper()
		sls, err := h.store.Silences(h.clock.now())
		if err != nil {
			t.Fatal(err)
		}
		return len(sls)
	}
	if n := silences(); n != 1 {
		t.Fatalf("silences=%d after the command, want 1", n)
	}
	if status, _ := h.do(PathCommands, hdr, body); status != http.StatusOK {
		t.Fatalf("replay: status=%d, want 200 (acknowledged, ignored)", status)
	}
	h.n.Wait()
	h.crash()
	h.start()
	h.clock.advance(8 * time.Second)
	if status, _ := h.do(PathCommands, hdr, body); status != http.StatusOK {
		t.Fatalf("replay after restart: status=%d, want 200 (acknowledged, ignored)", status)
	}
	h.n.Wait()
	if n := silences(); n != 1 {
		t.Fatalf("silences=%d after a replay across a restart, want 1", n)
	}
	// The same command signed anew is a new request.
	fresh := commandBody(h, "U0ANALYST", "silence aws-root-account-use 2h planned work")
	if status, _ := h.signedPost(PathCommands, fresh); status != http.StatusOK {
		t.Fatalf("fresh command: status=%d", status)
	}
	h.n.Wait()
	if n := silences(); n != 2 {
		t.Fatalf("silences=%d after a new command, want 2", n)
	}
}

// TestSilenceDurationOverflow sends /trailhound silence with 2^48+1 days,
// which wrapped around to one day and was accepted before: it is refused
// with the 90-day limit and no silence is made.
func TestSilenceDurationOverflow(t *testing.T) {
	h := newHarness(t)
	h.start()
	status, body := h.signedPost(PathCommands, commandBody(h, "U0ANALYST", "silence aws-root-account-use 281474976710657d"))
	if status != http.StatusOK || !strings.Contains(body, "a silence lasts at most 90 days") {
		t.Fatalf("status=%d body=%s, want the 90-day limit", status, body)
	}
	h.n.Wait()
	if sls, _ := h.store.Silences(h.clock.now()); len(sls) != 0 {
		t.Fatalf("silences=%+v, want none", sls)
	}
}
