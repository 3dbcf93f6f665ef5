package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

func ping() map[string]any {
	return map[string]any{"id": "1800000000000000000", "application_id": testApp, "type": 1, "token": "t", "version": 1}
}

func TestPing(t *testing.T) {
	h := newHarness(t)
	code, resp := h.post(t, ping())
	if code != 200 || resp["type"] != float64(1) {
		t.Fatalf("status=%d answer=%v, want 200 PONG", code, resp)
	}
}

func TestSignatureChecks(t *testing.T) {
	h := newHarness(t)
	body, _ := json.Marshal(ping())
	_, otherKey, _ := ed25519.GenerateKey(nil)
	tests := []struct {
		name string
		req  func() *http.Request
		want int
	}{
		{"valid", func() *http.Request { return sign(h.priv, now, body) }, 200},
		{"forged signature", func() *http.Request {
			r := sign(h.priv, now, body)
			r.Header.Set("X-Signature-Ed25519", strings.Repeat("ab", 64))
			return r
		}, 401},
		{"signed with another key", func() *http.Request { return sign(otherKey, now, body) }, 401},
		{"body changed after signing", func() *http.Request {
			r := sign(h.priv, now, body)
			changed := strings.Replace(string(body), `"type":1`, `"type":2`, 1)
			r.Body = http.NoBody
			r2 := httptest.NewRequest("POST", InteractionsPath, strings.NewReader(changed))
			r2.Header = r.Header
			return r2
		}, 401},
		{"timestamp changed after signing", func() *http.Request {
			r := sign(h.priv, now, body)
			r.Header.Set("X-Signature-Timestamp", "1")
			return r
		}, 401},
		{"stale timestamp", func() *http.Request { return sign(h.priv, now.Add(-6*time.Minute), body) }, 401},
		{"timestamp from the future", func() *http.Request { return sign(h.priv, now.Add(6*time.Minute), body) }, 401},
		{"no signature", func() *http.Request {
			r := sign(h.priv, now, body)
			r.Header.Del("X-Signature-Ed25519")
			return r
		}, 401},
		{"signature not hex", func() *http.Request {
			r := sign(h.priv, now, body)
			r.Header.Set("X-Signature-Ed25519", "zz")
			return r
		}, 401},
		{"body too large", func() *http.Request {
			return sign(h.priv, now, []byte(`{"type":1,"pad":"`+strings.Repeat("x", maxInteractionBody)+`"}`))
		}, 413},
		{"signed but not JSON", func() *http.Request { return sign(h.priv, now.Add(time.Second), []byte("{not json")) }, 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.mux.ServeHTTP(w, tc.req())
			if w.Code != tc.want {
				t.Fatalf("status=%d (%s), want %d", w.Code, strings.TrimSpace(w.Body.String()), tc.want)
			}
		})
	}
	t.Run("replay", func(t *testing.T) {
		fresh, _ := json.Marshal(map[string]any{"type": 1, "id": "1800000000000000099"})
		req := func() *http.Request { return sign(h.priv, now.Add(2*time.Second), fresh) }
		w := httptest.NewRecorder()
		h.mux.ServeHTTP(w, req())
		if w.Code != 200 {
			t.Fatalf("first=%d", w.Code)
		}
		w = httptest.NewRecorder()
		h.mux.ServeHTTP(w, req())
		if w.Code != 401 || !strings.Contains(w.Body.String(), "already received") {
			t.Fatalf("replay=%d %q, want 401", w.Code, w.Body)
		}
	})
	t.Run("GET is not allowed", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.mux.ServeHTTP(w, httptest.NewRequest("GET", InteractionsPath, nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Fatalf("status=%d", w.Code)
		}
	})
}

