package slack

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// audits returns the audit entries of an alert with the given action.
func audits(t *testing.T, h *harness, alertID, action string) []workflows.AuditEntry {
	t.Helper()
	all, err := h.store.AuditLog(alertID)
	if err != nil {
		t.Fatal(err)
	}
	var out []workflows.AuditEntry
	for _, e := range all {
		if e.Action == action {
			out = append(out, e)
		}
	}
	return out
}

func TestSignedRequests(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	body := interactionBody(h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref))
	now := h.clock.now()
	forged := sign("not-the-secret", now, body)
	tampered := sign(testSecret, now, body)
	stale := sign(testSecret, now.Add(-5*time.Minute-time.Second), body)
	future := sign(testSecret, now.Add(5*time.Minute+time.Second), body)
	badHex := sign(testSecret, now, body)
	badHex.Set("X-Slack-Signature", "v0=zz")
	noPrefix := sign(testSecret, now, body)
	noPrefix.Set("X-Slack-Signature", strings.TrimPrefix(noPrefix.Get("X-Slack-Signature"), "v0="))
	missing := sign(testSecret, now, body)
	missing.Del("X-Slack-Request-Timestamp")

	for _, tc := range []struct {
		name string
		hdr  http.Header
		body string
		want int
	}{
		{"forged", forged, body, http.StatusUnauthorized},
		{"tampered body", tampered, strings.Replace(body, "U0RESP", "U0ANALYST", 1), http.StatusUnauthorized},
		{"stale", stale, body, http.StatusUnauthorized},
		{"from the future", future, body, http.StatusUnauthorized},
		{"bad hex", badHex, body, http.StatusUnauthorized},
		{"no v0 prefix", noPrefix, body, http.StatusUnauthorized},
		{"missing timestamp", missing, body, http.StatusUnauthorized},
		{"too large", sign(testSecret, now, strings.Repeat("x", maxBody+1)), strings.Repeat("x", maxBody+1), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, resp := h.do(PathInteractions, tc.hdr, tc.body)
			if status != tc.want {
				t.Fatalf("status=%d, want %d", status, tc.want)
			}
			if strings.Contains(resp, "signature") || strings.Contains(resp, "timestamp") {
				t.Errorf("response %q tells why", resp)
			}
		})
	}
	h.n.Wait()
	if got := h.alert(a.ID).State; got != workflows.StateNew {
		t.Fatalf("state=%s after rejected requests, want new", got)
	}

	// The valid request is applied; the same request replayed, and a
	// retry of it re-signed later with X-Slack-Retry-Num, are not.
	valid := sign(testSecret, now, body)
	if status, _ := h.do(PathInteractions, valid, body); status != http.StatusOK {
		t.Fatalf("valid request: status=%d", status)
	}
	if status, _ := h.do(PathInteractions, valid, body); status != http.StatusOK {
		t.Fatalf("replayed request: status=%d, want 200 (acknowledged, ignored)", status)
	}
	h.clock.advance(2 * time.Second)
	retry := sign(testSecret, h.clock.now(), body)
	retry.Set("X-Slack-Retry-Num", "1")
	retry.Set("X-Slack-Retry-Reason", "http_timeout")
	if status, _ := h.do(PathInteractions, retry, body); status != http.StatusOK {
		t.Fatalf("retried request: status=%d", status)
	}
	h.n.Wait()
	if got := h.alert(a.ID); got.State != workflows.StateAcknowledged || got.LastActor != "slack:U0RESP" {
		t.Fatalf("state=%s by %s, want acknowledged by slack:U0RESP", got.State, got.LastActor)
	}
	if n := len(audits(t, h, a.ID, "acknowledge")); n != 1 {
		t.Errorf("%d acknowledge audit entries, want 1: a replay was applied", n)
	}
}

