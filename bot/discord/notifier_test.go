package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/workflows"
)

// newNotifier is a notifier aimed at a fresh fake, not started.
func newNotifier(t *testing.T) (*Notifier, *fakeDiscord) {
	t.Helper()
	f := newFakeDiscord(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	n, err := New(testConfig(f, pub), testdb.Open(t), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return now }
	return n, f
}

func TestNotifyNewPostsCardWithNonce(t *testing.T) {
	n, f := newNotifier(t)
	a := stratusAlert(t)
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: a, Key: "TH-7-1"}
	ref, retry, err := n.Notify(context.Background(), note)
	if err != nil || retry {
		t.Fatalf("notify: retry=%v err=%v", retry, err)
	}
	post := f.wait(t, 1, "POST", "/channels/"+testChannel+"/messages")
	if got := post.Header.Get("Authorization"); got != "Bot "+testToken {
		t.Fatalf("authorization header=%q", got)
	}
	body := post.JSON(t)
	if body["nonce"] != nonceFor("TH-7-1") || body["enforce_nonce"] != true {
		t.Fatalf("nonce=%v enforce_nonce=%v, want %q and true", body["nonce"], body["enforce_nonce"], nonceFor("TH-7-1"))
	}
	if len(nonceFor("TH-7-1")) > 25 || nonceFor("TH-7-1") != nonceFor("TH-7-1") || nonceFor("TH-7-1") == nonceFor("TH-7-2") {
		t.Fatalf("nonce must be stable, distinct per key and at most 25 characters")
	}
	// The body is the rendered card plus the nonce fields.
	var want map[string]any
	b, _ := json.Marshal(testRenderer.messageSend(bot.MessageFor(note)))
	_ = json.Unmarshal(b, &want)
	delete(body, "nonce")
	delete(body, "enforce_nonce")
	if got, _ := json.Marshal(body); string(got) != string(mustJSON(t, want)) {
		t.Fatalf("posted body differs from the rendered card:\n got %s\nwant %s", got, mustJSON(t, want))
	}
	if ref.Notifier != Name || ref.Channel != testChannel || ref.MessageID == "" {
		t.Fatalf("ref=%+v", ref)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRepostAfterCrashIsDeduplicated: the post succeeded but the process
// died before the message reference was stored; the outbox posts again
// with the same key, Discord matches the nonce and returns the first
// message. (Without a journal, so the nonce alone is at work.)
func TestRepostAfterCrashIsDeduplicated(t *testing.T) {
	n, f := newNotifier(t)
	n.posts = nil
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: stratusAlert(t), Key: "TH-7-1"}
	first, _, err := n.Notify(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := n.Notify(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	posts := f.matching("POST", "/channels/"+testChannel+"/messages")
	if len(posts) != 2 || posts[0].JSON(t)["nonce"] != posts[1].JSON(t)["nonce"] {
		t.Fatalf("posts=%d with nonces %v, want two with the same nonce", len(posts), []any{posts[0].JSON(t)["nonce"]})
	}
	if again != first {
		t.Fatalf("second post returned %+v, want the first message %+v", again, first)
	}
}

func TestUpdateEditsInPlace(t *testing.T) {
	h := newHarness(t)
	ref, _ := h.alert.Message(Name)
	r := h.svc.Do(context.Background(), bot.Identity{Platform: Name, UserID: responderUser}, bot.Responder, bot.OpAcknowledge, h.alert.ID, bot.OpOptions{})
	if r.Alert == nil {
		t.Fatalf("ack: %+v", r)
	}
	d := &workflows.Dispatcher{Store: h.st, Notifiers: []workflows.Notifier{h.n}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	edit := h.f.wait(t, 1, "PATCH", "/channels/"+ref.Channel+"/messages/"+ref.MessageID)
	got := edit.JSON(t)
	if _, hasContent := got["content"]; hasContent {
		t.Fatalf("the edit replaces the content above the card: %s", edit.Body)
	}
	if !strings.Contains(string(edit.Body), `"value":"acknowledged by \u003c@`+responderUser+`\u003e"`) {
		t.Fatalf("edit does not show the new state and who: %s", edit.Body)
	}
	if strings.Contains(string(edit.Body), "trailhound:ack:") {
		t.Fatalf("an acknowledged alert still offers Acknowledge: %s", edit.Body)
	}
	if n := len(h.f.matching("POST", "/channels/"+testChannel+"/messages")); n != 1 {
		t.Fatalf("posts=%d, want only the first one", n)
	}
}

func TestStaleRedrawIsSkipped(t *testing.T) {
	n, f := newNotifier(t)
	a := stratusAlert(t)
	ref := workflows.MessageRef{Notifier: Name, Channel: testChannel, MessageID: "1600000000000000042"}
	newer := a
	newer.State, newer.UpdatedAt, newer.LastActor = workflows.StateResolved, now.Add(time.Minute), "discord:"+analystUser
	if _, _, err := n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyUpdate, Alert: newer, Ref: ref}); err != nil {
		t.Fatal(err)
	}
	// An update queued earlier arrives late: it must not bring back the
	// older state.
	if _, _, err := n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyUpdate, Alert: a, Ref: ref}); err != nil {
		t.Fatal(err)
	}
	if edits := f.matching("PATCH", "/channels/"+testChannel+"/messages/"+ref.MessageID); len(edits) != 1 {
		t.Fatalf("edits=%d, want 1 (the stale one skipped)", len(edits))
	}
}

