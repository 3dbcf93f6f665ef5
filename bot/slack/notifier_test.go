package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

// postedPayload is the payload a fake message was posted or updated with.
func postedPayload(t *testing.T, text string, blocks, attachments json.RawMessage) map[string]any {
	t.Helper()
	out := map[string]any{"text": text}
	for k, raw := range map[string]json.RawMessage{"blocks": blocks, "attachments": attachments} {
		if len(raw) == 0 {
			continue
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		out[k] = v
	}
	return out
}

func TestNotifyNewPostsCard(t *testing.T) {
	h := newHarness(t)
	a, ref := h.posted()
	msgs := h.fake.messages()
	if len(msgs) != 1 {
		t.Fatalf("posted %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if ref.Channel != "C0SECURITY" || ref.MessageID != m.TS {
		t.Errorf("ref=%+v, want channel C0SECURITY ts %s", ref, m.TS)
	}
	if m.Metadata == nil || m.Metadata.EventType != metadataType || m.Metadata.EventPayload["alert_id"] != a.ID || m.Metadata.EventPayload["key"] == "" {
		t.Errorf("metadata=%+v, want event_type %s with key and alert id", m.Metadata, metadataType)
	}
	golden(t, "posted-new", postedPayload(t, m.Text, m.Blocks, m.Attachments))
}

func TestNotifyUpdateRedrawsInPlace(t *testing.T) {
	h := newHarness(t)
	a, ref := h.posted()
	if _, err := h.store.Apply(workflows.Change{AlertID: a.ID, Action: workflows.ActionAcknowledge, Actor: "slack:U0ALICE"}); err != nil {
		t.Fatal(err)
	}
	h.clock.advance(time.Minute)
	h.dispatch()
	if n := len(h.fake.messages()); n != 1 {
		t.Fatalf("%d messages after the update, want the 1 original", n)
	}
	ups := h.fake.updatesOf(ref.MessageID)
	if len(ups) != 1 {
		t.Fatalf("%d updates of the alert's message, want 1", len(ups))
	}
	got := string(ups[0].Attachments)
	if !strings.Contains(got, "acknowledged by <@U0ALICE>") {
		t.Errorf("updated card does not show who acknowledged: %s", got)
	}
	if strings.Contains(got, `"trailhound:ack:`) {
		t.Errorf("acknowledged card still offers Acknowledge")
	}
	golden(t, "posted-acknowledged", postedPayload(t, ups[0].Text, ups[0].Blocks, ups[0].Attachments))
}

func TestNotifyRepeatRepliesInThread(t *testing.T) {
	h := newHarness(t)
	_, ref := h.posted()
	var similar []detectors.Finding
	for i := 1; i <= 12; i++ {
		similar = append(similar, finding(t, i))
	}
	res := h.ingest(similar...)
	if len(res.Grouped) != 1 || res.Grouped[0].Count != 13 {
		t.Fatalf("grouped=%+v, want one alert of count 13", res.Grouped)
	}
	h.dispatch()
	msgs := h.fake.messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want the alert and one thread reply", len(msgs))
	}
	reply := msgs[1]
	if reply.Thread != ref.MessageID || reply.Channel != ref.Channel {
		t.Errorf("reply in %s thread %q, want thread %s of %s", reply.Channel, reply.Thread, ref.MessageID, ref.Channel)
	}
	if !strings.HasPrefix(reply.Text, "12 more like this") {
		t.Errorf("reply=%q, want 12 more like this", reply.Text)
	}
	ups := h.fake.updatesOf(ref.MessageID)
	if len(ups) != 1 || !strings.Contains(string(ups[0].Attachments), `*Similar findings*\n13`) {
		t.Errorf("parent not redrawn with the count: %d updates", len(ups))
	}
	// A second repeat batch is another reply in the same thread.
	h.ingest(finding(t, 13))
	h.dispatch()
	msgs = h.fake.messages()
	if len(msgs) != 3 || msgs[2].Thread != ref.MessageID || !strings.HasPrefix(msgs[2].Text, "13 more like this") {
		t.Errorf("second repeat: %d messages, last %+v", len(msgs), msgs[len(msgs)-1])
	}
}

func TestNotifyRateLimited(t *testing.T) {
	h := newHarness(t)
	h.fake.fail("chat.postMessage", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	_, ref := h.posted()
	if got := h.clock.sleptFor(); !reflect.DeepEqual(got, []time.Duration{7 * time.Second}) {
		t.Errorf("slept %v, want the 7s of Retry-After", got)
	}
	if n := h.fake.count("chat.postMessage"); n != 2 {
		t.Errorf("chat.postMessage called %d times, want 2 (429, then the post)", n)
	}
	if ref.MessageID == "" || len(h.fake.messages()) != 1 {
		t.Errorf("not posted once after the rate limit")
	}
}

func TestNotifyLongRetryAfterDefersToDispatcher(t *testing.T) {
	h := newHarness(t)
	h.fake.fail("chat.postMessage", func(w http.ResponseWriter, r *http.Request) bool {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
		return true
	})
	res := h.ingest(finding(t, 0))
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: res.New[0], Key: "k-1"}
	_, retry, err := h.n.Notify(context.Background(), note)
	var rl *slackapi.RateLimitedError
	if err == nil || !retry || !errors.As(err, &rl) || rl.RetryAfter != 120*time.Second {
		t.Fatalf("err=%v retry=%v, want a retryable rate limit of 120s", err, retry)
	}
	if s := h.clock.sleptFor(); len(s) != 0 {
		t.Errorf("slept %v inside Notify for a Retry-After beyond max_rate_limit_wait", s)
	}
	// While Slack asked to wait, calls do not go out at all.
	h.clock.advance(30 * time.Second)
	if _, retry, err := h.n.Notify(context.Background(), note); err == nil || !retry {
		t.Fatalf("err=%v retry=%v during the rate-limit window, want retryable", err, retry)
	}
	if n := h.fake.count("chat.postMessage"); n != 1 {
		t.Errorf("chat.postMessage called %d times during the window, want 1", n)
	}
	// Once the window has passed the post goes out, once.
	h.clock.advance(91 * time.Second)
	ref, _, err := h.n.Notify(context.Background(), note)
	if err != nil || ref.MessageID == "" {
		t.Fatalf("after the window: ref=%+v err=%v", ref, err)
	}
	if n := len(h.fake.messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

func TestNotifyErrorClassification(t *testing.T) {
	for _, tc := range []struct {
		name      string
		respond   func(w http.ResponseWriter)
		wantRetry bool
	}{
		{"server error", func(w http.ResponseWriter) { w.WriteHeader(http.StatusBadGateway) }, true},
		{"429 without Retry-After", func(w http.ResponseWriter) { w.WriteHeader(http.StatusTooManyRequests) }, true},
		{"ratelimited code", func(w http.ResponseWriter) { writeJSON(w, map[string]any{"ok": false, "error": "ratelimited"}) }, true},
		{"internal_error", func(w http.ResponseWriter) { writeJSON(w, map[string]any{"ok": false, "error": "internal_error"}) }, true},
		{"invalid_auth", func(w http.ResponseWriter) { writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"}) }, false},
		{"channel_not_found", func(w http.ResponseWriter) { writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"}) }, false},
		{"not_in_channel", func(w http.ResponseWriter) { writeJSON(w, map[string]any{"ok": false, "error": "not_in_channel"}) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.fake.fail("chat.postMessage", func(w http.ResponseWriter, r *http.Request) bool { tc.respond(w); return true })
			res := h.ingest(finding(t, 0))
			_, retry, err := h.n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyNew, Alert: res.New[0], Key: "k"})
			if err == nil {
				t.Fatal("no error")
			}
			if retry != tc.wantRetry {
				t.Errorf("retry=%v, want %v (err %v)", retry, tc.wantRetry, err)
			}
			if strings.Contains(err.Error(), "xoxb-test-token") {
				t.Errorf("error %q shows the token", err)
			}
		})
	}
}

// dropAfterPost lets chat.postMessage post, then breaks the connection
// before the answer: the message exists, but the notifier cannot know.
func dropAfterPost(f *fakeSlack) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		f.postMessage(httptest.NewRecorder(), r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return true
	}
}

func TestNoDuplicateAfterCrashDuringPost(t *testing.T) {
	h := newHarness(t)
	h.fake.fail("chat.postMessage", dropAfterPost(h.fake))
	res := h.ingest(finding(t, 0))
	if n := h.dispatch(); n != 0 {
		t.Fatalf("delivered %d, want 0: the answer was lost", n)
	}
	if n := len(h.fake.messages()); n != 1 {
		t.Fatalf("%d messages in Slack, want the 1 whose answer was lost", n)
	}
	// The process dies; a new one starts with nothing in memory.
	h.crash()
	h.clock.advance(time.Hour) // past the outbox backoff
	if n := h.dispatch(); n != 1 {
		t.Fatalf("delivered %d after the restart, want 1", n)
	}
	msgs := h.fake.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages after the restart, want still 1: the post was repeated", len(msgs))
	}
	recovered := h.alert(res.New[0].ID)
	ref, _ := recovered.Message(Name)
	if ref.MessageID != msgs[0].TS {
		t.Errorf("alert ref %q, want the earlier post %q", ref.MessageID, msgs[0].TS)
	}
	if n := h.fake.count("conversations.history"); n != 1 {
		t.Errorf("conversations.history called %d times, want 1", n)
	}
	// Later changes redraw that message.
	if _, err := h.store.Apply(workflows.Change{AlertID: res.New[0].ID, Action: workflows.ActionResolve, Actor: "slack:U0ANALYST"}); err != nil {
		t.Fatal(err)
	}
	h.dispatch()
	if ups := h.fake.updatesOf(msgs[0].TS); len(ups) != 1 {
		t.Errorf("%d updates of the recovered message, want 1", len(ups))
	}
}

// crashAfterNotify delivers, then fails as if the process died before the
// dispatcher recorded the delivery.
type crashAfterNotify struct{ *Notifier }

func (c crashAfterNotify) Notify(ctx context.Context, n workflows.Notification) (workflows.MessageRef, bool, error) {
	if _, _, err := c.Notifier.Notify(ctx, n); err != nil {
		return workflows.MessageRef{}, false, err
	}
	return workflows.MessageRef{}, true, errors.New("process died")
}

func TestNoDuplicateAfterCrashBeforeRecord(t *testing.T) {
	h := newHarness(t)
	res := h.ingest(finding(t, 0))
	h.dispatch(crashAfterNotify{h.n})
	h.crash()
	h.clock.advance(time.Hour)
	h.dispatch()
	msgs := h.fake.messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want 1", len(msgs))
	}
	a := h.alert(res.New[0].ID)
	if ref, _ := a.Message(Name); ref.MessageID != msgs[0].TS {
		t.Errorf("ref=%q, want %q", ref.MessageID, msgs[0].TS)
	}
	if n := h.fake.count("conversations.history"); n != 0 {
		t.Errorf("conversations.history called %d times; the journal knew the post", n)
	}
}

func TestNotifyTargets(t *testing.T) {
	h := newHarness(t)
	a, ref := h.posted()
	ctx := context.Background()

	// An escalation is a new post with mentions in the routed channel,
	// returned so later changes redraw it too.
	got, _, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyEscalate, Alert: a, Key: "esc-1", Channel: "C0ONCALL", Mentions: []string{"S0ONCALL"}})
	if err != nil || got.Channel != "C0ONCALL" || got.MessageID == "" || got.MessageID == ref.MessageID {
		t.Fatalf("escalate: ref=%+v err=%v, want the new post in C0ONCALL", got, err)
	}
	msgs := h.fake.messages()
	if last := msgs[len(msgs)-1]; last.Channel != "C0ONCALL" || !strings.Contains(string(last.Blocks), "<!subteam^S0ONCALL>") {
		t.Errorf("escalation posted to %s with blocks %s", last.Channel, last.Blocks)
	}

	// A reminder to a person goes by direct message.
	if _, _, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyReminder, Alert: a, Key: "rem-1", DirectTo: "slack:U0BOB", Text: "Task T-1 is due tomorrow."}); err != nil {
		t.Fatal(err)
	}
	msgs = h.fake.messages()
	if last := msgs[len(msgs)-1]; last.Channel != "D0BOB" || last.Text != "Task T-1 is due tomorrow." {
		t.Errorf("reminder posted to %s: %q", last.Channel, last.Text)
	}

	// Another platform's person is not ours to message.
	before := len(h.fake.messages())
	if _, _, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyReminder, Alert: a, Key: "rem-2", DirectTo: "discord:81234", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if len(h.fake.messages()) != before || h.fake.count("conversations.open") != 1 {
		t.Errorf("a discord reminder went to slack")
	}

	// A digest with a chart: text to the default channel, file after it.
	chart := []byte("\x89PNG fake chart bytes")
	if _, _, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyDigest, Key: "digest-1", Text: "Weekly digest: 4 alerts.", Attachment: &workflows.Attachment{Name: "alerts.png", ContentType: "image/png", Data: chart}}); err != nil {
		t.Fatal(err)
	}
	msgs = h.fake.messages()
	if last := msgs[len(msgs)-1]; last.Channel != "C0SECURITY" || last.Text != "Weekly digest: 4 alerts." {
		t.Errorf("digest posted to %s: %q", last.Channel, last.Text)
	}
	h.fake.mu.Lock()
	files := append([]fakeFile(nil), h.fake.files...)
	h.fake.mu.Unlock()
	if len(files) != 1 || files[0].Name != "alerts.png" || string(files[0].Data) != string(chart) || files[0].Channel != "C0SECURITY" {
		t.Errorf("files=%+v, want alerts.png shared in C0SECURITY", files)
	}
	// Redelivering the same digest posts nothing new.
	if _, _, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyDigest, Key: "digest-1", Text: "Weekly digest: 4 alerts.", Attachment: &workflows.Attachment{Name: "alerts.png", Data: chart}}); err != nil {
		t.Fatal(err)
	}
	if n := len(h.fake.messages()); n != len(msgs) || h.fake.count("files.getUploadURLExternal") != 1 {
		t.Errorf("redelivered digest posted again")
	}

	// A malformed channel is a permanent error.
	_, retry, err := h.n.Notify(ctx, workflows.Notification{Kind: workflows.NotifyDigest, Key: "digest-2", Text: "x", Channel: "#general"})
	if err == nil || retry {
		t.Errorf("bad channel: err=%v retry=%v, want a permanent error", err, retry)
	}
}