func TestButtonRefusedForLowRole(t *testing.T) {
	h := newHarness(t)
	i := h.press(bot.OpResolve, viewerUser, nil)
	code, resp := h.post(t, i)
	if code != 200 || resp["type"] != float64(discordgo.InteractionResponseDeferredMessageUpdate) {
		t.Fatalf("status=%d answer=%v, want a deferred update", code, resp)
	}
	f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t)
	if f["flags"] != float64(64) || !strings.HasPrefix(shown(f["content"].(string)), "Sorry, your role (viewer) does not allow you to Resolve.") {
		t.Fatalf("followup=%v, want a polite ephemeral refusal", f)
	}
	a, _ := h.st.Get(h.alert.ID)
	if a.State != workflows.StateNew {
		t.Fatalf("state=%s after a refused resolve", a.State)
	}
	log, _ := h.st.AuditLog(h.alert.ID)
	last := log[len(log)-1]
	if last.Action != "refused" || last.Actor != "discord:"+viewerUser || !strings.Contains(last.Note, "Resolve needs a higher role than viewer") {
		t.Fatalf("audit=%+v", last)
	}
	h.n.Wait()
	if got := h.f.matching("PATCH", originalPath(i)); len(got) != 0 {
		t.Fatalf("a refused action redrew the card")
	}
}

func TestButtonAcknowledgeRedrawsInPlace(t *testing.T) {
	h := newHarness(t)
	ref, _ := h.alert.Message(Name)
	i := h.press(bot.OpAcknowledge, responderUser, []string{responderRole})
	code, resp := h.post(t, i)
	if code != 200 || resp["type"] != float64(6) {
		t.Fatalf("status=%d answer=%v", code, resp)
	}
	edit := h.f.wait(t, 1, "PATCH", originalPath(i))
	if !strings.Contains(string(edit.Body), `"value":"acknowledged by \u003c@`+responderUser+`\u003e"`) {
		t.Fatalf("card not redrawn with the new state: %s", edit.Body)
	}
	f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t)
	if f["flags"] != float64(64) || !strings.Contains(f["content"].(string), "is now acknowledged by <@"+responderUser+">") {
		t.Fatalf("followup=%v", f)
	}
	a, _ := h.st.Get(h.alert.ID)
	if a.State != workflows.StateAcknowledged || a.LastActor != "discord:"+responderUser {
		t.Fatalf("alert=%s by %s", a.State, a.LastActor)
	}
	log, _ := h.st.AuditLog(h.alert.ID)
	if last := log[len(log)-1]; last.Action != "acknowledge" || last.Actor != "discord:"+responderUser {
		t.Fatalf("audit=%+v", last)
	}
	// The button was on the alert's own message: redrawn through the
	// interaction, not a second time with the bot token.
	h.n.Wait()
	if got := h.f.matching("PATCH", "/channels/"+ref.Channel+"/messages/"+ref.MessageID); len(got) != 0 {
		t.Fatalf("alert message edited twice")
	}
	// The outbox redraw that follows would draw the same card: no call.
	d := &workflows.Dispatcher{Store: h.st, Notifiers: []workflows.Notifier{h.n}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := h.f.matching("PATCH", "/channels/"+ref.Channel+"/messages/"+ref.MessageID); len(got) != 0 {
		t.Fatalf("the outbox redrew a card that already shows the state (%d edits)", len(got))
	}
}

func TestButtonOnShownCardRedrawsBoth(t *testing.T) {
	h := newHarness(t)
	ref, _ := h.alert.Message(Name)
	// The button is on an ephemeral `show` answer, not on the alert's
	// message: both are redrawn.
	i := interaction(3, map[string]any{"custom_id": bot.ActionID(bot.OpEscalate, h.alert.ID), "component_type": 2}, responderUser, []string{responderRole},
		map[string]any{"id": "1600000000000000999", "channel_id": testChannel, "flags": 64, "embeds": []any{map[string]any{"title": "card"}}})
	if code, _ := h.post(t, i); code != 200 {
		t.Fatalf("status=%d", code)
	}
	h.f.wait(t, 1, "PATCH", originalPath(i))
	main := h.f.wait(t, 1, "PATCH", "/channels/"+ref.Channel+"/messages/"+ref.MessageID)
	if !strings.Contains(string(main.Body), `escalated \\(level 1\\) by`) {
		t.Fatalf("alert message not redrawn: %s", main.Body)
	}
}

