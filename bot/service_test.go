package bot

import (
	"context"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newService(t *testing.T) (*Service, string) {
	t.Helper()
	st, err := workflows.NewStore(testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return now }
	f := detectors.Finding{RuleID: "aws-root-account-use", Title: "Root user activity", Severity: detectors.High, Fingerprint: "fp", GroupKey: "g",
		Time: now.Add(-time.Hour), Account: "111122223333", Principal: sources.Principal{Name: "root"}, Recommendation: "Lock root away."}
	var id string
	err = st.DB().Update(func(tx *bolt.Tx) error {
		res, err := st.Ingest(tx, []detectors.Finding{f})
		if err == nil {
			id = res.New[0].ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return &Service{Store: st, Now: func() time.Time { return now }}, id
}

var (
	viewer    = Identity{Platform: "slack", UserID: "UVIEW"}
	responder = Identity{Platform: "slack", UserID: "URESP"}
	analyst   = Identity{Platform: "slack", UserID: "UANAL"}
)

func TestRefusalIsPoliteAndAudited(t *testing.T) {
	s, id := newService(t)
	r := s.Do(context.Background(), viewer, Viewer, OpResolve, id, OpOptions{})
	if !r.Refused || !r.Ephemeral || !strings.Contains(r.Text, "Sorry, your role (viewer) does not allow you to Resolve") {
		t.Fatalf("reply=%+v", r)
	}
	a, _ := s.Store.Get(id)
	if a.State != workflows.StateNew {
		t.Fatalf("state=%s after a refused resolve", a.State)
	}
	log, _ := s.Store.AuditLog(id)
	last := log[len(log)-1]
	if last.Action != "refused" || last.Actor != "slack:UVIEW" {
		t.Fatalf("audit=%+v", last)
	}
	r = s.Run(context.Background(), viewer, Viewer, Command{Name: "silence", RuleID: "x", Duration: time.Hour})
	if !r.Refused {
		t.Fatalf("viewer could silence: %+v", r)
	}
}

func TestActionsReachWorkflows(t *testing.T) {
	s, id := newService(t)
	r := s.Do(context.Background(), responder, Responder, OpAcknowledge, id, OpOptions{})
	if r.Refused || r.Alert == nil || r.Alert.State != workflows.StateAcknowledged || r.Alert.LastActor != "slack:URESP" {
		t.Fatalf("ack reply=%+v", r)
	}
	r = s.Do(context.Background(), responder, Responder, OpTask, id, OpOptions{Task: workflows.TaskInput{Assignee: "slack:UDEV", Due: now.Add(72 * time.Hour), Notes: "rotate"}})
	if r.Refused || !strings.Contains(r.Text, "opened task `T-1` for `"+id+"`, assigned to slack:UDEV, due 2026-11-28") {
		t.Fatalf("task reply=%+v", r)
	}
	r = s.Do(context.Background(), analyst, Analyst, OpSuppress, id, OpOptions{SuppressFor: 4 * time.Hour})
	if r.Alert == nil || r.Alert.State != workflows.StateSuppressed || !r.Alert.SuppressedUntil.Equal(now.Add(4*time.Hour)) {
		t.Fatalf("suppress reply=%+v", r)
	}
	r = s.Do(context.Background(), analyst, Analyst, OpAcknowledge, id, OpOptions{})
	if !strings.HasPrefix(r.Text, "That is not possible now: alert "+id+": cannot acknowledge an alert that is suppressed") {
		t.Fatalf("invalid transition reply=%q", r.Text)
	}
	r = s.Do(context.Background(), analyst, Analyst, OpResolve, "TH-999", OpOptions{})
	if !strings.HasPrefix(r.Text, "Not found: alert TH-999") {
		t.Fatalf("unknown alert reply=%q", r.Text)
	}
}

func TestCommands(t *testing.T) {
	s, id := newService(t)
	s.Health = func() ([]sources.Health, error) {
		return []sources.Health{{Source: "prod-ct", LastSuccess: now.Add(-5 * time.Minute), Events: 42}, {Source: "logs", LastError: "AccessDenied", Permanent: true}}, nil
	}
	run := func(id Identity, role Role, text string) Reply {
		t.Helper()
		c, err := ParseCommand(text)
		if err != nil {
			t.Fatal(err)
		}
		return s.Run(context.Background(), id, role, c)
	}
	if r := run(viewer, Viewer, "findings since 24h"); !strings.Contains(r.Text, "`"+id+"` HIGH new: Root user activity, root") || !r.Ephemeral {
		t.Fatalf("findings=%+v", r)
	}
	if r := run(viewer, Viewer, "findings severity critical"); !strings.HasPrefix(r.Text, "No alerts in the last 24h match") {
		t.Fatalf("findings critical=%q", r.Text)
	}
	if r := run(viewer, Viewer, "show "+id); r.Card == nil || r.Card.AlertID != id || r.Card.Recommendation != "Lock root away." {
		t.Fatalf("show=%+v", r)
	}
	if r := run(viewer, Viewer, "ack "+id); !r.Refused {
		t.Fatalf("viewer ack=%+v", r)
	}
	if r := run(responder, Responder, "ack "+id); r.Alert == nil || r.Alert.State != workflows.StateAcknowledged {
		t.Fatalf("responder ack=%+v", r)
	}
	if r := run(viewer, Viewer, "sources"); !strings.Contains(r.Text, "`prod-ct` ok, last success 5m ago, 42 events") || !strings.Contains(r.Text, "ERROR: AccessDenied (needs a fix") {
		t.Fatalf("sources=%q", r.Text)
	}
	if r := run(analyst, Analyst, "silence aws-root-account-use 2h break-glass drill"); r.Ephemeral || !strings.Contains(r.Text, "silenced rule `aws-root-account-use` until 2026-11-25 14:00 UTC (`S-1`)") {
		t.Fatalf("silence=%+v", r)
	}
	if r := run(viewer, Viewer, "silences"); !strings.Contains(r.Text, "`S-1` aws-root-account-use until") {
		t.Fatalf("silences=%q", r.Text)
	}
	if r := run(viewer, Viewer, "digest"); !strings.Contains(r.Text, "not configured") {
		t.Fatalf("digest without digester=%q", r.Text)
	}
	if r := run(Identity{Platform: "slack", UserID: "UX"}, NoRole, "help"); !strings.Contains(r.Text, "/trailhound findings") {
		t.Fatalf("help=%q", r.Text)
	}
	if r := run(Identity{Platform: "slack", UserID: "UX"}, NoRole, "findings"); !r.Refused {
		t.Fatalf("no role findings=%+v", r)
	}
}

func TestCardFor(t *testing.T) {
	s, id := newService(t)
	a, _ := s.Store.Get(id)
	c := CardFor(a)
	if c.Title != "[HIGH] Root user activity" || c.Colour != SeverityColour[detectors.High] || len(c.Buttons) != 7 || c.Buttons[6].Op != OpActivity {
		t.Fatalf("card=%+v", c)
	}
	a.State = workflows.StateResolved
	a.Resolution = "false_positive"
	a.LastActor = "slack:U1"
	c = CardFor(a)
	if c.Status != "resolved as false positive by slack:U1" || len(c.Buttons) != 2 || c.Buttons[0].Op != OpReopen || c.Buttons[1].Op != OpActivity {
		t.Fatalf("resolved card status=%q buttons=%+v", c.Status, c.Buttons)
	}
}

func TestSilenceSelectors(t *testing.T) {
	s, id := newService(t)
	run := func(text string) Reply {
		t.Helper()
		c, err := ParseCommand(text)
		if err != nil {
			t.Fatal(err)
		}
		return s.Run(context.Background(), analyst, Analyst, c)
	}
	if r := run("silence alert=" + id + " 1d break-glass drill"); !strings.Contains(r.Text, "silenced alerts like `"+id+"` until 2026-11-26 12:00 UTC") {
		t.Fatalf("by alert: %q", r.Text)
	}
	if r := run("silence principal=root account=111122223333 2h"); !strings.Contains(r.Text, "silenced principal `root`, account `111122223333` until") {
		t.Fatalf("by principal: %q", r.Text)
	}
	if r := run("silence alert=TH-404 1h"); !strings.HasPrefix(r.Text, "Not found: alert TH-404") {
		t.Fatalf("unknown alert: %q", r.Text)
	}
	sls, err := s.Store.Silences(now)
	if err != nil || len(sls) != 2 {
		t.Fatalf("silences=%+v err=%v", sls, err)
	}
	a, _ := s.Store.Get(id)
	for _, sl := range sls {
		if sl.Principal == "" && (sl.GroupKey != a.Finding.GroupKey || sl.RuleID != a.Finding.RuleID) {
			t.Fatalf("alert silence=%+v, want the alert's group key and rule", sl)
		}
	}
}
