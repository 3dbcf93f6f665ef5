package slack

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot"
)

// FuzzInteractionPayload posts correctly signed interaction requests with
// arbitrary payloads: the endpoint must never fail with a server error or
// panic, whatever the JSON says.
func FuzzInteractionPayload(f *testing.F) {
	h := newHarness(f)
	h.start()
	a, ref := h.posted()
	for _, op := range []bot.Op{bot.OpAcknowledge, bot.OpTask, bot.OpSuppress} {
		b, _ := json.Marshal(h.buttonPayload("U0RESP", op, a.ID, ref))
		f.Add(string(b))
	}
	f.Add(`{"type":"view_submission","user":{"id":"U0RESP"},"view":{"callback_id":"trailhound:task:TH-1","private_metadata":"{}","state":{"values":{}}}}`)
	f.Add(`{"type":"block_actions","actions":[{"action_id":"trailhound:ack:TH-99999999999"}]}`)
	f.Add(`{"type":"block_actions","actions":null}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, payload string) {
		body := url.Values{"payload": {payload}}.Encode()
		req := httptest.NewRequest(http.MethodPost, PathInteractions, strings.NewReader(body))
		req.Header = sign(testSecret, h.clock.now(), body)
		w := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for payload %q: %s", w.Code, payload, w.Body)
		}
	})
}

// FuzzSlashCommand posts correctly signed slash commands with arbitrary
// text and form fields.
func FuzzSlashCommand(f *testing.F) {
	h := newHarness(f)
	h.start()
	f.Add("findings since 24h severity high", "U0VIEWER")
	f.Add("silence aws-root-account-use 2h drill", "U0ANALYST")
	f.Add("ack TH-1", "")
	f.Add("\x00\xff", "U0RESP")
	f.Fuzz(func(t *testing.T, text, user string) {
		body := commandBody(h, user, text)
		req := httptest.NewRequest(http.MethodPost, PathCommands, strings.NewReader(body))
		req.Header = sign(testSecret, h.clock.now(), body)
		w := httptest.NewRecorder()
		h.srv.Config.Handler.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("status %d for %q from %q: %s", w.Code, text, user, w.Body)
		}
	})
}