func TestTaskButtonOpensModal(t *testing.T) {
	h := newHarness(t)
	code, resp := h.post(t, h.press(bot.OpTask, responderUser, []string{responderRole}))
	data, _ := resp["data"].(map[string]any)
	if code != 200 || resp["type"] != float64(discordgo.InteractionResponseModal) || data["custom_id"] != bot.ActionID(bot.OpTask, h.alert.ID) {
		t.Fatalf("status=%d answer=%v, want the task form", code, resp)
	}
	// A viewer gets no form, but the refusal.
	i := h.press(bot.OpTask, viewerUser, nil)
	if _, resp := h.post(t, i); resp["type"] != float64(6) {
		t.Fatalf("viewer got %v", resp)
	}
	if f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t); !strings.Contains(f["content"].(string), "does not allow you to Open remediation task") {
		t.Fatalf("followup=%v", f)
	}
}

// submit is a modal submission from the alert's message.
func (h *harness) submit(op bot.Op, user string, roles []string, values map[string]string) map[string]any {
	var rows []any
	for k, v := range values {
		rows = append(rows, map[string]any{"type": 1, "components": []any{map[string]any{"type": 4, "custom_id": k, "value": v}}})
	}
	return interaction(5, map[string]any{"custom_id": bot.ActionID(op, h.alert.ID), "components": rows}, user, roles, h.cardMessage())
}

func TestModalSubmitCreatesTask(t *testing.T) {
	h := newHarness(t)
	i := h.submit(bot.OpTask, responderUser, []string{responderRole}, map[string]string{
		fieldAssignee: "<@" + assigneeUser + ">", fieldDue: "2026-12-01", fieldNotes: "Rotate the password and enforce MFA.",
	})
	code, resp := h.post(t, i)
	if code != 200 || resp["type"] != float64(6) {
		t.Fatalf("status=%d answer=%v", code, resp)
	}
	f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t)
	want := "<@" + responderUser + "> opened task `T-1` for `" + h.alert.ID + "`, assigned to <@" + assigneeUser + ">, due 2026-12-01."
	if f["content"] != want || f["flags"] != nil {
		t.Fatalf("followup=%v, want public %q", f, want)
	}
	tasks, err := h.st.ListTasks(workflows.TaskFilter{AlertID: h.alert.ID})
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks=%v err=%v", tasks, err)
	}
	task := tasks[0]
	if task.Assignee != "discord:"+assigneeUser || !task.Due.Equal(time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC)) || task.Notes != "Rotate the password and enforce MFA." || task.CreatedBy != "discord:"+responderUser {
		t.Fatalf("task=%+v", task)
	}
	log, _ := h.st.AuditLog(h.alert.ID)
	if last := log[len(log)-1]; last.Action != "task_opened" || last.TaskID != "T-1" {
		t.Fatalf("audit=%+v", last)
	}
	// `tasks mine` finds it for the assignee.
	r := h.svc.Run(context.Background(), bot.Identity{Platform: Name, UserID: assigneeUser}, bot.Viewer, bot.Command{Name: "tasks", Scope: "mine"})
	if !strings.Contains(r.Text, "`T-1`") {
		t.Fatalf("tasks mine=%q", r.Text)
	}
}

