package bot

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// newAskService stores two alerts of a rule that asks its actor, alice,
// who is slack:UALICE.
func newAskService(t *testing.T) (*Service, []string) {
	t.Helper()
	st, err := workflows.NewStore(testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return now }
	cfg, err := configs.Parse([]byte(`
workflows:
  ask_actor:
    rules: [aws-console-login-without-mfa]
    users:
      - principal: alice
        slack: UALICE
`), "t.yaml", func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if st.Config, err = workflows.LoadConfig(cfg.Workflows, []string{"slack"}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, fp := range []string{"a", "b"} {
		f := detectors.Finding{RuleID: "aws-console-login-without-mfa", Title: "Console sign-in without MFA", Severity: detectors.Medium,
			Fingerprint: fp, GroupKey: fp, Time: now, Account: "111122223333", Principal: sources.Principal{Name: "alice"}}
		err = st.DB().Update(func(tx *bolt.Tx) error {
			res, err := st.Ingest(tx, []detectors.Finding{f})
			if err == nil {
				ids = append(ids, res.New[0].ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return &Service{Store: st, Now: func() time.Time { return now }}, ids
}

func TestAskActorMessage(t *testing.T) {
	a := workflows.Alert{ID: "TH-3"}
	m := MessageFor(workflows.Notification{Kind: workflows.NotifyAskActor, Alert: a, DirectTo: "UALICE", Text: "Was this you? ..."})
	want := []Button{{OpConfirmMine, "Yes, that was me", "primary"}, {OpNotMine, "No, it wasn't me", "danger"}}
	if m.Text != "Was this you? ..." || m.AlertID != "TH-3" || !reflect.DeepEqual(m.Buttons, want) || m.Card != nil {
		t.Fatalf("message=%+v", m)
	}
	for _, b := range m.Buttons {
		op, id, err := ParseActionID(ActionID(b.Op, a.ID))
		if err != nil || op != b.Op || id != a.ID {
			t.Fatalf("action id of %s: %v %v %v", b.Op, op, id, err)
		}
	}
	e := MessageFor(workflows.Notification{Kind: workflows.NotifyEscalate, Alert: a, Text: "Escalated to level 2: `TH-3` (no answer)."})
	if e.Card == nil || e.Text != "Escalated to level 2: `TH-3` (no answer)." {
		t.Fatalf("escalation message=%+v", e)
	}
}

func TestAskActorAnswers(t *testing.T) {
	s, ids := newAskService(t)
	alice := Identity{Platform: "slack", UserID: "UALICE"}
	mallory := Identity{Platform: "slack", UserID: "UMAL"}
	ctx := context.Background()
	// Someone else cannot answer for alice, whatever their role.
	r := s.Do(ctx, mallory, Analyst, OpNotMine, ids[0], OpOptions{})
	if !strings.Contains(r.Text, "only the person asked can answer") {
		t.Fatalf("reply to mallory=%+v", r)
	}
	// Alice has no role at all, yet may answer her own question.
	r = s.Do(ctx, alice, NoRole, OpConfirmMine, ids[0], OpOptions{})
	if r.Refused || !strings.HasPrefix(r.Text, "Thank you for confirming. `"+ids[0]+"` is now acknowledged by slack:UALICE") {
		t.Fatalf("reply to yes=%+v", r)
	}
	r = s.Do(ctx, alice, NoRole, OpNotMine, ids[1], OpOptions{})
	if !strings.Contains(r.Text, "The security team has been alerted") {
		t.Fatalf("reply to no=%+v", r)
	}
	if a, _ := s.Store.Get(ids[1]); a.State != workflows.StateEscalated || a.ActorAnswer != workflows.AnswerDenied {
		t.Fatalf("after no: state=%s answer=%s", a.State, a.ActorAnswer)
	}
	// She cannot use the answer buttons to touch other alerts' lifecycle.
	r = s.Do(ctx, alice, NoRole, OpResolve, ids[1], OpOptions{})
	if !r.Refused {
		t.Fatalf("resolve by an actor without a role=%+v", r)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", 2 * time.Hour: "2h", 90 * time.Minute: "1h30m", 24 * time.Hour: "24h", 7 * 24 * time.Hour: "7d", 45 * time.Second: "45s", 0: "0s", 10*time.Minute + 5*time.Second: "10m5s"} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v)=%q, want %q", d, got, want)
		}
	}
}