func TestRepeatsGoToThread(t *testing.T) {
	h := newHarness(t)
	ref, _ := h.alert.Message(Name)
	repeat := func(key string, count int) {
		a := h.alert
		a.Count = count
		if _, _, err := h.n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyRepeat, Alert: a, Ref: ref, Key: key}); err != nil {
			t.Fatal(err)
		}
	}
	repeat("TH-1-5", 13)
	// The first repeat finds no thread, starts one on the alert's message
	// and posts in it: the thread has the message's id.
	start := h.f.wait(t, 1, "POST", "/channels/"+ref.Channel+"/messages/"+ref.MessageID+"/threads")
	if name := start.JSON(t)["name"]; name != h.alert.ID+": similar findings" {
		t.Fatalf("thread name=%v", name)
	}
	post := h.f.wait(t, 2, "POST", "/channels/"+ref.MessageID+"/messages")
	if c := post.JSON(t)["content"].(string); !strings.HasPrefix(c, "12 more like this") {
		t.Fatalf("thread post=%q", c)
	}
	repeat("TH-1-6", 14)
	h.f.wait(t, 3, "POST", "/channels/"+ref.MessageID+"/messages")
	if n := len(h.f.matching("POST", "/channels/"+ref.Channel+"/messages/"+ref.MessageID+"/threads")); n != 1 {
		t.Fatalf("threads started=%d, want 1", n)
	}
	if n := len(h.f.matching("POST", "/channels/"+testChannel+"/messages")); n != 1 {
		t.Fatalf("channel posts=%d: repeats must not be new messages", n)
	}
}