func TestModalSubmitWithMistakes(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		op     bot.Op
		values map[string]string
		want   string
	}{
		{"due not a date", bot.OpTask, map[string]string{fieldDue: "next friday"}, `the due date "next friday" is not a date like 2026-12-02.`},
		{"due in the past", bot.OpTask, map[string]string{fieldDue: "2026-11-24"}, "the due date 2026-11-24 is in the past."},
		{"due too far", bot.OpTask, map[string]string{fieldDue: "2028-01-01"}, "the due date 2028-01-01 is more than a year away."},
		{"assignee a name", bot.OpTask, map[string]string{fieldAssignee: "bob"}, `the assignee "bob" is not a Discord user.`},
		{"notes with control characters", bot.OpTask, map[string]string{fieldNotes: "a\x00b"}, "the notes field contains control characters."},
		{"suppress too short", bot.OpSuppress, map[string]string{fieldDuration: "10m"}, `suppress for between 1h and 30d, e.g. 4h or 7d (you gave "10m").`},
		{"suppress too long", bot.OpSuppress, map[string]string{fieldDuration: "31d"}, `suppress for between 1h and 30d`},
		{"suppress not a duration", bot.OpSuppress, map[string]string{fieldDuration: "a while"}, `(you gave "a while")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := h.post(t, h.submit(tc.op, analystUser, []string{analystRole}, tc.values))
			data, _ := resp["data"].(map[string]any)
			if resp["type"] != float64(4) || data["flags"] != float64(64) || !strings.Contains(shown(data["content"].(string)), tc.want) || !strings.HasPrefix(data["content"].(string), "Nothing was changed: ") {
				t.Fatalf("answer=%v, want an ephemeral message with %q", resp, tc.want)
			}
			again := mustJSON(t, data["components"])
			if !strings.Contains(string(again), `"custom_id":"`+bot.ActionID(tc.op, h.alert.ID)+`"`) {
				t.Fatalf("no button to open the form again: %s", again)
			}
		})
	}
	if tasks, _ := h.st.ListTasks(workflows.TaskFilter{}); len(tasks) != 0 {
		t.Fatalf("a form with mistakes created %d tasks", len(tasks))
	}
	if a, _ := h.st.Get(h.alert.ID); a.State != workflows.StateNew {
		t.Fatalf("a form with mistakes changed the alert to %s", a.State)
	}
}

func TestSuppressModal(t *testing.T) {
	h := newHarness(t)
	i := h.submit(bot.OpSuppress, analystUser, []string{analystRole}, map[string]string{fieldDuration: "2d", fieldReason: "red team exercise this week"})
	if _, resp := h.post(t, i); resp["type"] != float64(6) {
		t.Fatalf("answer=%v", resp)
	}
	edit := h.f.wait(t, 1, "PATCH", originalPath(i))
	if !strings.Contains(string(edit.Body), `suppressed until 2026-11-27 12:00 UTC by \u003c@`+analystUser) {
		t.Fatalf("card=%s", edit.Body)
	}
	a, _ := h.st.Get(h.alert.ID)
	if a.State != workflows.StateSuppressed || !a.SuppressedUntil.Equal(now.Add(48*time.Hour)) {
		t.Fatalf("alert=%s until %s", a.State, a.SuppressedUntil)
	}
	sls, _ := h.st.Silences(now)
	if len(sls) != 1 || sls[0].Reason != "red team exercise this week" || sls[0].CreatedBy != "discord:"+analystUser {
		t.Fatalf("silences=%+v", sls)
	}
}

// TestDeferredBeforeSlowWork proves the acknowledgement does not wait for
// the work: the digest is blocked until the test has the HTTP answer.
func TestDeferredBeforeSlowWork(t *testing.T) {
	h := newHarness(t)
	started, release := make(chan struct{}), make(chan struct{})
	h.svc.Digest = func(ctx context.Context, since time.Duration) (string, error) {
		close(started)
		<-release
		return "Digest for the last " + since.String(), nil
	}
	i := slash(viewerUser, nil, "digest", map[string]string{"since": "7d"})
	code, resp := h.post(t, i)
	if code != 200 || resp["type"] != float64(5) || resp["data"] != nil {
		t.Fatalf("status=%d answer=%v, want a public deferred answer", code, resp)
	}
	<-started
	if got := h.f.matching("PATCH", originalPath(i)); len(got) != 0 {
		t.Fatalf("answered before the work was done")
	}
	close(release)
	edit := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
	if edit["content"] != "Digest for the last 168h0m0s" {
		t.Fatalf("edit=%v", edit)
	}
}

func TestSlashCommandBadArguments(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name string
		sub  string
		opts map[string]string
		want string
	}{
		{"not an alert id", "show", map[string]string{"id": "alert-12"}, "\"alert-12\" is not an alert id (like TH-12). Usage: `/trailhound show ALERT-ID`"},
		{"two words", "ack", map[string]string{"id": "TH-1 TH-2"}, "id must be one word, not \"TH-1 TH-2\". Usage: `/trailhound ack ALERT-ID`"},
		{"bad duration", "findings", map[string]string{"since": "forever"}, "\"forever\" is not a duration like 24h or 7d. Usage: `/trailhound findings"},
		{"silence too long", "silence", map[string]string{"rule": "aws-root-account-use", "duration": "120d"}, "a silence lasts at most 90 days. Usage: `/trailhound silence RULE-ID|rule=ID|principal=NAME|account=ID|alert=TH-12 [...] DURATION [reason]`"},
		{"unknown option", "sources", map[string]string{"verbose": "yes"}, "unknown option \"verbose\". Usage: `/trailhound sources`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, resp := h.post(t, slash(analystUser, []string{analystRole}, tc.sub, tc.opts))
			data, _ := resp["data"].(map[string]any)
			if resp["type"] != float64(4) || data["flags"] != float64(64) || !strings.HasPrefix(shown(data["content"].(string)), tc.want) {
				t.Fatalf("answer=%v, want ephemeral %q", resp, tc.want)
			}
		})
	}
}