func TestButtonUpdatesMessageInPlace(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	status, resp := h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref)))
	if status != http.StatusOK || resp != "" {
		t.Fatalf("status=%d body=%q, want an empty 200", status, resp)
	}
	h.n.Wait()
	ups := h.fake.updatesOf(ref.MessageID)
	if len(ups) != 1 {
		t.Fatalf("%d updates of the alert's message, want 1 at once", len(ups))
	}
	if got := string(ups[0].Attachments); !strings.Contains(got, "*Status:* acknowledged by <@U0RESP>") || strings.Contains(got, "trailhound:ack:") {
		t.Errorf("redrawn card does not show the new state and who: %s", got)
	}
	if n := len(h.fake.messages()); n != 1 {
		t.Errorf("%d messages, want only the redrawn one", n)
	}
	// The outbox's NotifyUpdate would draw the same card again: it makes
	// no call.
	h.dispatch()
	if ups = h.fake.updatesOf(ref.MessageID); len(ups) != 1 {
		t.Errorf("%d updates after the outbox ran, want still 1: the card already shows the state", len(ups))
	}
	if e := audits(t, h, a.ID, "acknowledge"); len(e) != 1 || e[0].Actor != "slack:U0RESP" {
		t.Errorf("audit=%+v, want one acknowledge by slack:U0RESP", e)
	}
	// Acknowledging again is refused by the lifecycle, told privately.
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref)))
	h.n.Wait()
	rs := h.fake.responsesCopy()
	if len(rs) != 1 || rs[0].Body["response_type"] != "ephemeral" || !strings.Contains(rs[0].Body["text"].(string), "not possible now") {
		t.Errorf("responses=%+v, want one ephemeral 'not possible now'", rs)
	}
}

func TestViewerRefusedPolitely(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0VIEWER", bot.OpResolve, a.ID, ref)))
	h.n.Wait()
	if got := h.alert(a.ID).State; got != workflows.StateNew {
		t.Fatalf("state=%s, want new: a viewer resolved", got)
	}
	rs := h.fake.responsesCopy()
	if len(rs) != 1 {
		t.Fatalf("%d responses, want 1 refusal", len(rs))
	}
	text, _ := rs[0].Body["text"].(string)
	if rs[0].Body["response_type"] != "ephemeral" || !strings.HasPrefix(text, "Sorry, your role (viewer) does not allow you to Resolve") {
		t.Errorf("refusal=%v", rs[0].Body)
	}
	if e := audits(t, h, a.ID, "refused"); len(e) != 1 || e[0].Actor != "slack:U0VIEWER" {
		t.Errorf("audit=%+v, want one refused entry for slack:U0VIEWER", e)
	}
	if n := len(h.fake.updatesOf(ref.MessageID)); n != 0 {
		t.Errorf("message redrawn %d times after a refusal", n)
	}
	// Someone with no role at all is refused too, also before any form.
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0STRANGER", bot.OpTask, a.ID, ref)))
	h.n.Wait()
	if len(h.fake.viewsCopy()) != 0 || len(audits(t, h, a.ID, "refused")) != 2 {
		t.Errorf("a user without a role got the task form")
	}
}

func TestGroupMembershipGivesRole(t *testing.T) {
	h := newHarness(t)
	h.fake.groups = append(h.fake.groups, slackGroup("S0ONCALL", "U0GROUPIE"), slackGroup("S0OTHER", "U0VIEWER"))
	h.start()
	a, ref := h.posted()
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0GROUPIE", bot.OpAcknowledge, a.ID, ref)))
	h.n.Wait()
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0GROUPIE", bot.OpEscalate, a.ID, ref)))
	h.n.Wait()
	if got := h.alert(a.ID); got.State != workflows.StateEscalated || got.LastActor != "slack:U0GROUPIE" {
		t.Fatalf("state=%s by %s, want escalated by the on-call group member", got.State, got.LastActor)
	}
	if n := h.fake.count("usergroups.list"); n != 1 {
		t.Errorf("usergroups.list called %d times, want 1 (cached)", n)
	}
	h.clock.advance(DefaultGroupCacheTTL + time.Second)
	h.signedPost(PathCommands, commandBody(h, "U0GROUPIE", "tasks"))
	h.n.Wait()
	if n := h.fake.count("usergroups.list"); n != 2 {
		t.Errorf("usergroups.list called %d times after the cache expired, want 2", n)
	}
}

