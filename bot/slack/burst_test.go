package slack

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/workflows"
)

// escalateBurstPresses is how many times TestEscalateBurst presses
// Escalate on one alert.
const escalateBurstPresses = 500

// TestEscalateBurst presses Escalate 500 times on one alert, as one
// responder, through the signed HTTP endpoint, with the default redraw
// window and channel budget, then delivers the outbox and counts the calls
// the fake Slack received. Only as many escalations as the policy has
// levels are applied (the rest are refused, audited and answered
// privately), so the alert posts at most one card per level, and the
// cards are redrawn a few times per change, not once per press per copy:
// before the fix, 40 presses made 40 posts and 1,332 chat.update calls.
func TestEscalateBurst(t *testing.T) {
	tests := []struct {
		name     string
		yaml     string
		levels   int
		channels []string
	}{
		{"no policy", "workflows: {}\n", 1, []string{"C0SECURITY", "C0SECURITY"}},
		{"two levels", `
workflows:
  escalation:
    policies:
      - name: oncall
        levels:
          - {after: 30m, targets: [{notifier: slack, channel: C0LEADS, mentions: [U0LEAD]}]}
          - {after: 1h, targets: [{notifier: slack, channel: C0CISO}]}
    by_severity: {info: oncall}
`, 2, []string{"C0SECURITY", "C0LEADS", "C0CISO"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.n.redraws = bot.NewRedrawer(Name, 0)
			h.n.budget = bot.NewBudget(Name, 0, 0)
			cfg, err := configs.Parse([]byte(tc.yaml), "test.yaml", func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			if h.store.Config, err = workflows.LoadConfig(cfg.Workflows, []string{Name}); err != nil {
				t.Fatal(err)
			}
			h.start()
			a, ref := h.posted()
			bodies := make([]string, escalateBurstPresses)
			for i := range bodies {
				bodies[i] = interactionBody(h.buttonPayload("U0RESP", bot.OpEscalate, a.ID, ref))
			}
			// 25 clients press as fast as they can; the outbox runs
			// alongside, as `trailhound run` does.
			var wg sync.WaitGroup
			next := make(chan string)
			for range 25 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for body := range next {
						if status, _ := h.signedPost(PathInteractions, body); status != http.StatusOK {
							t.Errorf("press: status %d", status)
						}
					}
				}()
			}
			stop := make(chan struct{})
			dispatched := make(chan struct{})
			go func() {
				defer close(dispatched)
				d := &workflows.Dispatcher{Store: h.store, Notifiers: []workflows.Notifier{h.n}, Log: h.svc.Log}
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
			for _, b := range bodies {
				next <- b
			}
			close(next)
			wg.Wait()
			h.n.Wait()
			close(stop)
			<-dispatched
			h.dispatch()

			posts, updates := h.fake.count("chat.postMessage"), h.fake.count("chat.update")
			answers := len(h.fake.responsesCopy())
			t.Logf("%d presses, %d levels: %d chat.postMessage (1 + escalations), %d chat.update, %d private answers, %d messages",
				escalateBurstPresses, tc.levels, posts, updates, answers, len(h.fake.messages()))
			if posts > 1+tc.levels {
				t.Errorf("chat.postMessage=%d, want at most %d: the card and one per level", posts, 1+tc.levels)
			}
			var chans []string
			for _, m := range h.fake.messages() {
				chans = append(chans, m.Channel)
			}
			if got := strings.Join(chans, ","); got != strings.Join(tc.channels, ",") {
				t.Errorf("cards in %s, want %s", truncate(got, 200), strings.Join(tc.channels, ","))
			}
			// Each applied change redraws every card at most twice (the
			// press and the outbox); merged and deduplicated it is less.
			copies := 1 + tc.levels
			if max := 2 * tc.levels * copies; updates > max {
				t.Errorf("chat.update=%d, want at most %d (2 x %d changes x %d cards)", updates, max, tc.levels, copies)
			}
			if got := len(audits(t, h, a.ID, "escalate")); got != tc.levels {
				t.Errorf("%d escalations applied, want %d", got, tc.levels)
			}
			refused := audits(t, h, a.ID, "refused")
			if len(refused) != escalateBurstPresses-tc.levels {
				t.Errorf("%d refusals audited, want %d", len(refused), escalateBurstPresses-tc.levels)
			}
			if answers != escalateBurstPresses-tc.levels {
				t.Errorf("%d private answers, want one per refused press (%d)", answers, escalateBurstPresses-tc.levels)
			}
			if got := h.alert(a.ID); got.EscalationLevel != tc.levels {
				t.Errorf("level=%d, want %d", got.EscalationLevel, tc.levels)
			}
		})
	}
}