func TestSlashCommands(t *testing.T) {
	h := newHarness(t)
	ref, _ := h.alert.Message(Name)

	t.Run("findings is private", func(t *testing.T) {
		i := slash(viewerUser, nil, "findings", map[string]string{"since": "2h", "severity": "medium"})
		_, resp := h.post(t, i)
		if resp["type"] != float64(5) || resp["data"].(map[string]any)["flags"] != float64(64) {
			t.Fatalf("answer=%v", resp)
		}
		edit := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
		if c := edit["content"].(string); !strings.Contains(c, "`"+h.alert.ID+"` MEDIUM new: Console sign-in without MFA") {
			t.Fatalf("findings=%q", c)
		}
	})
	t.Run("show gives the card", func(t *testing.T) {
		i := slash(viewerUser, nil, "show", map[string]string{"id": strings.ToLower(h.alert.ID)})
		h.post(t, i)
		edit := h.f.wait(t, 1, "PATCH", originalPath(i))
		if !strings.Contains(string(edit.Body), `"title":"[MEDIUM] Console sign-in without MFA"`) || !strings.Contains(string(edit.Body), `"custom_id":"trailhound:ack:`+h.alert.ID+`"`) {
			t.Fatalf("show=%s", edit.Body)
		}
	})
	t.Run("ack redraws the alert message", func(t *testing.T) {
		i := slash(responderUser, []string{responderRole}, "ack", map[string]string{"id": h.alert.ID})
		h.post(t, i)
		edit := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
		if !strings.Contains(edit["content"].(string), "is now acknowledged by <@"+responderUser+">") {
			t.Fatalf("answer=%v", edit)
		}
		main := h.f.wait(t, 1, "PATCH", "/channels/"+ref.Channel+"/messages/"+ref.MessageID)
		if !strings.Contains(string(main.Body), "acknowledged by") {
			t.Fatalf("alert message=%s", main.Body)
		}
	})
	t.Run("refused public command is answered privately", func(t *testing.T) {
		i := slash(viewerUser, nil, "silence", map[string]string{"rule": "aws-console-login-without-mfa", "duration": "2h", "reason": "maintenance window"})
		_, resp := h.post(t, i)
		if resp["type"] != float64(5) || resp["data"] != nil {
			t.Fatalf("answer=%v, want a public deferral", resp)
		}
		h.f.wait(t, 1, "DELETE", originalPath(i))
		f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t)
		if f["flags"] != float64(64) || !strings.HasPrefix(shown(f["content"].(string)), "Sorry, your role (viewer) does not allow you to use `silence`") {
			t.Fatalf("followup=%v", f)
		}
		if sls, _ := h.st.Silences(now); len(sls) != 0 {
			t.Fatalf("a viewer silenced a rule")
		}
	})
	t.Run("silence by an analyst is public", func(t *testing.T) {
		i := slash(analystUser, []string{analystRole}, "silence", map[string]string{"rule": "aws-console-login-without-mfa", "duration": "2h", "reason": "maintenance window"})
		h.post(t, i)
		edit := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
		if c := edit["content"].(string); !strings.HasPrefix(c, "<@"+analystUser+"> silenced rule `aws-console-login-without-mfa` until 2026-11-25 14:00 UTC") {
			t.Fatalf("answer=%q", c)
		}
	})
	t.Run("help works without a role", func(t *testing.T) {
		h.n.Wait()
		h.n.cfg.Roles = bot.Policy{} // nobody has a role any more
		i := slash(viewerUser, nil, "help", nil)
		h.post(t, i)
		if c := h.f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)["content"].(string); !strings.Contains(c, "/trailhound findings [since 24h]") {
			t.Fatalf("help=%q", c)
		}
	})
}

