package discord

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/trailhound/trailhound/bot"
)

// FuzzInteraction posts correctly signed interactions with arbitrary JSON
// bodies: the endpoint must never fail with a server error or panic.
func FuzzInteraction(f *testing.F) {
	h := newHarness(f)
	for _, i := range []map[string]any{
		h.press(bot.OpAcknowledge, responderUser, []string{responderRole}),
		h.press(bot.OpTask, analystUser, []string{analystRole}),
		slash(viewerUser, nil, "findings", map[string]string{"since": "24h"}),
		{"type": 1, "id": "1", "application_id": testApp},
		{"type": 5, "data": map[string]any{"custom_id": "trailhound:task:TH-1", "components": []any{}}},
	} {
		b, _ := json.Marshal(i)
		f.Add(b)
	}
	f.Add([]byte(`{"type":3,"data":{"custom_id":"trailhound:ack:TH-1"},"member":null}`))
	f.Add([]byte(`{"type":2,"data":{"options":[{"options":[{"value":{}}]}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w := httptest.NewRecorder()
		h.mux.ServeHTTP(w, sign(h.priv, now, body))
		if w.Code >= 500 {
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		}
	})
}
