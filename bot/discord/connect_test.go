package discord

import (
	"context"
	"crypto/ed25519"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
)

// TestStartRetriesUntilDiscordAnswers starts the notifier while the API
// drops every connection: Start returns without error, Ready says what is
// failing and names the URL actually called (the api_url, not
// https://discord.com/api/v9/...), and once the API answers the lookup and
// the command registration are retried and Ready is nil. Before the fix
// Start returned the error and `trailhound run` exited.
func TestStartRetriesUntilDiscordAnswers(t *testing.T) {
	f := newFakeDiscord(t)
	var down atomic.Bool
	down.Store(true)
	var failed atomic.Int32
	drop := func(next http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if down.Load() {
				failed.Add(1)
				conn, _, _ := w.(http.Hijacker).Hijack()
				conn.Close()
				return
			}
			next(w, r)
		}
	}
	f.on("GET /oauth2/applications/@me", drop(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"id":"` + testApp + `","name":"Trailhound"}`))
	}))
	pub, _, _ := ed25519.GenerateKey(nil)
	cfg := testConfig(f, pub)
	cfg.ApplicationID = ""
	n, err := New(cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n.backoff = func(int) time.Duration { return 20 * time.Millisecond }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mux := http.NewServeMux()
	if err := n.Start(ctx, &bot.Service{}, mux); err != nil {
		t.Fatalf("Start with Discord unreachable: %v, want nil (retry in the background)", err)
	}
	err = n.Ready()
	if err == nil {
		t.Fatal("ready while Discord is unreachable")
	}
	t.Logf("Ready() while down: %v", err)
	if !strings.Contains(err.Error(), f.apiURL()+"oauth2/applications/@me") || strings.Contains(err.Error(), "discord.com") {
		t.Fatalf("Ready()=%v, want the URL called (%s...), not discord.com", err, f.apiURL())
	}
	// The endpoint is served meanwhile.
	if _, pattern := mux.Handler(httpRequest(InteractionsPath)); pattern == "" {
		t.Fatal("interactions endpoint not registered while Discord is unreachable")
	}
	deadline := time.Now().Add(10 * time.Second)
	for failed.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts in 10s, want retries", failed.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	down.Store(false)
	for n.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready 10s after Discord came back: %v", n.Ready())
		}
		time.Sleep(5 * time.Millisecond)
	}
	f.wait(t, 1, "PUT", "/applications/"+testApp+"/guilds/"+testGuild+"/commands")
}

func httpRequest(path string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://x"+path, nil)
	return r
}