func TestOtherGuildIsRefused(t *testing.T) {
	h := newHarness(t)
	i := h.press(bot.OpAcknowledge, responderUser, []string{responderRole})
	i["guild_id"] = "1200000000000000099"
	_, resp := h.post(t, i)
	if data, _ := resp["data"].(map[string]any); resp["type"] != float64(4) || data["content"] != "Trailhound is not set up for this server." {
		t.Fatalf("answer=%v", resp)
	}
	if a, _ := h.st.Get(h.alert.ID); a.State != workflows.StateNew {
		t.Fatalf("state=%s", a.State)
	}
}

func TestRegisterCommands(t *testing.T) {
	h := newHarness(t)
	put := h.f.wait(t, 1, "PUT", "/applications/"+testApp+"/guilds/"+testGuild+"/commands")
	var cmds []json.RawMessage
	if err := json.Unmarshal(put.Body, &cmds); err != nil || len(cmds) != 1 {
		t.Fatalf("registered %s", put.Body)
	}
	if string(cmds[0]) != string(mustJSON(t, applicationCommand())) {
		t.Fatalf("registered command differs from applicationCommand()")
	}
}

func TestApplicationIDLookedUp(t *testing.T) {
	f := newFakeDiscord(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	cfg := testConfig(f, pub)
	cfg.ApplicationID, cfg.GuildID = "", ""
	n, err := New(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := n.Start(ctx, &bot.Service{}, http.NewServeMux()); err != nil {
		t.Fatal(err)
	}
	f.wait(t, 1, "GET", "/oauth2/applications/@me")
	f.wait(t, 1, "PUT", "/applications/"+testApp+"/commands")
}

func TestStartFailsClearlyWithBadToken(t *testing.T) {
	f := newFakeDiscord(t)
	f.on("PUT /applications/"+testApp+"/guilds/"+testGuild+"/commands", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(401)
		_, _ = w.Write([]byte(`{"message":"401: Unauthorized","code":0}`))
	})
	pub, _, _ := ed25519.GenerateKey(nil)
	n, _ := New(testConfig(f, pub), nil, slog.New(slog.DiscardHandler))
	err := n.Start(context.Background(), &bot.Service{}, http.NewServeMux())
	want := "discord: register /trailhound at " + f.apiURL() + "applications/" + testApp + "/guilds/" + testGuild + "/commands: HTTP 401 Unauthorized"
	if err == nil || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), testToken) {
		t.Fatalf("err=%v, want %q", err, want)
	}
}

