package slack

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/sources/activity/activitytest"
	"github.com/trailhound/trailhound/workflows"
)

const activityRegion = "eu-west-1"

// postedActivity posts an alert about alice in activityRegion and stores
// her calls around it in a fake CloudTrail.
func postedActivity(t *testing.T, h *harness) (workflows.Alert, workflows.MessageRef, *activitytest.CloudTrail) {
	t.Helper()
	f := finding(t, 0)
	f.Region, f.Account = activityRegion, "111122223333"
	f.Principal.Name, f.Principal.ARN = "alice", "arn:aws:iam::111122223333:user/alice"
	res := h.ingest(f)
	h.dispatch()
	a := h.alert(res.New[0].ID)
	ref, ok := a.Message(Name)
	if !ok {
		t.Fatal("alert not posted")
	}
	ct := activitytest.NewCloudTrail(t, activityRegion, h.clock.now)
	ct.Add(t,
		activitytest.Call{ID: "c1", Time: f.Time.Add(-20 * time.Minute), User: "alice", ARN: f.Principal.ARN, Service: "s3.amazonaws.com", Name: "PutBucketPolicy", SourceIP: "198.51.100.23", Params: map[string]any{"bucketName": "payroll <!channel>"}},
		activitytest.Call{ID: "c2", Time: f.Time.Add(5 * time.Minute), User: "alice", ARN: f.Principal.ARN, Service: "iam.amazonaws.com", Name: "CreateAccessKey", SourceIP: "203.0.113.9", Error: "AccessDenied", Params: map[string]any{"userName": "admin"}},
		activitytest.Call{ID: "c3", Time: f.Time.Add(-3 * time.Hour), User: "alice", ARN: f.Principal.ARN, Service: "iam.amazonaws.com", Name: "GetUser"},
	)
	return a, ref, ct
}