func TestTaskModal(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0RESP", bot.OpTask, a.ID, ref)))
	h.n.Wait()
	views := h.fake.viewsCopy()
	if len(views) != 1 || views[0].CallbackID != callbackTask {
		t.Fatalf("views=%+v, want the task form", views)
	}
	var meta modalMeta
	if err := json.Unmarshal([]byte(views[0].PrivateMetadata), &meta); err != nil || meta != (modalMeta{AlertID: a.ID, Channel: ref.Channel, TS: ref.MessageID}) {
		t.Fatalf("private_metadata=%q, want the alert and its message", views[0].PrivateMetadata)
	}

	submit := func(due, notes string) (int, string) {
		values := map[string]any{
			"assignee": map[string]any{"assignee": map[string]any{"type": "users_select", "selected_user": "U0BOB"}},
			"due":      map[string]any{"due": map[string]any{"type": "datepicker", "selected_date": due}},
			"notes":    map[string]any{"notes": map[string]any{"type": "plain_text_input", "value": notes}},
		}
		return h.signedPost(PathInteractions, interactionBody(viewSubmission("U0RESP", callbackTask, views[0].PrivateMetadata, values)))
	}
	// A due date in the past is shown in the form, at once.
	status, resp := submit("2025-12-01", "rotate keys")
	if status != http.StatusOK || !strings.Contains(resp, `"response_action":"errors"`) || !strings.Contains(resp, "The due date is in the past.") {
		t.Fatalf("status=%d resp=%s, want the form's errors", status, resp)
	}
	status, resp = submit("2026-01-09", "Rotate the access keys\x00 and enrol MFA.")
	if status != http.StatusOK || resp != "" {
		t.Fatalf("status=%d resp=%q, want an empty 200 that closes the form", status, resp)
	}
	h.n.Wait()
	tasks, err := h.store.ListTasks(workflows.TaskFilter{AlertID: a.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 1 {
		t.Fatalf("%d tasks, want 1", len(tasks))
	}
	tk := tasks[0]
	if tk.Assignee != "slack:U0BOB" || tk.Due.Format(time.DateOnly) != "2026-01-09" || tk.Notes != "Rotate the access keys and enrol MFA." || tk.CreatedBy != "slack:U0RESP" {
		t.Errorf("task=%+v", tk)
	}
	msgs := h.fake.messages()
	last := msgs[len(msgs)-1]
	if last.Thread != ref.MessageID || !strings.Contains(last.Text, "<@U0RESP> opened task `"+tk.ID+"`") || !strings.Contains(last.Text, "assigned to <@U0BOB>, due 2026-01-09") {
		t.Errorf("thread reply=%+v", last)
	}
}

func TestSuppressModal(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0ANALYST", bot.OpSuppress, a.ID, ref)))
	h.n.Wait()
	views := h.fake.viewsCopy()
	if len(views) != 1 || views[0].CallbackID != callbackSuppress {
		t.Fatalf("views=%+v, want the suppress form", views)
	}
	values := func(d string) map[string]any {
		return map[string]any{
			"duration": map[string]any{"duration": map[string]any{"type": "static_select", "selected_option": map[string]any{"value": d}}},
			"reason":   map[string]any{"reason": map[string]any{"type": "plain_text_input", "value": "pen test this week"}},
		}
	}
	_, resp := h.signedPost(PathInteractions, interactionBody(viewSubmission("U0ANALYST", callbackSuppress, views[0].PrivateMetadata, values("999d"))))
	if !strings.Contains(resp, "Choose how long.") {
		t.Fatalf("resp=%s, want an error for a duration not offered", resp)
	}
	h.signedPost(PathInteractions, interactionBody(viewSubmission("U0ANALYST", callbackSuppress, views[0].PrivateMetadata, values("7d"))))
	h.n.Wait()
	got := h.alert(a.ID)
	if got.State != workflows.StateSuppressed || !got.SuppressedUntil.Equal(h.clock.now().Add(7*24*time.Hour)) {
		t.Fatalf("state=%s until %v, want suppressed for 7 days", got.State, got.SuppressedUntil)
	}
	ups := h.fake.updatesOf(ref.MessageID)
	if len(ups) != 1 || !strings.Contains(string(ups[0].Attachments), "suppressed until 2026-01-12 09:30 UTC by <@U0ANALYST>") {
		t.Errorf("message not redrawn as suppressed")
	}
}

// viewSubmission is a view_submission payload as Slack sends it.
func viewSubmission(user, callbackID, meta string, values map[string]any) map[string]any {
	return map[string]any{
		"type":       "view_submission",
		"team":       map[string]any{"id": "T1"},
		"user":       map[string]any{"id": user, "name": strings.ToLower(user)},
		"trigger_id": nextTrigger(),
		"view": map[string]any{
			"id": "V" + strconv.Itoa(triggerSeq), "type": "modal", "callback_id": callbackID,
			"private_metadata": meta, "hash": "h1",
			"state": map[string]any{"values": values},
		},
	}
}

func TestSlashCommands(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	for _, tc := range []struct {
		name, user, text string
		// now is checked in the HTTP answer; later in the response URL post.
		now, later, responseType string
	}{
		{"usage line", "U0VIEWER", "findings since forever", "is not a duration like 24h or 7d. Usage: `/trailhound findings [since 24h]", "", "ephemeral"},
		{"unknown command", "U0VIEWER", "pwn", `unknown command \"pwn\". Usage: ` + "`/trailhound help`", "", "ephemeral"},
		{"help", "U0STRANGER", "help", "/trailhound findings [since 24h]", "", "ephemeral"},
		{"findings", "U0VIEWER", "findings since 24h severity medium", "", "`" + a.ID + "` MEDIUM new: Console sign-in without MFA", "ephemeral"},
		{"show", "U0VIEWER", "show " + a.ID, "", `"action_id":"trailhound:ack:` + a.ID + `"`, "ephemeral"},
		{"no role", "U0STRANGER", "findings", "", "Sorry, your role (none) does not allow you to use `findings`", "ephemeral"},
		{"silence refused", "U0RESP", "silence aws-console-login-without-mfa 2h testing", "", "Sorry, your role (responder) does not allow you to use `silence`", "ephemeral"},
		{"ack", "U0RESP", "ack " + strings.ToLower(a.ID), "", "is now acknowledged by <@U0RESP>", "ephemeral"},
		{"silence", "U0ANALYST", "silence aws-console-login-without-mfa 2h pen test", "", "<@U0ANALYST> silenced rule `aws-console-login-without-mfa`", "in_channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(h.fake.responsesCopy())
			status, resp := h.signedPost(PathCommands, commandBody(h, tc.user, tc.text))
			if status != http.StatusOK {
				t.Fatalf("status=%d", status)
			}
			h.n.Wait()
			if tc.now != "" {
				if !strings.Contains(resp, tc.now) || !strings.Contains(resp, `"response_type":"`+tc.responseType+`"`) {
					t.Fatalf("answer=%s, want %s containing %q", resp, tc.responseType, tc.now)
				}
				return
			}
			if resp != "" {
				t.Fatalf("answer=%q, want an empty acknowledgement", resp)
			}
			rs := h.fake.responsesCopy()
			if len(rs) != before+1 {
				t.Fatalf("%d response url posts, want 1", len(rs)-before)
			}
			got := rs[len(rs)-1]
			b, _ := json.Marshal(got.Body)
			if got.Path != "/response/cmd-"+tc.user || got.Body["response_type"] != tc.responseType || !strings.Contains(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(b)), tc.later) {
				t.Fatalf("response=%s on %s, want %s containing %q", b, got.Path, tc.responseType, tc.later)
			}
		})
	}
	if got := h.alert(a.ID); got.State != workflows.StateAcknowledged {
		t.Errorf("state=%s after /trailhound ack, want acknowledged", got.State)
	}
	if n := len(h.fake.updatesOf(ref.MessageID)); n != 1 {
		t.Errorf("%d redraws after /trailhound ack, want 1", n)
	}
}