func TestRepeatWithoutThreadsRepliesToCard(t *testing.T) {
	n, f := newNotifier(t)
	ref := workflows.MessageRef{Notifier: Name, Channel: testChannel, MessageID: "1600000000000000077"}
	f.on("POST /channels/"+testChannel+"/messages/"+ref.MessageID+"/threads", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"message":"Cannot execute action on this channel type","code":50024}`))
	})
	a := stratusAlert(t)
	a.Count = 3
	if _, _, err := n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyRepeat, Alert: a, Ref: ref, Key: "k"}); err != nil {
		t.Fatal(err)
	}
	reply := f.wait(t, 1, "POST", "/channels/"+testChannel+"/messages").JSON(t)
	mr, _ := reply["message_reference"].(map[string]any)
	if mr["message_id"] != ref.MessageID || !strings.HasPrefix(reply["content"].(string), "2 more like this") {
		t.Fatalf("reply=%v", reply)
	}
}

func TestNotifyErrorsAreClassified(t *testing.T) {
	tests := []struct {
		status int
		body   string
		header map[string]string
		retry  bool
		msg    string
	}{
		{429, `{"message":"You are being rate limited.","retry_after":0.05,"global":false}`, map[string]string{"Retry-After": "1"}, true, "Rate limit exceeded"},
		{500, `{"message":"Internal Server Error","code":0}`, nil, true, "HTTP 500"},
		{503, `{"message":"upstream connect error"}`, nil, true, "HTTP 503"},
		{401, `{"message":"401: Unauthorized","code":0}`, nil, false, "HTTP 401"},
		{403, `{"message":"Missing Access","code":50001}`, nil, false, "Missing Access"},
		{404, `{"message":"Unknown Channel","code":10003}`, nil, false, "Unknown Channel"},
		{400, `{"message":"Invalid Form Body","code":50035}`, nil, false, "Invalid Form Body"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			n, f := newNotifier(t)
			f.on("POST /channels/"+testChannel+"/messages", func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			})
			_, retry, err := n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyNew, Alert: stratusAlert(t), Key: "k"})
			if err == nil {
				t.Fatal("no error")
			}
			if retry != tc.retry {
				t.Fatalf("retry=%v, want %v (err %v)", retry, tc.retry, err)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.HasPrefix(err.Error(), "discord: post to channel "+testChannel+": ") {
				t.Fatalf("err=%q, want it to say %q", err, tc.msg)
			}
			if strings.Contains(err.Error(), testToken) {
				t.Fatalf("error shows the token: %v", err)
			}
		})
	}
}

func TestDirectMessage(t *testing.T) {
	n, f := newNotifier(t)
	note := workflows.Notification{Kind: workflows.NotifyReminder, Alert: stratusAlert(t), DirectTo: "discord:" + assigneeUser, Key: "r-1",
		Text: "Reminder: task `T-1` is due tomorrow."}
	ref, retry, err := n.Notify(context.Background(), note)
	if err != nil || retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	open := f.wait(t, 1, "POST", "/users/@me/channels").JSON(t)
	if open["recipient_id"] != assigneeUser {
		t.Fatalf("opened a DM with %v", open["recipient_id"])
	}
	dm := "17" + assigneeUser[2:]
	post := f.wait(t, 1, "POST", "/channels/"+dm+"/messages").JSON(t)
	if post["content"] != note.Text || post["nonce"] != nonceFor("r-1") {
		t.Fatalf("dm=%v", post)
	}
	if ref.MessageID != "" {
		t.Fatalf("a reminder must not become the alert's message: %+v", ref)
	}
	// A direct message for a Slack user is not Discord's to send.
	note.DirectTo = "slack:U024BE7LH"
	if _, _, err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	if got := len(f.requests()); got != 2 {
		t.Fatalf("requests=%d after a Slack DM, want none more", got)
	}
}

func TestAttachmentIsMultipartWithNonce(t *testing.T) {
	n, f := newNotifier(t)
	note := workflows.Notification{Kind: workflows.NotifyDigest, Key: "digest-1", Text: "Weekly digest", Channel: "discord:1100000000000000002",
		Attachment: &workflows.Attachment{Name: "alerts.png", ContentType: "image/png", Data: []byte("\x89PNG\r\n")}}
	f.channels["1100000000000000002"] = true
	if _, _, err := n.Notify(context.Background(), note); err != nil {
		t.Fatal(err)
	}
	post := f.wait(t, 1, "POST", "/channels/1100000000000000002/messages")
	if ct := post.Header.Get("Content-Type"); !strings.HasPrefix(ct, "multipart/form-data") {
		t.Fatalf("content type=%q", ct)
	}
	body := string(post.Body)
	if !strings.Contains(body, `filename="alerts.png"`) || !strings.Contains(body, "\x89PNG\r\n") {
		t.Fatalf("file missing from %q", body)
	}
	var payload map[string]any
	if err := json.Unmarshal(multipartJSON(post.Header.Get("Content-Type"), post.Body), &payload); err != nil {
		t.Fatal(err)
	}
	if payload["nonce"] != nonceFor("digest-1") || payload["enforce_nonce"] != true || payload["content"] != "Weekly digest" {
		t.Fatalf("payload_json=%v", payload)
	}
}

func TestUpdateWithoutMessagePostsCard(t *testing.T) {
	n, f := newNotifier(t)
	a := stratusAlert(t)
	a.State = workflows.StateAcknowledged
	ref, _, err := n.Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyUpdate, Alert: a, Key: "TH-7-3"})
	if err != nil {
		t.Fatal(err)
	}
	if ref.MessageID == "" {
		t.Fatalf("no message recorded for an alert that had none")
	}
	if !strings.Contains(string(f.wait(t, 1, "POST", "/channels/"+testChannel+"/messages").Body), `"title":"[MEDIUM] Console sign-in without MFA"`) {
		t.Fatalf("posted no card")
	}
}

// TestRepostLongAfterCrashFindsTheCard: the post succeeded, the process
// died before the reference was stored, and came back after Discord had
// forgotten the nonce. The journal says a post may exist; the card is
// found in the channel's history instead of being posted twice.
func TestRepostLongAfterCrashFindsTheCard(t *testing.T) {
	n, f := newNotifier(t)
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: stratusAlert(t), Key: "TH-7-1"}
	first, _, err := n.Notify(context.Background(), note)
	if err != nil {
		t.Fatal(err)
	}
	f.forgetNonces()
	again, retry, err := n.Notify(context.Background(), note)
	if err != nil || retry {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	if again != first {
		t.Fatalf("second attempt gave %+v, want the first card %+v", again, first)
	}
	if posts := f.matching("POST", "/channels/"+testChannel+"/messages"); len(posts) != 1 {
		t.Fatalf("posts=%d, want 1", len(posts))
	}
	if got := f.matching("GET", "/channels/"+testChannel+"/messages"); len(got) != 1 {
		t.Fatalf("history reads=%d, want 1", len(got))
	}
}

// TestRepostWhenFirstAttemptNeverArrived: the journal has the attempt but
// the channel does not have the card (the request never reached
// Discord): it is posted.
func TestRepostWhenFirstAttemptNeverArrived(t *testing.T) {
	n, f := newNotifier(t)
	fail := true
	f.on("POST /channels/"+testChannel+"/messages", func(w http.ResponseWriter, r *http.Request) {
		if fail {
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		}
	})
	note := workflows.Notification{Kind: workflows.NotifyNew, Alert: stratusAlert(t), Key: "TH-7-1"}
	if _, retry, err := n.Notify(context.Background(), note); err == nil || !retry {
		t.Fatalf("retry=%v err=%v, want a retryable failure", retry, err)
	}
	f.on("POST /channels/"+testChannel+"/messages", nil)
	ref, _, err := n.Notify(context.Background(), note)
	if err != nil || ref.MessageID == "" {
		t.Fatalf("ref=%+v err=%v", ref, err)
	}
	if got := f.matching("GET", "/channels/"+testChannel+"/messages"); len(got) != 1 {
		t.Fatalf("history reads=%d, want 1", len(got))
	}
}

func TestBotUserID(t *testing.T) {
	if got := botUserID(testToken); got != testBotUser {
		t.Fatalf("bot user id=%q, want %q", got, testBotUser)
	}
	if got := botUserID("not.a.token"); got != "" {
		t.Fatalf("bot user id=%q from a malformed token", got)
	}
}
