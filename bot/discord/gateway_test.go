package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// fakeGateway is a websocket server speaking the start of Discord's
// gateway protocol: Hello, Identify, Ready, then the dispatches the test
// sends.
type fakeGateway struct {
	srv      *httptest.Server
	identify chan map[string]any
	send     chan map[string]any
}

func newFakeGateway(t *testing.T) *fakeGateway {
	t.Helper()
	g := &fakeGateway{identify: make(chan map[string]any, 1), send: make(chan map[string]any, 4)}
	up := websocket.Upgrader{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if err := c.WriteJSON(map[string]any{"op": 10, "d": map[string]any{"heartbeat_interval": 45000}}); err != nil {
			return
		}
		for {
			var m map[string]any
			if err := c.ReadJSON(&m); err != nil {
				return
			}
			if m["op"] == float64(2) {
				g.identify <- m
				break
			}
		}
		seq := 1
		ready := map[string]any{"op": 0, "t": "READY", "s": seq, "d": map[string]any{
			"v": 10, "session_id": "fake-session", "resume_gateway_url": "ws://" + r.Host,
			"user": map[string]any{"id": "1300000000000000001", "username": "Trailhound", "bot": true}, "guilds": []any{},
		}}
		if err := c.WriteJSON(ready); err != nil {
			return
		}
		go func() { // read heartbeats and the close frame
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		for {
			select {
			case d := <-g.send:
				seq++
				if err := c.WriteJSON(map[string]any{"op": 0, "t": "INTERACTION_CREATE", "s": seq, "d": d}); err != nil {
					return
				}
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(g.srv.Close)
	return g
}

func TestGatewayInteraction(t *testing.T) {
	f := newFakeDiscord(t)
	g := newFakeGateway(t)
	f.on("GET /gateway", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"url": "ws://" + strings.TrimPrefix(g.srv.URL, "http://")})
	})
	pub, _, _ := ed25519.GenerateKey(nil)
	cfg := testConfig(f, pub)
	cfg.Mode = ModeGateway
	st, a := newStore(t)
	n, err := New(cfg, st.DB(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc := &bot.Service{Store: st, Now: func() time.Time { return now }}
	d := &workflows.Dispatcher{Store: st, Notifiers: []workflows.Notifier{n}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, _ = st.Get(a.ID)
	ref, _ := a.Message(Name)

	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	mux := http.NewServeMux()
	if err := n.Start(ctx, svc, mux); err != nil {
		t.Fatal(err)
	}
	id := <-g.identify
	data, _ := id["d"].(map[string]any)
	if data["token"] != "Bot "+testToken || data["intents"] != float64(discordgo.IntentsGuilds) {
		t.Fatalf("identify token ok=%v intents=%v", data["token"] == "Bot "+testToken, data["intents"])
	}
	// The HTTP endpoint is not served in gateway mode.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", InteractionsPath, nil))
	if w.Code != http.StatusNotFound {
		t.Fatalf("interactions endpoint served in gateway mode: %d", w.Code)
	}

	i := interaction(3, map[string]any{"custom_id": bot.ActionID(bot.OpAcknowledge, a.ID), "component_type": 2}, responderUser, []string{responderRole},
		map[string]any{"id": ref.MessageID, "channel_id": ref.Channel, "embeds": []any{map[string]any{"title": "card"}}})
	g.send <- i
	cb := f.wait(t, 1, "POST", "/interactions/"+i["id"].(string)+"/"+i["token"].(string)+"/callback").JSON(t)
	if cb["type"] != float64(discordgo.InteractionResponseDeferredMessageUpdate) {
		t.Fatalf("callback=%v, want a deferred update", cb)
	}
	edit := f.wait(t, 1, "PATCH", originalPath(i))
	if !strings.Contains(string(edit.Body), `acknowledged by \u003c@`+responderUser) {
		t.Fatalf("edit=%s", edit.Body)
	}
	if got, _ := st.Get(a.ID); got.State != workflows.StateAcknowledged {
		t.Fatalf("state=%s", got.State)
	}
}