// TestAcknowledgedBeforeSlowWork proves the 3-second rule structurally:
// the handler answers while the work it started is still blocked.
func TestAcknowledgedBeforeSlowWork(t *testing.T) {
	h := newHarness(t)
	h.fake.groups = append(h.fake.groups, slackGroup("S0ONCALL", "U0GROUPIE"))
	healthCalled, releaseHealth := make(chan struct{}), make(chan struct{})
	h.svc.Health = func() ([]sources.Health, error) {
		close(healthCalled)
		<-releaseHealth
		return []sources.Health{{Source: "cloudtrail-prod", Events: 42}}, nil
	}
	h.start()
	a, ref := h.posted()

	// A button whose role lookup (usergroups.list) hangs.
	release := h.fake.hold("usergroups.list")
	status, _ := h.signedPost(PathInteractions, interactionBody(h.buttonPayload("U0GROUPIE", bot.OpAcknowledge, a.ID, ref)))
	if status != http.StatusOK {
		t.Fatalf("status=%d", status)
	}
	if got := h.alert(a.ID).State; got != workflows.StateNew {
		t.Fatalf("state=%s before the slow step finished: the work ran before the answer", got)
	}
	release()

	// A command whose workflow step (source health) hangs.
	status, resp := h.signedPost(PathCommands, commandBody(h, "U0VIEWER", "sources"))
	if status != http.StatusOK || resp != "" {
		t.Fatalf("status=%d resp=%q, want the empty acknowledgement first", status, resp)
	}
	<-healthCalled
	if n := len(h.fake.responsesCopy()); n != 0 {
		t.Fatalf("%d answers before the slow step finished", n)
	}
	close(releaseHealth)
	h.n.Wait()
	if got := h.alert(a.ID).State; got != workflows.StateAcknowledged {
		t.Errorf("state=%s, want acknowledged once released", got)
	}
	rs := h.fake.responsesCopy()
	if len(rs) != 1 || !strings.Contains(rs[0].Body["text"].(string), "cloudtrail-prod") {
		t.Errorf("responses=%+v, want the sources answer", rs)
	}
}

