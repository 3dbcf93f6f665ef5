package workflows

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
)

const escalationYAML = `
workflows:
  escalation:
    policies:
      - name: oncall
        levels:
          - after: 30m
            targets: [{notifier: slack, channel: CLEADS, mentions: [S1]}]
          - after: 1h
            targets: [{notifier: slack, direct_to: UCISO}]
  default_route:
    targets: [{notifier: slack, channel: CALL}]
    escalation: oncall
  ask_actor:
    rules: ["ask-*"]
    timeout: 20m
    users:
      - principal: "arn:aws:iam::111122223333:user/alice"
        slack: UALICE
    email_lookup: [slack]
`

func tick(t *testing.T, s *Store, at time.Time) int {
	t.Helper()
	n, err := (&Escalator{Store: s}).Tick(at)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func escalations(n *funcNotifier) []string {
	var out []string
	for i, k := range n.kinds() {
		if strings.HasPrefix(k, "escalate@") {
			out = append(out, k+" "+strings.Join(n.got[i].Mentions, ","))
		}
	}
	return out
}

// TestEscalationTimers fires each level at its fixed-clock time, once,
// across a restart of the database.
func TestEscalationTimers(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	s, err := NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	s.Now, s.Config = c.Now, configFromYAML(t, escalationYAML)
	id := ingest(t, s, finding("r", "fp1", "g1", t0, detectors.High)).New[0].ID
	acked := ingest(t, s, finding("r", "fp2", "g2", t0, detectors.High)).New[0].ID
	c.now = t0.Add(10 * time.Minute)
	if _, err := s.Apply(Change{AlertID: acked, Action: ActionAcknowledge, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		after time.Duration
		fired int
		level int
	}{
		{29 * time.Minute, 0, 0},
		{30 * time.Minute, 1, 1},
		{30 * time.Minute, 0, 1}, // the same tick again: nothing
		{89 * time.Minute, 0, 1},
	}
	for _, st := range steps {
		c.now = t0.Add(st.after)
		if n := tick(t, s, c.now); n != st.fired {
			t.Fatalf("tick at +%v escalated %d, want %d", st.after, n, st.fired)
		}
		if a, _ := s.Get(id); a.EscalationLevel != st.level {
			t.Fatalf("at +%v level=%d, want %d", st.after, a.EscalationLevel, st.level)
		}
	}
	testdb.Close(t, db) // restart
	db = testdb.OpenAt(t, path)
	if s, err = NewStore(db); err != nil {
		t.Fatal(err)
	}
	s.Now, s.Config = c.Now, configFromYAML(t, escalationYAML)
	for _, st := range []struct {
		after        time.Duration
		fired, level int
	}{{89 * time.Minute, 0, 1}, {90 * time.Minute, 1, 2}, {90 * time.Minute, 0, 2}, {5 * time.Hour, 0, 2}} {
		c.now = t0.Add(st.after)
		if n := tick(t, s, c.now); n != st.fired {
			t.Fatalf("after restart, tick at +%v escalated %d, want %d", st.after, n, st.fired)
		}
		if a, _ := s.Get(id); a.EscalationLevel != st.level {
			t.Fatalf("after restart at +%v level=%d, want %d", st.after, a.EscalationLevel, st.level)
		}
	}
	if a, _ := s.Get(acked); a.EscalationLevel != 0 || a.State != StateAcknowledged {
		t.Fatalf("acknowledged alert: level %d state %s, want no escalation", a.EscalationLevel, a.State)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	if got, want := escalations(slack), []string{"escalate@CLEADS S1", "escalate@@UCISO "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("escalations posted %v, want %v", got, want)
	}
	log, _ := s.AuditLog(id)
	var notes []string
	for _, e := range log {
		if e.Action == string(ActionEscalate) {
			notes = append(notes, e.Actor+": "+e.Note)
		}
	}
	want := []string{
		"trailhound: escalated by policy oncall: not acknowledged within 30m (level 1)",
		"trailhound: escalated by policy oncall: not acknowledged within 1h (level 2)",
	}
	if !reflect.DeepEqual(notes, want) {
		t.Fatalf("audit=%q, want %q", notes, want)
	}
}

func TestManualEscalateJumpsLevel(t *testing.T) {
	s, c := newStore(t)
	s.Config = configFromYAML(t, escalationYAML)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	c.now = t0.Add(5 * time.Minute)
	a, err := s.Apply(Change{AlertID: id, Action: ActionEscalate, Actor: "slack:U7", Note: "looks bad"})
	if err != nil {
		t.Fatal(err)
	}
	if a.EscalationLevel != 1 || a.State != StateEscalated {
		t.Fatalf("level=%d state=%s, want 1 escalated", a.EscalationLevel, a.State)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	if got := escalations(slack); !reflect.DeepEqual(got, []string{"escalate@CLEADS S1"}) {
		t.Fatalf("escalations=%v", got)
	}
	if txt := slack.got[len(slack.got)-1].Text; !strings.Contains(txt, "level 1") || !strings.Contains(txt, "looks bad") {
		t.Fatalf("escalation text=%q", txt)
	}
	// The next level counts from the manual escalation.
	if n := tick(t, s, t0.Add(64*time.Minute)); n != 0 {
		t.Fatalf("escalated %d at +64m, want 0 (level 2 is due at +65m)", n)
	}
	if n := tick(t, s, t0.Add(65*time.Minute)); n != 1 {
		t.Fatalf("escalated %d at +65m, want 1", n)
	}
	if got := s.NextEscalation(mustGet(t, s, id)); !got.IsZero() {
		t.Fatalf("next escalation=%v after the last level, want none", got)
	}
}

func mustGet(t *testing.T, s *Store, id string) Alert {
	t.Helper()
	a, err := s.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func askFinding(fp string) detectors.Finding {
	f := finding("ask-console", fp, "g-"+fp, t0, detectors.Medium)
	f.Action, f.SourceIP, f.Region = "ConsoleLogin", "203.0.113.9", "eu-west-1"
	return f
}

func TestAskActor(t *testing.T) {
	s, c := newStore(t)
	s.Config = configFromYAML(t, escalationYAML)
	yes := ingest(t, s, askFinding("1")).New[0]
	no := ingest(t, s, askFinding("2")).New[0].ID
	silent := ingest(t, s, askFinding("3")).New[0].ID
	if !reflect.DeepEqual(yes.AskedActors, []string{"slack:UALICE"}) {
		t.Fatalf("asked=%v", yes.AskedActors)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	var asks []Notification
	for _, n := range slack.got {
		if n.Kind == NotifyAskActor {
			asks = append(asks, n)
		}
	}
	if len(asks) != 3 || asks[0].DirectTo != "UALICE" || !strings.HasPrefix(asks[0].Text, "Was this you? Trailhound saw alice call ConsoleLogin in AWS account 111122223333 (eu-west-1) from 203.0.113.9") {
		t.Fatalf("questions=%+v", asks)
	}

	c.now = t0.Add(5 * time.Minute)
	if _, err := s.AnswerActor(yes.ID, "slack:UMALLORY", true); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("answer by someone not asked: err=%v, want ErrInvalidTransition", err)
	}
	a, err := s.AnswerActor(yes.ID, "slack:UALICE", true)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != StateAcknowledged || a.ActorAnswer != AnswerConfirmed || a.LastActor != "slack:UALICE" {
		t.Fatalf("after yes: state=%s answer=%s actor=%s", a.State, a.ActorAnswer, a.LastActor)
	}
	if _, err := s.AnswerActor(yes.ID, "slack:UALICE", false); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("second answer: err=%v, want ErrInvalidTransition", err)
	}
	a, err = s.AnswerActor(no, "slack:UALICE", false)
	if err != nil {
		t.Fatal(err)
	}
	if a.State != StateEscalated || a.EscalationLevel != 1 || a.ActorAnswer != AnswerDenied {
		t.Fatalf("after no: state=%s level=%d answer=%s", a.State, a.EscalationLevel, a.ActorAnswer)
	}
	// No answer: escalated when the timeout passes, once.
	if n := tick(t, s, t0.Add(19*time.Minute)); n != 0 {
		t.Fatalf("escalated %d before the timeout", n)
	}
	c.now = t0.Add(20 * time.Minute)
	if n := tick(t, s, c.now); n != 1 {
		t.Fatalf("escalated %d at the timeout, want 1 (the silent one)", n)
	}
	if n := tick(t, s, c.now); n != 0 {
		t.Fatalf("escalated %d on a repeated tick", n)
	}
	a = mustGet(t, s, silent)
	if a.ActorAnswer != AnswerNone || a.EscalationLevel != 1 {
		t.Fatalf("silent: answer=%q level=%d", a.ActorAnswer, a.EscalationLevel)
	}
	if a := mustGet(t, s, yes.ID); a.EscalationLevel != 0 {
		t.Fatalf("confirmed alert escalated to %d", a.EscalationLevel)
	}
	slack.reset()
	dispatch(t, s, slack)
	if got := escalations(slack); !reflect.DeepEqual(got, []string{"escalate@CLEADS S1", "escalate@CLEADS S1"}) {
		t.Fatalf("escalations=%v, want one for the no and one for the timeout", got)
	}
	var actions []string
	log, _ := s.AuditLog("")
	for _, e := range log {
		if strings.HasPrefix(e.Action, "actor_") {
			actions = append(actions, e.AlertID+" "+e.Action+" "+e.Actor)
		}
	}
	want := []string{yes.ID + " actor_asked trailhound", no + " actor_asked trailhound", silent + " actor_asked trailhound",
		yes.ID + " actor_confirmed slack:UALICE", no + " actor_denied slack:UALICE", silent + " actor_no_answer trailhound"}
	if !reflect.DeepEqual(actions, want) {
		t.Fatalf("audit=%v\nwant %v", actions, want)
	}
}

// lookupNotifier finds users by email, as Slack's users.lookupByEmail.
type lookupNotifier struct {
	funcNotifier
	users map[string]string
}

func (l *lookupNotifier) LookupUserByEmail(_ context.Context, email string) (string, error) {
	if id, ok := l.users[email]; ok {
		return id, nil
	}
	return "", errors.New("users_not_found")
}

func TestAskActorByEmail(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, escalationYAML)
	f := askFinding("1")
	f.Principal.ARN, f.Principal.Name, f.Principal.Type = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0a1b/bob@example.com", "AWSReservedSSO_Admin_0a1b/bob@example.com", "AssumedRole"
	id := ingest(t, s, f).New[0].ID
	if a := mustGet(t, s, id); !reflect.DeepEqual(a.AskedActors, []string{"slack:email:bob@example.com"}) {
		t.Fatalf("asked=%v", a.AskedActors)
	}
	slack := &lookupNotifier{funcNotifier: funcNotifier{name: "slack"}, users: map[string]string{"bob@example.com": "UBOB"}}
	dispatch(t, s, slack)
	if got := slack.kinds(); !reflect.DeepEqual(got, []string{"new@CALL", "ask_actor@@UBOB"}) {
		t.Fatalf("slack got %v", got)
	}
	if _, err := s.AnswerActor(id, "slack:UBOB", true); err != nil {
		t.Fatalf("answer by the looked-up user: %v", err)
	}
	// A notifier that cannot look users up gives up on the question; the
	// timeout escalates the alert instead.
	id2 := ingest(t, s, func() detectors.Finding { g := f; g.Fingerprint, g.GroupKey = "fp2", "g2"; return g }()).New[0].ID
	plain := &funcNotifier{name: "slack"}
	dispatch(t, s, plain)
	// (The update redraws the first alert, acknowledged by bob's answer.)
	if got := plain.kinds(); !reflect.DeepEqual(got, []string{"update@CALL", "new@CALL"}) {
		t.Fatalf("plain notifier got %v", got)
	}
	if n := tick(t, s, t0.Add(20*time.Minute)); n != 1 || mustGet(t, s, id2).ActorAnswer != AnswerNone {
		t.Fatalf("timeout escalated %d", n)
	}
}

func TestFormatDur(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * time.Minute: "30m", time.Hour: "1h", 90 * time.Minute: "1h30m", 36 * time.Hour: "1d12h", 7 * 24 * time.Hour: "7d", 45 * time.Second: "45s", 0: "0s"} {
		if got := formatDur(d); got != want {
			t.Errorf("formatDur(%v)=%q, want %q", d, got, want)
		}
	}
}

// TestOpenIndexRebuilt opens a database written before the open-alert
// index existed: the index is rebuilt and timers still fire.
func TestOpenIndexRebuilt(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	s, _ := NewStore(db)
	s.Now, s.Config = func() time.Time { return t0 }, configFromYAML(t, escalationYAML)
	open := ingest(t, s, finding("r", "fp1", "g1", t0, detectors.High)).New[0].ID
	closed := ingest(t, s, finding("r", "fp2", "g2", t0, detectors.High)).New[0].ID
	if _, err := s.Apply(Change{AlertID: closed, Action: ActionResolve, Actor: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucketOpen) }); err != nil {
		t.Fatal(err)
	}
	s, _ = NewStore(db)
	s.Now, s.Config = func() time.Time { return t0 }, configFromYAML(t, escalationYAML)
	var ids []string
	_ = db.View(func(tx *bolt.Tx) error { ids = openAlertIDs(tx); return nil })
	if !reflect.DeepEqual(ids, []string{open}) {
		t.Fatalf("open index=%v, want [%s]", ids, open)
	}
	if n := tick(t, s, t0.Add(30*time.Minute)); n != 1 {
		t.Fatalf("escalated %d, want 1", n)
	}
}

func TestRepeatLastLevel(t *testing.T) {
	s, _ := newStore(t)
	s.Config = configFromYAML(t, `
workflows:
  escalation:
    policies:
      - name: page
        repeat_last: true
        levels:
          - after: 10m
            targets: [{notifier: slack, direct_to: UONCALL}]
    by_severity: {critical: page}
`)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.Critical)).New[0].ID
	low := ingest(t, s, finding("r", "fp2", "g2", t0, detectors.High)).New[0].ID
	for i, want := range []int{0, 1, 0, 1, 1} {
		at := t0.Add(time.Duration(5*(i+1)) * time.Minute) // +5m, +10m, +15m, +20m, +25m
		if i == 4 {
			at = t0.Add(30 * time.Minute)
		}
		if n := tick(t, s, at); n != want {
			t.Fatalf("tick %d at %v escalated %d, want %d", i, at, n, want)
		}
	}
	if a := mustGet(t, s, id); a.EscalationLevel != 3 {
		t.Fatalf("level=%d, want 3 (the single level repeated)", a.EscalationLevel)
	}
	if a := mustGet(t, s, low); a.EscalationLevel != 0 || a.EscalationPolicy != "" {
		t.Fatalf("high alert: level %d policy %q, want no policy below critical", a.EscalationLevel, a.EscalationPolicy)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	// The alert's card, then two copies in the direct message: the third
	// page is a reply under the copy there, mentioning the person.
	got := escalations(slack)
	if len(got) != 3 || got[1] != "escalate@@UONCALL " || got[2] != "escalate@ UONCALL" {
		t.Fatalf("escalations=%v", got)
	}
	if ref := slack.got[len(slack.got)-1].Ref; ref.Channel != "D-UONCALL" {
		t.Fatalf("third page replies under %+v, want the copy in the direct message", ref)
	}
}