// TestActivityButtonRepliesInThread presses Activity on a card with a
// signed request: the placeholder appears in the alert's thread while
// LookupEvents is still held, then is replaced by the timeline; a second
// press meanwhile is told privately that the lookup is running.
func TestActivityButtonRepliesInThread(t *testing.T) {
	h := newHarness(t)
	a, ref, ct := postedActivity(t, h)
	gate := make(chan struct{})
	h.svc.Activity = &bot.Activity{Reader: activitytest.Gated{R: ct.Chain, Gate: gate}}
	h.start()
	status, body := h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0VIEWER", bot.OpActivity, a.ID, ref)))
	if status != http.StatusOK || body != "" {
		t.Fatalf("status=%d body=%q", status, body)
	}
	var placeholder fakeMsg
	waitFor(t, func() bool {
		for _, m := range h.fake.messages() {
			if m.Thread == ref.MessageID {
				placeholder = m
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(placeholder.Text, "Looking up the activity of `alice` in account `111122223333` (eu-west-1)") || placeholder.Channel != ref.Channel {
		t.Fatalf("placeholder=%+v", placeholder)
	}
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0ANALYST", bot.OpActivity, a.ID, ref)))
	waitFor(t, func() bool { return len(h.fake.responsesCopy()) == 1 })
	if r := h.fake.responsesCopy()[0]; r.Body["response_type"] != "ephemeral" || !strings.Contains(r.Body["text"].(string), "already being looked up") {
		t.Fatalf("second press answer=%+v", r)
	}
	close(gate)
	h.n.Wait()
	ups := h.fake.updatesOf(placeholder.TS)
	if len(ups) != 1 {
		t.Fatalf("%d updates of the placeholder, want 1", len(ups))
	}
	text := ups[0].Text
	for _, want := range []string{
		"Activity of `alice` in account `111122223333` (eu-west-1)",
		"`s3:PutBucketPolicy` on `payroll &lt;!channel&gt;` from `198.51.100.23`",
		"`iam:CreateAccessKey` on `admin` from `203.0.113.9`, error `AccessDenied`",
		"2 calls, from CloudTrail LookupEvents, with the bot's credentials. Asked by <@U0VIEWER>.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("timeline lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "GetUser") {
		t.Errorf("timeline shows a call outside the window:\n%s", text)
	}
	for _, p := range liveSlack(text, "U0VIEWER") {
		t.Errorf("timeline: %s", p)
	}
	if n := len(h.fake.messages()); n != 2 {
		t.Errorf("%d messages, want the card and the timeline", n)
	}
	if e := audits(t, h, a.ID, "activity"); len(e) != 1 || e[0].Actor != "slack:U0VIEWER" {
		t.Errorf("audit=%+v, want one activity lookup by the viewer", e)
	}
}

// TestActivityCommand runs /trailhound activity: bad arguments are
// answered at once with the usage; a lookup by period answers in the
// channel, placeholder first; someone without a role is refused.
func TestActivityCommand(t *testing.T) {
	h := newHarness(t)
	a, ref, ct := postedActivity(t, h)
	h.svc.Activity = &bot.Activity{Reader: ct.Chain}
	h.start()
	for _, tc := range []struct{ text, want string }{
		{"activity", "give a principal, an alert (--around TH-12), or both"},
		{"activity alice --around TH-1 --since 1h", "give either --around or --since, not both"},
		{"activity <@U0CISO>", "is not a principal name, ARN or access key id"},
		{"activity alice --since 400d", "since is at most 90d"},
	} {
		_, body := h.signedPost(PathCommands, commandBody(h, "U0VIEWER", tc.text))
		if !strings.Contains(body, tc.want) || !strings.Contains(body, `"response_type":"ephemeral"`) || strings.Contains(body, "<@U0CISO>") {
			t.Errorf("%q: ack=%s, want %q privately", tc.text, body, tc.want)
		}
	}
	h.signedPost(PathCommands, commandBody(h, "U0NOBODY", "activity alice --since 24h"))
	h.n.Wait()
	if rs := h.fake.responsesCopy(); len(rs) != 1 || !strings.Contains(rs[0].Body["text"].(string), "does not allow you to look up activity") {
		t.Fatalf("no role: responses=%+v", rs)
	}
	before := len(h.fake.messages())
	h.signedPost(PathCommands, commandBody(h, "U0VIEWER", "activity alice --since 24h"))
	h.n.Wait()
	msgs := h.fake.messages()
	if len(msgs) != before+1 {
		t.Fatalf("%d new messages, want the placeholder", len(msgs)-before)
	}
	m := msgs[len(msgs)-1]
	ups := h.fake.updatesOf(m.TS)
	// The placeholder was posted in the channel and replaced in place.
	if m.Channel != "C0SECURITY" || m.Thread != "" || len(ups) != 1 || !strings.HasPrefix(ups[0].Text, "Activity of `alice` from ") ||
		!strings.Contains(ups[0].Text, "`iam:CreateAccessKey`") {
		t.Fatalf("placeholder=%+v updates=%+v", m, ups)
	}
	// --around puts the timeline in the alert's thread.
	h.signedPost(PathCommands, commandBody(h, "U0VIEWER", "activity --around "+a.ID))
	h.n.Wait()
	msgs = h.fake.messages()
	if m := msgs[len(msgs)-1]; m.Thread != ref.MessageID || len(h.fake.updatesOf(m.TS)) != 1 {
		t.Fatalf("--around: last message %+v", m)
	}
	if ct.Lookups() != 2 {
		t.Fatalf("LookupEvents requests=%d, want 2", ct.Lookups())
	}
}

// TestActivityAnswerTime measures, over 50 signed presses against the
// fake Slack and the fake CloudTrail (real SDK client), the time from
// the press to its acknowledgement, to the placeholder in the thread and
// to the timeline that replaces it (observed by polling every 5 ms). It
// prints p50 and p99 (go test -v -run TestActivityAnswerTime
// ./bot/slack/) and asserts no timing.
func TestActivityAnswerTime(t *testing.T) {
	h := newHarness(t)
	a, ref, ct := postedActivity(t, h)
	// Every press is a new lookup: no cache.
	h.svc.Activity = &bot.Activity{Reader: ct.Chain, Options: bot.ActivityOptions{CacheTTL: time.Nanosecond}}
	h.start()
	var toAck, toPlaceholder, toTimeline []time.Duration
	for range 50 {
		before := len(h.fake.messages())
		start := time.Now()
		if status, _ := h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0VIEWER", bot.OpActivity, a.ID, ref))); status != http.StatusOK {
			t.Fatalf("press: status %d", status)
		}
		toAck = append(toAck, time.Since(start))
		var ts string
		waitFor(t, func() bool {
			if msgs := h.fake.messages(); len(msgs) > before {
				ts = msgs[before].TS
				return true
			}
			return false
		})
		toPlaceholder = append(toPlaceholder, time.Since(start))
		waitFor(t, func() bool { return len(h.fake.updatesOf(ts)) == 1 })
		toTimeline = append(toTimeline, time.Since(start))
		h.n.Wait()
		// Later presses are later requests: move the clock past the
		// replay cache's memory of the last one.
		h.clock.advance(time.Second)
	}
	t.Logf("slack activity press -> ack:         %s", percentiles(toAck))
	t.Logf("slack activity press -> placeholder: %s", percentiles(toPlaceholder))
	t.Logf("slack activity press -> timeline:    %s", percentiles(toTimeline))
	if ct.Lookups() != 50 {
		t.Fatalf("lookups=%d, want 50", ct.Lookups())
	}
}

func percentiles(ds []time.Duration) string {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(p float64) time.Duration {
		return s[min(len(s)-1, int(p*float64(len(s))))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("p50 %s p99 %s (n=%d)", at(0.50), at(0.99), len(s))
}

// TestActivityWithoutChannelAccess: the bot is not in the channel the
// command was typed in, so the placeholder cannot be posted; the
// timeline then reaches the user alone, and the next lookup may run.
func TestActivityWithoutChannelAccess(t *testing.T) {
	h := newHarness(t)
	_, _, ct := postedActivity(t, h)
	h.svc.Activity = &bot.Activity{Reader: ct.Chain}
	h.start()
	h.fake.fail("chat.postMessage", func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, map[string]any{"ok": false, "error": "not_in_channel"})
		return true
	})
	before := len(h.fake.messages())
	h.signedPost(PathCommands, commandBody(h, "U0VIEWER", "activity alice --since 24h"))
	h.n.Wait()
	rs := h.fake.responsesCopy()
	if len(rs) != 1 || rs[0].Body["response_type"] != "ephemeral" || !strings.Contains(rs[0].Body["text"].(string), "`iam:CreateAccessKey` on `admin`") {
		t.Fatalf("responses=%+v, want the timeline privately", rs)
	}
	if len(h.fake.messages()) != before {
		t.Fatal("a message was posted in a channel the bot is not in")
	}
	h.signedPost(PathCommands, commandBody(h, "U0VIEWER", "activity alice --since 24h"))
	h.n.Wait()
	if n := len(h.fake.messages()); n != before+1 {
		t.Fatalf("messages=%d, want the next lookup's placeholder posted", n-before)
	}
}
