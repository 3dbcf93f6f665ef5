package discord

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources/activity/activitytest"
	"github.com/trailhound/trailhound/workflows"
)

// activityAlert posts an alert about alice in eu-west-1 and stores her
// calls around it in a fake CloudTrail.
func activityAlert(t *testing.T, h *harness) *activitytest.CloudTrail {
	t.Helper()
	f := stratusFinding(t)
	f.Fingerprint, f.GroupKey = "activity-fp", "activity-group"
	f.Time, f.Region, f.Account = now.Add(-time.Hour), "eu-west-1", "111122223333"
	f.Principal.Name, f.Principal.ARN = "alice", "arn:aws:iam::111122223333:user/alice"
	var id string
	if err := h.st.DB().Update(func(tx *bolt.Tx) error {
		res, err := h.st.Ingest(tx, []detectors.Finding{f})
		if err == nil {
			id = res.New[0].ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	d := &workflows.Dispatcher{Store: h.st, Notifiers: []workflows.Notifier{h.n}, Log: h.svc.Log}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, err := h.st.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	h.alert = a
	ct := activitytest.NewCloudTrail(t, "eu-west-1", func() time.Time { return now })
	ct.Add(t,
		activitytest.Call{ID: "c1", Time: f.Time.Add(-20 * time.Minute), User: "alice", ARN: f.Principal.ARN, Service: "s3.amazonaws.com", Name: "PutBucketPolicy", SourceIP: "198.51.100.23", Params: map[string]any{"bucketName": "payroll @everyone **x**"}},
		activitytest.Call{ID: "c2", Time: f.Time.Add(5 * time.Minute), User: "alice", ARN: f.Principal.ARN, Service: "iam.amazonaws.com", Name: "CreateAccessKey", SourceIP: "203.0.113.9", Error: "AccessDenied", Params: map[string]any{"userName": "admin"}},
	)
	return ct
}

// TestActivityButtonEditsThreadMessage: a signed press is acknowledged
// as a deferred update; the placeholder is posted in the alert's thread
// (started on first use) while LookupEvents is held, then edited into the
// timeline. A second press meanwhile is answered privately.
func TestActivityButtonEditsThreadMessage(t *testing.T) {
	h := newHarness(t)
	ct := activityAlert(t, h)
	gate := make(chan struct{})
	h.svc.Activity = &bot.Activity{Reader: activitytest.Gated{R: ct.Chain, Gate: gate}}
	press := h.press(bot.OpActivity, "1400000000000000009", nil)
	code, resp := h.post(t, press)
	if code != 200 || resp["type"] != float64(6) {
		t.Fatalf("ack=%d %v, want a deferred update", code, resp)
	}
	ref, _ := h.alert.Message(Name)
	h.f.wait(t, 1, "POST", "/channels/"+ref.Channel+"/messages/"+ref.MessageID+"/threads")
	placeholder := h.f.wait(t, 2, "POST", "/channels/"+ref.MessageID+"/messages").JSON(t)
	if c := shown(placeholder["content"].(string)); !strings.HasPrefix(c, "Looking up the activity of `alice` in account `111122223333` (eu-west-1)") {
		t.Fatalf("placeholder=%q", c)
	}
	again := h.press(bot.OpActivity, "1400000000000000009", nil)
	h.post(t, again)
	if c := h.f.wait(t, 1, "POST", followupPath(again)).JSON(t)["content"].(string); !strings.Contains(c, "already being looked up") {
		t.Fatalf("second press answer=%q", c)
	}
	close(gate)
	edit := waitPrefix(t, h.f, "PATCH", "/channels/"+ref.MessageID+"/messages/").JSON(t)
	content := shown(edit["content"].(string))
	for _, want := range []string{
		"Activity of `alice` in account `111122223333` (eu-west-1)",
		"`s3:PutBucketPolicy` on `payroll @\u200beveryone **x**` from `198.51.100.23`",
		"`iam:CreateAccessKey` on `admin` from `203.0.113.9`, error `AccessDenied`",
		"2 calls, from CloudTrail LookupEvents, with the bot's credentials. Asked by <@1400000000000000009>.",
	} {
		if !strings.Contains(edit["content"].(string), want) && !strings.Contains(content, want) {
			t.Errorf("timeline lacks %q:\n%s", want, edit["content"])
		}
	}
	am := edit["allowed_mentions"].(map[string]any)
	if users, _ := am["users"].([]any); len(users) != 1 || users[0] != "1400000000000000009" || len(am["parse"].([]any)) != 0 {
		t.Errorf("allowed_mentions=%v, want only the asker", am)
	}
}

// TestActivitySlashCommand: bad arguments get the usage at once; a lookup
// edits its deferred answer, placeholder first.
func TestActivitySlashCommand(t *testing.T) {
	h := newHarness(t)
	ct := activityAlert(t, h)
	h.svc.Activity = &bot.Activity{Reader: ct.Chain}
	for _, tc := range []struct {
		opts map[string]string
		want string
	}{
		{map[string]string{}, "give a principal, an alert (--around TH-12), or both"},
		{map[string]string{"principal": "alice", "around": "TH-1", "since": "1h"}, "give either --around or --since, not both"},
		{map[string]string{"principal": "<@&1500000000000000666>"}, "is not a principal name, ARN or access key id"},
		{map[string]string{"principal": "alice", "since": "400d"}, "since is at most 90d"},
	} {
		_, resp := h.post(t, slash("1400000000000000009", nil, "activity", tc.opts))
		data, _ := resp["data"].(map[string]any)
		if c, _ := data["content"].(string); !strings.Contains(shown(c), tc.want) || data["flags"] != float64(64) {
			t.Errorf("%v: answer=%v, want %q privately", tc.opts, resp, tc.want)
		}
	}
	i := slash("1400000000000000009", nil, "activity", map[string]string{"principal": "alice", "around": h.alert.ID})
	code, resp := h.post(t, i)
	if code != 200 || resp["type"] != float64(5) {
		t.Fatalf("ack=%d %v, want a deferred public answer", code, resp)
	}
	first := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
	if c := shown(first["content"].(string)); !strings.HasPrefix(c, "Looking up the activity of `alice`") {
		t.Fatalf("placeholder=%q", c)
	}
	final := h.f.wait(t, 2, "PATCH", originalPath(i)).JSON(t)
	if c := shown(final["content"].(string)); !strings.Contains(c, "`iam:CreateAccessKey` on `admin`") || !strings.Contains(c, "around `"+h.alert.ID+"`") {
		t.Fatalf("timeline=%q", c)
	}
}

func TestTimelineEditFitsDiscord(t *testing.T) {
	var b strings.Builder
	b.WriteString("Activity of `alice`:\n")
	for i := range 50 {
		b.WriteString("• `11-25 10:" + string(rune('0'+i/10)) + string(rune('0'+i%10)) + ":00` `s3:GetObject` on `arn:aws:s3:::a-rather-long-bucket-name-for-payroll-exports/2026/11/25/object-key` from `198.51.100.23`\n")
	}
	b.WriteString("50 calls, from CloudTrail LookupEvents.")
	e := timelineEdit(b.String(), nil)
	total := 0
	for _, em := range *e.Embeds {
		if n := len([]rune(em.Description)); n > maxEmbedDesc {
			t.Fatalf("embed of %d runes", n)
		}
		total += len([]rune(em.Description))
	}
	if n := len([]rune(*e.Content)); n > maxContent || total > maxEmbedTotal || len(*e.Embeds) > 10 {
		t.Fatalf("content=%d embeds=%d total=%d", n, len(*e.Embeds), total)
	}
	all := *e.Content
	for _, em := range *e.Embeds {
		all += "\n" + em.Description
	}
	if strings.Count(all, "s3:GetObject") != 50 || !strings.HasSuffix(all, "LookupEvents.") {
		t.Fatalf("the 50 rows do not all show:\n%s", all)
	}
}

// waitPrefix returns the first call to method on a path starting with
// prefix, waiting for it up to a deadline.
func waitPrefix(t *testing.T, f *fakeDiscord, method, prefix string) request {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		for _, r := range f.requests() {
			if r.Method == method && strings.HasPrefix(r.Path, prefix) {
				return r
			}
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no call to %s %s...", method, prefix)
		}
	}
}

// TestActivityAnswerTime measures, over 50 ed25519-signed presses
// against the fake Discord and the fake CloudTrail (real SDK client), the
// time from the press to its acknowledgement, to the placeholder in the
// thread and to the edit that shows the timeline. It prints p50 and p99
// (go test -v -run TestActivityAnswerTime ./bot/discord/) and asserts no
// timing.
func TestActivityAnswerTime(t *testing.T) {
	h := newHarness(t)
	ct := activityAlert(t, h)
	h.svc.Activity = &bot.Activity{Reader: ct.Chain, Options: bot.ActivityOptions{CacheTTL: time.Nanosecond}}
	// Every press is a new lookup: the core's clock moves past the cache.
	var tick atomic.Int64
	h.svc.Now = func() time.Time { return now.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	ref, _ := h.alert.Message(Name)
	thread := "/channels/" + ref.MessageID + "/messages"
	var toAck, toPlaceholder, toTimeline []time.Duration
	for i := range 50 {
		start := time.Now()
		if code, resp := h.post(t, h.press(bot.OpActivity, "1400000000000000009", nil)); code != 200 || resp["type"] != float64(6) {
			t.Fatalf("press %d: %d %v", i, code, resp)
		}
		toAck = append(toAck, time.Since(start))
		// The first press posts twice to the thread (the try that finds
		// no thread, then the post after starting it): press i makes
		// post i+2 there, and edit i+1.
		h.f.wait(t, i+2, "POST", thread)
		toPlaceholder = append(toPlaceholder, time.Since(start))
		waitNth(t, h.f, i+1, "PATCH", thread+"/")
		toTimeline = append(toTimeline, time.Since(start))
		h.n.Wait()
	}
	t.Logf("discord activity press -> ack:         %s", percentiles(toAck))
	t.Logf("discord activity press -> placeholder: %s", percentiles(toPlaceholder))
	t.Logf("discord activity press -> timeline:    %s", percentiles(toTimeline))
	if ct.Lookups() != 50 {
		t.Fatalf("lookups=%d, want 50", ct.Lookups())
	}
}

// waitNth waits for the n-th call to method on a path starting with
// prefix.
func waitNth(t *testing.T, f *fakeDiscord, n int, method, prefix string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		seen := 0
		for _, r := range f.requests() {
			if r.Method == method && strings.HasPrefix(r.Path, prefix) {
				seen++
			}
		}
		if seen >= n {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no call %d to %s %s...", n, method, prefix)
		}
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

// TestActivityButtonWithoutThreadAccess: the bot may not post in the
// alert's thread, so the press's own follow-up plays the placeholder and
// is edited into the timeline.
func TestActivityButtonWithoutThreadAccess(t *testing.T) {
	h := newHarness(t)
	ct := activityAlert(t, h)
	h.svc.Activity = &bot.Activity{Reader: ct.Chain}
	ref, _ := h.alert.Message(Name)
	h.f.on("POST /channels/"+ref.MessageID+"/messages", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(403)
		w.Write([]byte(`{"message": "Missing Access", "code": 50001}`))
	})
	press := h.press(bot.OpActivity, "1400000000000000009", nil)
	h.post(t, press)
	placeholder := h.f.wait(t, 1, "POST", followupPath(press)).JSON(t)
	if c := shown(placeholder["content"].(string)); !strings.HasPrefix(c, "Looking up the activity of `alice`") || placeholder["flags"] != nil {
		t.Fatalf("placeholder=%v, want a public follow-up", placeholder)
	}
	edit := waitPrefix(t, h.f, "PATCH", followupPath(press)+"/messages/").JSON(t)
	if c := shown(edit["content"].(string)); !strings.Contains(c, "`iam:CreateAccessKey` on `admin`") {
		t.Fatalf("timeline=%q", c)
	}
}