func TestEvents(t *testing.T) {
	h := newHarness(t)
	h.start()
	status, resp := h.signedPost(PathEvents, `{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
	if status != http.StatusOK || resp != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Fatalf("url_verification: status=%d resp=%q", status, resp)
	}
	if status, _ := h.do(PathEvents, sign("wrong", h.clock.now(), `{"type":"url_verification","challenge":"x"}`), `{"type":"url_verification","challenge":"x"}`); status != http.StatusUnauthorized {
		t.Fatalf("unsigned url_verification: status=%d", status)
	}
	mention := `{"token":"x","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":"Ev0MENTION","event_time":1767605400,` +
		`"event":{"type":"app_mention","user":"U0VIEWER","text":"<@UBOT> silences","ts":"1767605400.000100","channel":"C0SECURITY","event_ts":"1767605400.000100"}}`
	h.signedPost(PathEvents, mention)
	// Slack retries with a new signature and X-Slack-Retry-Num; the
	// event id makes it a repeat.
	h.clock.advance(time.Second)
	retry := sign(testSecret, h.clock.now(), mention)
	retry.Set("X-Slack-Retry-Num", "1")
	if status, _ := h.do(PathEvents, retry, mention); status != http.StatusOK {
		t.Fatalf("retry: status=%d", status)
	}
	h.n.Wait()
	eph := h.fake.ephemeralsCopy()
	if len(eph) != 1 {
		t.Fatalf("%d answers to the mention, want 1", len(eph))
	}
	if eph[0].Get("user") != "U0VIEWER" || eph[0].Get("thread_ts") != "1767605400.000100" || eph[0].Get("text") != "No active silences." {
		t.Errorf("answer=%v", eph[0])
	}
}

func TestStartRejectsBadToken(t *testing.T) {
	h := newHarness(t)
	h.fake.fail("auth.test", func(w http.ResponseWriter, r *http.Request) bool {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return true
	})
	err := h.n.Start(context.Background(), h.svc, http.NewServeMux())
	if err == nil || !strings.Contains(err.Error(), "bot token was rejected") || strings.Contains(err.Error(), "xoxb-test-token") {
		t.Fatalf("err=%v, want a rejected-token error without the token", err)
	}
}

func TestResponseURLMustBeSlack(t *testing.T) {
	h := newHarness(t)
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"https://hooks.slack.com/actions/T1/1/abc", true},
		{h.fake.url() + "response/x", true},
		{"http://hooks.slack.com/actions/T1/1/abc", false},
		{"https://hooks.slack.com.evil.example/x", false},
		{"https://169.254.169.254/latest/meta-data", false},
		{"not a url", false},
	} {
		if got := h.n.trustedResponseURL(tc.url); got != tc.want {
			t.Errorf("trusted(%q)=%v, want %v", tc.url, got, tc.want)
		}
	}
}

func TestVerifyRejectsReasons(t *testing.T) {
	now := testNow
	body := []byte("a=b")
	ok := sign(testSecret, now, string(body))
	if err := verify(ok, body, testSecret, now); err != nil {
		t.Fatalf("valid: %v", err)
	}
	if err := verify(ok, body, testSecret, now.Add(replayWindow+time.Second)); !errors.Is(err, errStale) {
		t.Errorf("stale: %v", err)
	}
	if err := verify(ok, []byte("a=c"), testSecret, now); !errors.Is(err, errBadSignature) {
		t.Errorf("tampered: %v", err)
	}
	if err := verify(http.Header{}, body, testSecret, now); !errors.Is(err, errMissingSignature) {
		t.Errorf("missing: %v", err)
	}
}

func slackGroup(id string, users ...string) slackapi.UserGroup {
	return slackapi.UserGroup{ID: id, IsUserGroup: true, Users: users}
}

func TestSeenCache(t *testing.T) {
	c, err := newSeenCache(nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if !c.first(seenKey("trigger", "t1"), testNow) || c.first(seenKey("trigger", "t1"), testNow.Add(time.Minute)) {
		t.Fatal("a repeat within the window was not caught")
	}
	if !c.first(seenKey("trigger", "t1"), testNow.Add(seenTTL+2*time.Minute)) {
		t.Error("an identity was remembered past its window")
	}
	if !c.first(seenKey("trigger", ""), testNow) || !c.first(seenKey("trigger", ""), testNow) {
		t.Error("requests without an identity were deduplicated")
	}
}

// A button on an ephemeral card (the answer to /trailhound show) redraws
// that card through its response URL and the alert's message in place.
func TestButtonOnEphemeralCard(t *testing.T) {
	h := newHarness(t)
	h.start()
	a, ref := h.posted()
	p := h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref)
	p["container"] = map[string]any{"type": "message", "message_ts": "1767605999.000001", "channel_id": "C0SECURITY", "is_ephemeral": true}
	h.signedPost(PathInteractions, interactionBody(p))
	h.n.Wait()
	if n := len(h.fake.updatesOf(ref.MessageID)); n != 1 {
		t.Errorf("alert's message redrawn %d times, want 1", n)
	}
	rs := h.fake.responsesCopy()
	if len(rs) != 1 || rs[0].Body["replace_original"] != true || rs[0].Body["response_type"] != "ephemeral" {
		t.Fatalf("responses=%+v, want the ephemeral card replaced", rs)
	}
	b, _ := json.Marshal(rs[0].Body)
	if !strings.Contains(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">").Replace(string(b)), "acknowledged by <@U0RESP>") {
		t.Errorf("replaced card does not show the new state: %s", b)
	}
}
