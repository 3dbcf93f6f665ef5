package slack

import (
	"context"
	"errors"
	"testing"

	"github.com/trailhound/trailhound/workflows"
)

// TestFencedNotifySendsNothing: a notification whose context carries a
// failed fence (the replica lost its lease while the dispatcher was
// posting) makes no request to Slack; without the fence it is posted.
func TestFencedNotifySendsNothing(t *testing.T) {
	h := newHarness(t)
	res := h.ingest(finding(t, 0))
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: res.New[0], Key: "k-1"}
	errLost := errors.New("lease lost")
	ctx := workflows.WithFence(context.Background(), func() error { return errLost })
	if _, _, err := h.n.Notify(ctx, note); !errors.Is(err, errLost) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	if n := h.fake.count("chat.postMessage"); n != 0 {
		t.Fatalf("chat.postMessage called %d times by a fenced notification", n)
	}
	if ref, _, err := h.n.Notify(context.Background(), note); err != nil || ref.MessageID == "" {
		t.Fatalf("unfenced: ref=%+v err=%v", ref, err)
	}
	if n := h.fake.count("chat.postMessage"); n != 1 {
		t.Fatalf("chat.postMessage called %d times, want 1", n)
	}
}
