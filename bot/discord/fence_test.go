package discord

import (
	"context"
	"errors"
	"testing"

	"github.com/trailhound/trailhound/workflows"
)

// TestFencedNotifySendsNothing: a notification whose context carries a
// failed fence (the replica lost its lease while the dispatcher was
// posting) makes no request to Discord and journals nothing; without
// the fence it is posted.
func TestFencedNotifySendsNothing(t *testing.T) {
	n, f := newNotifier(t)
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: stratusAlert(t), Key: "TH-7-1"}
	errLost := errors.New("lease lost")
	ctx := workflows.WithFence(context.Background(), func() error { return errLost })
	if _, _, err := n.Notify(ctx, note); !errors.Is(err, errLost) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	if got := len(f.matching("POST", "/channels/"+testChannel+"/messages")); got != 0 {
		t.Fatalf("%d posts by a fenced notification", got)
	}
	if _, _, err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	f.wait(t, 1, "POST", "/channels/"+testChannel+"/messages")
}
