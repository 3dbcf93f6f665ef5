package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/workflows"
)

// TestReplayAfterRestart replays a signed /trailhound silence interaction:
// at once (refused), then after the bot restarts on the same database, 8
// seconds after signing. The signatures and interaction ids seen are kept
// in bbolt, so the second replay is refused too and there is one silence.
// Before the fix they lived in memory and the replay created another.
func TestReplayAfterRestart(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeDiscord(t)
	path := filepath.Join(t.TempDir(), "trailhound.db")
	type bot_ struct {
		db   *bolt.DB
		st   *workflows.Store
		n    *Notifier
		mux  *http.ServeMux
		stop func()
	}
	start := func(at time.Time) bot_ {
		t.Helper()
		db := testdb.OpenAt(t, path)
		st, err := workflows.NewStore(db)
		if err != nil {
			t.Fatal(err)
		}
		st.Now = func() time.Time { return at }
		n, err := New(testConfig(f, pub), db, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		n.now = func() time.Time { return at }
		fastRedraws(n)
		mux := http.NewServeMux()
		ctx, cancel := context.WithCancel(context.Background())
		if err := n.Start(ctx, &bot.Service{Store: st, Now: st.Now, Log: slog.New(slog.DiscardHandler)}, mux); err != nil {
			t.Fatal(err)
		}
		return bot_{db, st, n, mux, func() { cancel(); n.Wait(); testdb.Close(t, db) }}
	}
	body, err := json.Marshal(slash(analystUser, []string{analystRole}, "silence", map[string]string{"rule": "aws-root-account-use", "duration": "2h", "reason": "planned work"}))
	if err != nil {
		t.Fatal(err)
	}
	send := func(b bot_) int {
		w := httptest.NewRecorder()
		b.mux.ServeHTTP(w, sign(priv, now, body))
		b.n.Wait()
		return w.Code
	}
	silences := func(b bot_) int {
		sls, err := b.st.Silences(now)
		if err != nil {
			t.Fatal(err)
		}
		return len(sls)
	}

	first := start(now)
	if code := send(first); code != http.StatusOK {
		t.Fatalf("command: status %d", code)
	}
	if code := send(first); code != http.StatusUnauthorized {
		t.Fatalf("replay: status %d, want 401", code)
	}
	if n := silences(first); n != 1 {
		t.Fatalf("silences=%d, want 1", n)
	}
	first.stop()

	again := start(now.Add(8 * time.Second))
	defer again.stop()
	if code := send(again); code != http.StatusUnauthorized {
		t.Fatalf("replay after restart: status %d, want 401", code)
	}
	if n := silences(again); n != 1 {
		t.Fatalf("silences=%d after a replay across a restart, want 1", n)
	}
}
