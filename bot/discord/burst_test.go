package discord

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/workflows"
)

// TestEscalateBurst presses Escalate 500 times on one alert, as one
// responder, through the signed interactions endpoint, with the default
// redraw window and channel budget, and the outbox running alongside. The
// alert has no escalation policy, so one escalation is applied: one more
// card is posted, the card is edited a few times, and the 499 refused
// presses are each answered privately, as the applied one is. Before the fix every press posted
// another card and redrew every copy.
func TestEscalateBurst(t *testing.T) {
	const presses = 500
	h := newHarness(t)
	h.n.redraws = bot.NewRedrawer(Name, 0)
	h.n.budget = bot.NewBudget(Name, 0, 0)
	ref, _ := h.alert.Message(Name)
	bodies := make([][]byte, presses)
	for i := range bodies {
		b, err := json.Marshal(h.press(bot.OpEscalate, responderUser, []string{responderRole}))
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = b
	}
	stop := make(chan struct{})
	dispatched := make(chan struct{})
	go func() {
		defer close(dispatched)
		d := &workflows.Dispatcher{Store: h.st, Notifiers: []workflows.Notifier{h.n}, Log: h.svc.Log}
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := d.Dispatch(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	var wg sync.WaitGroup
	next := make(chan []byte)
	for range 25 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				w := httptest.NewRecorder()
				h.mux.ServeHTTP(w, sign(h.priv, now, body))
				if w.Code != 200 {
					t.Errorf("press: status %d: %s", w.Code, w.Body)
				}
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	h.n.Wait()
	close(stop)
	<-dispatched
	d := &workflows.Dispatcher{Store: h.st, Notifiers: []workflows.Notifier{h.n}, Log: h.svc.Log}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}

	var posts, edits, followups int
	for _, r := range h.f.requests() {
		switch {
		case r.Method == "POST" && strings.HasPrefix(r.Path, "/channels/") && strings.HasSuffix(r.Path, "/messages"):
			posts++
		case r.Method == "PATCH" && (strings.HasPrefix(r.Path, "/channels/") || strings.HasSuffix(r.Path, "/@original")):
			edits++
		case r.Method == "POST" && strings.HasPrefix(r.Path, "/webhooks/"):
			followups++
		}
	}
	t.Logf("%d presses: %d card posts (1 + escalations), %d card edits, %d private answers", presses, posts, edits, followups)
	if posts > 2 {
		t.Errorf("card posts=%d, want at most 2: the card and one escalation", posts)
	}
	// One change on one card: redrawn at most twice (the press and the
	// outbox).
	if edits > 2 {
		t.Errorf("card edits=%d, want at most 2", edits)
	}
	if followups != presses {
		t.Errorf("private answers=%d, want one per press (%d)", followups, presses)
	}
	log, _ := h.st.AuditLog(h.alert.ID)
	counts := map[string]int{}
	for _, e := range log {
		counts[e.Action]++
	}
	if counts["escalate"] != 1 || counts["refused"] != presses-1 {
		t.Errorf("audit: %d escalate, %d refused; want 1 and %d", counts["escalate"], counts["refused"], presses-1)
	}
	// Discord does not redraw escalation copies: the alert keeps its one
	// card.
	if a, _ := h.st.Get(h.alert.ID); a.EscalationLevel != 1 || len(a.MessagesOn(Name)) != 1 || a.Messages[0] != ref {
		t.Errorf("alert: level %d, %d cards, want 1 and 1", a.EscalationLevel, len(a.MessagesOn(Name)))
	}
}