func TestInteractionTokenNotLogged(t *testing.T) {
	h := newHarness(t)
	// The followup cannot reach Discord: the client's error names the URL,
	// which holds the interaction token.
	i := h.press(bot.OpResolve, viewerUser, nil)
	h.f.on("POST "+followupPath(i), func(w http.ResponseWriter, r *http.Request) {
		hj, _ := w.(http.Hijacker)
		conn, _, _ := hj.Hijack()
		conn.Close()
	})
	h.post(t, i)
	h.n.Wait()
	logs := h.logs.String()
	if !strings.Contains(logs, "answer action") {
		t.Fatalf("failure not logged: %s", logs)
	}
	if strings.Contains(logs, i["token"].(string)) {
		t.Fatalf("interaction token in the logs: %s", logs)
	}
}

func TestIdentity(t *testing.T) {
	i := &discordgo.Interaction{Member: &discordgo.Member{Nick: "Al", Roles: []string{analystRole}, User: &discordgo.User{ID: analystUser, Username: "al"}}}
	id, ok := identityOf(i)
	if !ok || id.Platform != "discord" || id.UserID != analystUser || id.Name != "Al" || len(id.Groups) != 1 || id.Actor() != "discord:"+analystUser {
		t.Fatalf("identity=%+v", id)
	}
	dm := &discordgo.Interaction{User: &discordgo.User{ID: viewerUser, Username: "v"}}
	if id, ok := identityOf(dm); !ok || id.UserID != viewerUser || id.Name != "v" || id.Groups != nil {
		t.Fatalf("dm identity=%+v", id)
	}
	if _, ok := identityOf(&discordgo.Interaction{}); ok {
		t.Fatal("an interaction with no user has an identity")
	}
}

// BenchmarkSignedInteractions measures the HTTP endpoint answering signed
// interactions concurrently: signature check, replay check, parsing and
// the deferred acknowledgement (the Discord 3-second budget). "ping" is
// the endpoint alone; "button" also queues the background work.
func BenchmarkSignedInteractions(b *testing.B) {
	for _, kind := range []string{"ping", "button"} {
		b.Run(kind, func(b *testing.B) {
			h := newHarness(b)
			reqs := make([]*http.Request, b.N)
			for k := range reqs {
				var i map[string]any
				if kind == "ping" {
					i = ping()
					i["id"] = fmt.Sprint(1800000000000000000 + k)
				} else {
					i = h.press(bot.OpEscalate, viewerUser, nil)
				}
				body, _ := json.Marshal(i)
				reqs[k] = sign(h.priv, now, body)
			}
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					w := httptest.NewRecorder()
					h.mux.ServeHTTP(w, reqs[next.Add(1)-1])
					if w.Code != 200 {
						b.Errorf("status=%d %s", w.Code, w.Body)
					}
				}
			})
			b.StopTimer()
			h.n.Wait()
		})
	}
}

func TestPanicInWorkStillAnswers(t *testing.T) {
	h := newHarness(t)
	h.svc.Digest = func(context.Context, time.Duration) (string, error) { panic("digest chart failed") }
	i := slash(viewerUser, nil, "digest", nil)
	if _, resp := h.post(t, i); resp["type"] != float64(5) {
		t.Fatalf("answer=%v", resp)
	}
	f := h.f.wait(t, 1, "POST", followupPath(i)).JSON(t)
	if !strings.HasPrefix(f["content"].(string), "Something went wrong on our side") {
		t.Fatalf("followup=%v", f)
	}
	if logs := h.logs.String(); !strings.Contains(logs, "interaction work panicked") {
		t.Fatalf("panic not logged: %s", logs)
	}
}