func TestUpdateWithoutRefPostsCard(t *testing.T) {
	h := newHarness(t)
	res := h.ingest(finding(t, 0))
	// The alert was never posted here (muted when it came): an update
	// posts the card and returns its ref.
	ref, _, err := h.n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyUpdate, Alert: res.New[0], Key: "u-1"})
	if err != nil || ref.MessageID == "" || ref.Channel != "C0SECURITY" {
		t.Fatalf("ref=%+v err=%v", ref, err)
	}
}

func TestStaleRedrawSkipped(t *testing.T) {
	h := newHarness(t)
	a, ref := h.posted()
	newer := a
	newer.State, newer.UpdatedAt = workflows.StateAcknowledged, a.UpdatedAt.Add(time.Second)
	ctx := context.Background()
	if err := h.n.redraw(ctx, ref.Channel, ref.MessageID, newer); err != nil {
		t.Fatal(err)
	}
	if err := h.n.redraw(ctx, ref.Channel, ref.MessageID, a); err != nil {
		t.Fatal(err)
	}
	ups := h.fake.updatesOf(ref.MessageID)
	if len(ups) != 1 || !strings.Contains(string(ups[0].Attachments), "acknowledged") {
		t.Errorf("%d updates; an older state must not be drawn over a newer one", len(ups))
	}
}

func TestLookupUserByEmail(t *testing.T) {
	h := newHarness(t)
	id, err := h.n.LookupUserByEmail(context.Background(), "bob@example.com")
	if err != nil || id != "U0BOB" {
		t.Fatalf("id=%q err=%v, want U0BOB", id, err)
	}
	_, err = h.n.LookupUserByEmail(context.Background(), "nobody@example.com")
	if err == nil || retryable(err) {
		t.Fatalf("err=%v, want a permanent not-found error", err)
	}
}
