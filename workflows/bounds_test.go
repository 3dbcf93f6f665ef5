package workflows

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
)

// TestRepeatedActionsRefused presses Escalate far past the last level, with
// and without a policy, and repeats other actions: each repeat is refused
// with ErrInvalidTransition and changes nothing, so at most one escalation
// card per level is queued. Without refuseRepeat, 50 presses applied 50
// escalations (issue 11).
func TestRepeatedActionsRefused(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		levels    int
		wantCards []string
		wantMsg   string
	}{
		{"policy with two levels", escalationYAML, 2, []string{"escalate@CLEADS S1", "escalate@@UCISO "}, "already at the last level (2) of escalation policy oncall"},
		{"no policy", "workflows: {}\n", 1, []string{"escalate@ "}, "already escalated, and no escalation policy has a further level"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			s.Config = configFromYAML(t, tc.yaml)
			id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
			var refused int
			var lastErr error
			for range 50 {
				_, err := s.Apply(Change{AlertID: id, Action: ActionEscalate, Actor: "slack:U7"})
				if err != nil {
					if !errors.Is(err, ErrInvalidTransition) {
						t.Fatal(err)
					}
					refused++
					lastErr = err
				}
			}
			if refused != 50-tc.levels {
				t.Fatalf("refused=%d, want %d", refused, 50-tc.levels)
			}
			if lastErr == nil || !strings.Contains(lastErr.Error(), tc.wantMsg) {
				t.Fatalf("err=%v, want %q", lastErr, tc.wantMsg)
			}
			if a := mustGet(t, s, id); a.EscalationLevel != tc.levels {
				t.Fatalf("level=%d, want %d", a.EscalationLevel, tc.levels)
			}
			slack := &funcNotifier{name: "slack"}
			dispatch(t, s, slack)
			if got := escalations(slack); !reflect.DeepEqual(got, tc.wantCards) {
				t.Fatalf("escalations=%v, want %v", got, tc.wantCards)
			}
			// The timer never escalates past the last level either.
			if n := tick(t, s, t0.Add(48*time.Hour)); n != 0 {
				t.Fatalf("tick escalated %d past the last level", n)
			}
		})
	}
}

func TestRepeatedSuppressRefused(t *testing.T) {
	s, c := newStore(t)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	if _, err := s.Apply(Change{AlertID: id, Action: ActionSuppress, Actor: "slack:U1", Until: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Apply(Change{AlertID: id, Action: ActionSuppress, Actor: "slack:U1", Until: t0.Add(2 * time.Hour)})
	if !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), "already suppressed until") {
		t.Fatalf("second suppression: err=%v, want refused", err)
	}
	sls, _ := s.Silences(t0)
	if len(sls) != 1 {
		t.Fatalf("silences=%d, want 1 (the repeat made none)", len(sls))
	}
	// Once the suppression has ended, suppressing again is a change.
	c.now = t0.Add(90 * time.Minute)
	if _, err := s.Apply(Change{AlertID: id, Action: ActionSuppress, Actor: "slack:U1", Until: c.now.Add(time.Hour)}); err != nil {
		t.Fatalf("suppress after expiry: %v", err)
	}
}

// TestCardCopiesBounded escalates through five levels, each to its own
// channel, with max_card_copies 3: the first post and two escalation
// cards, then replies in the thread of the first card that mention the
// level's people.
func TestCardCopiesBounded(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, `
workflows:
  max_card_copies: 3
  escalation:
    policies:
      - name: deep
        levels:
          - {after: 10m, targets: [{notifier: slack, channel: C1}]}
          - {after: 10m, targets: [{notifier: slack, channel: C2}]}
          - {after: 10m, targets: [{notifier: slack, channel: C3, mentions: [U3]}]}
          - {after: 10m, targets: [{notifier: slack, direct_to: U4}]}
    by_severity: {info: deep}
`)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	for i := range 4 {
		if _, err := s.Apply(Change{AlertID: id, Action: ActionEscalate, Actor: "slack:U7"}); err != nil {
			t.Fatalf("escalation %d: %v", i+1, err)
		}
		dispatch(t, s, slack)
	}
	a := mustGet(t, s, id)
	if got := len(a.MessagesOn("slack")); got != 3 {
		t.Fatalf("cards=%d, want 3", got)
	}
	var replies []string
	for _, n := range slack.got {
		if n.Kind == NotifyEscalate && n.Ref.MessageID != "" {
			replies = append(replies, n.Ref.MessageID+" "+strings.Join(n.Mentions, ","))
		}
	}
	first := a.Messages[0].MessageID
	if want := []string{first + " U3", first + " U4"}; !reflect.DeepEqual(replies, want) {
		t.Fatalf("thread replies=%v, want %v", replies, want)
	}
}

func TestMaxCardCopiesConfig(t *testing.T) {
	if c := DefaultConfig(); c.MaxCardCopies != DefaultMaxCardCopies {
		t.Fatalf("default=%d", c.MaxCardCopies)
	}
	_, err := loadConfigFile(t, filepath.Join("testdata", "config", "bad-max-card-copies.yaml"))
	if err == nil || !strings.HasSuffix(err.Error(), "bad-max-card-copies.yaml:2: workflows.max_card_copies: must be between 1 and 20, not 0") {
		t.Fatalf("err=%v", err)
	}
}

// TestDispatchCoalescesUpdates makes ten changes before the outbox runs:
// each queues a redraw, but the first redraw already shows the last
// state, so the message is redrawn once.
func TestDispatchCoalescesUpdates(t *testing.T) {
	s, _ := newStore(t)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	slack.reset()
	for range 5 {
		for _, act := range []Action{ActionAcknowledge, ActionEscalate} {
			if _, err := s.Apply(Change{AlertID: id, Action: act, Actor: "slack:U1"}); err != nil && !errors.Is(err, ErrInvalidTransition) {
				t.Fatal(err)
			}
		}
	}
	dispatch(t, s, slack)
	updates := 0
	for _, n := range slack.got {
		if n.Kind == NotifyUpdate {
			updates++
		}
	}
	if updates != 1 {
		t.Fatalf("updates=%d, want 1: %v", updates, slack.kinds())
	}
}
