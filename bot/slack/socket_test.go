package slack

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// TestSocketMode drives the adapter over a real websocket speaking Slack's
// Socket Mode: envelopes in, acknowledgements (with their payloads) out.
func TestSocketMode(t *testing.T) {
	h := newHarness(t, func(c *Config) {
		c.Mode, c.AppToken, c.SigningSecret = ModeSocket, configs.NewSecret("xapp-test-token"), configs.Secret{}
	})
	h.start()
	a, ref := h.posted()

	// A mistyped command: the usage line comes back in the ack itself.
	cmd := map[string]any{
		"token": "unused", "team_id": "T1", "channel_id": "C0SECURITY", "user_id": "U0VIEWER", "user_name": "viewer",
		"command": "/trailhound", "text": "tasks everything", "response_url": h.fake.url() + "response/sock", "trigger_id": nextTrigger(),
	}
	h.fake.sendEnvelope(t, "slash_commands", "env-1", cmd)
	ack := h.fake.awaitAck(t)
	if ack.EnvelopeID != "env-1" {
		t.Fatalf("ack for %q, want env-1", ack.EnvelopeID)
	}
	var p map[string]any
	if err := json.Unmarshal(ack.Payload, &p); err != nil {
		t.Fatalf("ack payload %s: %v", ack.Payload, err)
	}
	if p["response_type"] != "ephemeral" || !strings.Contains(p["text"].(string), "Usage: `/trailhound tasks [mine|open|overdue|all]`") {
		t.Errorf("ack payload=%v, want the ephemeral usage line", p)
	}

	// A button: acknowledged empty at once, then applied and redrawn.
	h.fake.sendEnvelope(t, "interactive", "env-2", h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref))
	if ack := h.fake.awaitAck(t); ack.EnvelopeID != "env-2" || (len(ack.Payload) != 0 && string(ack.Payload) != "null") {
		t.Fatalf("ack=%+v, want an empty ack of env-2", ack)
	}
	// The same envelope redelivered (Slack retries unacknowledged ones)
	// is acknowledged again but not applied twice.
	h.fake.sendEnvelope(t, "interactive", "env-2", h.buttonPayload("U0RESP", bot.OpAcknowledge, a.ID, ref))
	h.fake.awaitAck(t)

	// A mention through the Events API.
	ev := map[string]any{
		"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback", "event_id": "Ev0SOCK", "event_time": 1767605400,
		"event": map[string]any{"type": "app_mention", "user": "U0VIEWER", "text": "<@UBOT> tasks", "ts": "1767605400.000200", "channel": "C0SECURITY"},
	}
	h.fake.sendEnvelope(t, "events_api", "env-3", ev)
	if ack := h.fake.awaitAck(t); ack.EnvelopeID != "env-3" {
		t.Fatalf("ack for %q, want env-3", ack.EnvelopeID)
	}
	waitFor(t, func() bool { return len(h.fake.ephemeralsCopy()) == 1 })
	h.n.Wait()

	got := h.alert(a.ID)
	if got.State != workflows.StateAcknowledged || got.LastActor != "slack:U0RESP" {
		t.Fatalf("state=%s by %s, want acknowledged by slack:U0RESP", got.State, got.LastActor)
	}
	if n := len(audits(t, h, a.ID, "acknowledge")); n != 1 {
		t.Errorf("%d acknowledge entries, want 1", n)
	}
	if ups := h.fake.updatesOf(ref.MessageID); len(ups) == 0 || !strings.Contains(string(ups[0].Attachments), "acknowledged by <@U0RESP>") {
		t.Errorf("message not redrawn after the socket-mode button")
	}
	if eph := h.fake.ephemeralsCopy(); eph[0].Get("text") != "No open tasks." {
		t.Errorf("mention answer=%q", eph[0].Get("text"))
	}
}
