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

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/workflows"
)

// TestAskActorByDirectMessage: the person behind the sign-in is asked in a
// direct message "was this you?"; their answer reaches the store and the
// question loses its buttons.
func TestAskActorByDirectMessage(t *testing.T) {
	f := newFakeDiscord(t)
	pub, priv, _ := ed25519.GenerateKey(nil)
	st, err := workflows.NewStore(testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(testConfig(f, pub), st.DB(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return now }
	st.Now = func() time.Time { return now }
	st.Config = workflows.DefaultConfig()
	st.Config.AskActor.Rules = []string{"aws-console-login-without-mfa"}
	st.Config.AskActor.Users = []workflows.ActorUser{{Principal: "stratus-red-team-*", Discord: assigneeUser}}
	finding := stratusFinding(t)
	finding.Time = now.Add(-time.Hour)
	if err := st.DB().Update(func(tx *bolt.Tx) error { _, err := st.Ingest(tx, []detectors.Finding{finding}); return err }); err != nil {
		t.Fatal(err)
	}
	svc := &bot.Service{Store: st, Now: func() time.Time { return now }}
	mux := http.NewServeMux()
	ctx, cancel := context.WithCancel(context.Background())
	defer func() { cancel(); n.Wait() }()
	if err := n.Start(ctx, svc, mux); err != nil {
		t.Fatal(err)
	}
	d := &workflows.Dispatcher{Store: st, Notifiers: []workflows.Notifier{n}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	dm := "17" + assigneeUser[2:]
	question := f.wait(t, 1, "POST", "/channels/"+dm+"/messages")
	if !strings.Contains(string(question.Body), `"custom_id":"trailhound:mine:TH-1"`) || !strings.Contains(string(question.Body), `"custom_id":"trailhound:not_mine:TH-1"`) {
		t.Fatalf("question=%s", question.Body)
	}
	// The answer comes from the DM: a user, no member, no guild.
	i := map[string]any{"id": "1800000000000000500", "application_id": testApp, "type": 3, "channel_id": dm, "token": "dm-token", "version": 1,
		"user":    map[string]any{"id": assigneeUser, "username": "stratus"},
		"data":    map[string]any{"custom_id": "trailhound:mine:TH-1", "component_type": 2},
		"message": map[string]any{"id": "1600000000000000123", "channel_id": dm, "content": "Was this you?"}}
	body, _ := json.Marshal(i)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, sign(priv, now, body))
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"type":6`) {
		t.Fatalf("status=%d %s", w.Code, w.Body)
	}
	edit := f.wait(t, 1, "PATCH", originalPath(i)).JSON(t)
	if comps, ok := edit["components"].([]any); !ok || len(comps) != 0 {
		t.Fatalf("answered question keeps its buttons: %v", edit)
	}
	if c := f.wait(t, 1, "POST", followupPath(i)).JSON(t)["content"].(string); !strings.HasPrefix(c, "Thank you for confirming.") {
		t.Fatalf("followup=%q", c)
	}
	a, _ := st.Get("TH-1")
	if a.ActorAnswer != "confirmed" {
		t.Fatalf("answer=%q", a.ActorAnswer)
	}
}
