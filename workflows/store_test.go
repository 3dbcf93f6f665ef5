package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// clock is a fixed, settable clock.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func newStore(t *testing.T) (*Store, *clock) {
	t.Helper()
	s, err := NewStore(testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: t0}
	s.Now = c.Now
	return s, c
}

func finding(rule, fp, group string, at time.Time, sev detectors.Severity) detectors.Finding {
	return detectors.Finding{RuleID: rule, Title: "Title of " + rule, Fingerprint: fp, GroupKey: group, Time: at, Severity: sev,
		Account: "111122223333", Principal: sources.Principal{Name: "alice", ARN: "arn:aws:iam::111122223333:user/alice"}}
}

func ingest(t *testing.T, s *Store, fs ...detectors.Finding) IngestResult {
	t.Helper()
	var res IngestResult
	err := s.DB().Update(func(tx *bolt.Tx) error {
		var err error
		res, err = s.Ingest(tx, fs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestIngestDedupAndGrouping(t *testing.T) {
	s, _ := newStore(t)
	res := ingest(t, s,
		finding("r1", "fp1", "g1", t0, detectors.Medium),
		finding("r1", "fp2", "g1", t0.Add(time.Minute), detectors.High),
		finding("r2", "fp3", "g2", t0, detectors.Low),
	)
	if len(res.New) != 2 || len(res.Grouped) != 0 || res.Duplicates != 0 {
		t.Fatalf("first batch: new=%d grouped=%d dup=%d, want 2,0,0", len(res.New), len(res.Grouped), res.Duplicates)
	}
	if a := res.New[0]; a.Count != 2 || a.Severity != detectors.High || !a.LastSeen.Equal(t0.Add(time.Minute)) {
		t.Fatalf("grouped alert=%+v, want count 2, severity raised to high", a)
	}
	// The same findings again: all duplicates, nothing new, nothing queued.
	before, _ := s.Pending()
	res = ingest(t, s, finding("r1", "fp1", "g1", t0, detectors.Medium), finding("r2", "fp3", "g2", t0, detectors.Low))
	if len(res.New) != 0 || len(res.Grouped) != 0 || res.Duplicates != 2 {
		t.Fatalf("replay: new=%d grouped=%d dup=%d, want 0,0,2", len(res.New), len(res.Grouped), res.Duplicates)
	}
	if after, _ := s.Pending(); after != before {
		t.Fatalf("replay queued notifications: %d -> %d", before, after)
	}
	// A later similar finding grows the count and queues a thread reply.
	res = ingest(t, s, finding("r1", "fp4", "g1", t0.Add(time.Hour), detectors.Medium))
	if len(res.Grouped) != 1 || res.Grouped[0].Count != 3 {
		t.Fatalf("grouped=%+v, want one alert with count 3", res.Grouped)
	}
	// Outside the group window it is a new alert.
	res = ingest(t, s, finding("r1", "fp5", "g1", t0.Add(48*time.Hour), detectors.Medium))
	if len(res.New) != 1 {
		t.Fatalf("after the window: new=%d, want 1", len(res.New))
	}
	alerts, err := s.List(Filter{})
	if err != nil || len(alerts) != 3 {
		t.Fatalf("alerts=%d err=%v, want 3", len(alerts), err)
	}
}

func TestIngestRejectsFindingWithoutKeys(t *testing.T) {
	s, _ := newStore(t)
	err := s.DB().Update(func(tx *bolt.Tx) error {
		_, err := s.Ingest(tx, []detectors.Finding{{RuleID: "r"}})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), `finding of rule "r" has no fingerprint`) {
		t.Fatalf("err=%v", err)
	}
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name    string
		actions []Action
		want    State
		wantErr string
	}{
		{"ack", []Action{ActionAcknowledge}, StateAcknowledged, ""},
		{"escalate then ack", []Action{ActionEscalate, ActionAcknowledge}, StateAcknowledged, ""},
		{"ack twice", []Action{ActionAcknowledge, ActionAcknowledge}, StateAcknowledged, "cannot acknowledge an alert that is acknowledged"},
		{"resolve", []Action{ActionResolve}, StateResolved, ""},
		{"resolve then escalate", []Action{ActionResolve, ActionEscalate}, StateResolved, "cannot escalate an alert that is resolved"},
		{"false positive", []Action{ActionFalsePositive}, StateResolved, ""},
		{"suppress then reopen", []Action{ActionSuppress, ActionReopen}, StateNew, ""},
		{"reopen open alert", []Action{ActionReopen}, StateNew, "cannot reopen an alert that is new"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := newStore(t)
			id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
			var err error
			for _, a := range tc.actions {
				_, err = s.Apply(Change{AlertID: id, Action: a, Actor: "slack:U1", Note: "n"})
			}
			if tc.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" && (err == nil || !errors.Is(err, ErrInvalidTransition) || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("err=%v, want %q", err, tc.wantErr)
			}
			a, _ := s.Get(id)
			if a.State != tc.want {
				t.Fatalf("state=%s, want %s", a.State, tc.want)
			}
			log, _ := s.AuditLog(id)
			applied := len(tc.actions)
			if tc.wantErr != "" {
				applied--
			}
			if len(log) != 1+applied {
				t.Fatalf("audit entries=%d, want %d: %+v", len(log), 1+applied, log)
			}
			if log[0].Action != "created" || (applied > 0 && log[1].Actor != "slack:U1") {
				t.Fatalf("audit=%+v", log)
			}
		})
	}
}

func TestApplyUnknownAlert(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.Apply(Change{AlertID: "TH-99", Action: ActionAcknowledge, Actor: "x"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("err=%v, want ErrNotFound", err)
	}
}

func TestSuppressMutesSimilar(t *testing.T) {
	s, c := newStore(t)
	id := ingest(t, s, finding("r", "fp1", "g", t0, detectors.High)).New[0].ID
	if _, err := s.Apply(Change{AlertID: id, Action: ActionResolve, Actor: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Change{AlertID: id, Action: ActionReopen, Actor: "u"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Change{AlertID: id, Action: ActionSuppress, Actor: "u", Until: t0.Add(2 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Apply(Change{AlertID: id, Action: ActionResolve, Actor: "u"}); err != nil {
		t.Fatal(err)
	}
	// Resolved, so a similar finding opens a new alert: muted by the silence.
	res := ingest(t, s, finding("r", "fp2", "g", t0.Add(time.Hour), detectors.High))
	if len(res.New) != 1 || res.New[0].State != StateSuppressed {
		t.Fatalf("new=%+v, want one suppressed alert", res.New)
	}
	sls, _ := s.Silences(c.now)
	if len(sls) != 1 || sls[0].Matched != 1 {
		t.Fatalf("silences=%+v, want one that matched once", sls)
	}
	// After the silence expires, similar findings alert again.
	c.now = t0.Add(3 * time.Hour)
	res = ingest(t, s, finding("r", "fp3", "g", t0.Add(3*time.Hour), detectors.High))
	if len(res.New) == 1 && res.New[0].State != StateNew {
		t.Fatalf("after expiry state=%s, want new", res.New[0].State)
	}
}

func TestSilenceByRule(t *testing.T) {
	s, _ := newStore(t)
	if _, err := s.CreateSilence(Silence{}, time.Hour, "u"); err == nil {
		t.Fatal("empty silence accepted")
	}
	if _, err := s.CreateSilence(Silence{RuleID: "r"}, 100*24*time.Hour, "u"); err == nil {
		t.Fatal("100-day silence accepted")
	}
	sl, err := s.CreateSilence(Silence{RuleID: "noisy", Reason: "known scanner"}, time.Hour, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	res := ingest(t, s, finding("noisy", "a", "g1", t0, detectors.Low), finding("other", "b", "g2", t0, detectors.Low))
	states := map[string]State{}
	for _, a := range res.New {
		states[a.Finding.RuleID] = a.State
	}
	if states["noisy"] != StateSuppressed || states["other"] != StateNew {
		t.Fatalf("states=%v", states)
	}
	if n, _ := s.Pending(); n != 1 {
		t.Fatalf("pending=%d, want 1 (the muted alert is not posted)", n)
	}
	if _, err := s.ExpireSilence(sl.ID, "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ExpireSilence(sl.ID, "u"); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("second expire err=%v", err)
	}
}

func TestTasks(t *testing.T) {
	s, c := newStore(t)
	f := finding("r", "fp", "g", t0, detectors.High)
	f.Recommendation = "Revoke the rule."
	id := ingest(t, s, f).New[0].ID
	if _, err := s.CreateTask(TaskInput{AlertID: "TH-404"}, "u"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("task for unknown alert: %v", err)
	}
	task, err := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:U2", Due: t0.Add(48 * time.Hour), Notes: "prod sg"}, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	if task.Recommendation != "Revoke the rule." || task.Title != "Fix: Title of r" || task.Status != TaskOpen {
		t.Fatalf("task=%+v", task)
	}
	other, _ := s.CreateTask(TaskInput{AlertID: id}, "slack:U1")
	c.now = t0.Add(72 * time.Hour)
	overdue, _ := s.ListTasks(TaskFilter{OverdueAt: c.now})
	if len(overdue) != 1 || overdue[0].ID != task.ID {
		t.Fatalf("overdue=%+v", overdue)
	}
	mine, _ := s.ListTasks(TaskFilter{Assignee: "slack:U2", OpenOnly: true})
	if len(mine) != 1 {
		t.Fatalf("mine=%d", len(mine))
	}
	if _, err := s.SetTaskStatus(task.ID, TaskDone, "slack:U2", "revoked"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetTaskStatus(task.ID, TaskDone, "slack:U2", ""); !errors.Is(err, ErrInvalidTransition) {
		t.Fatalf("done twice: %v", err)
	}
	open, _ := s.ListTasks(TaskFilter{OpenOnly: true})
	if len(open) != 1 || open[0].ID != other.ID {
		t.Fatalf("open=%+v", open)
	}
	log, _ := s.AuditLog(id)
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Action)
	}
	if got := strings.Join(actions, ","); got != "created,task_opened,task_opened,task_status" {
		t.Fatalf("audit=%s", got)
	}
}

// fakeNotifier records notifications and fails as told.
type fakeNotifier struct {
	name  string
	got   []Notification
	fail  func(n Notification) (retry bool, err error)
	posts int
}

func (f *fakeNotifier) Name() string { return f.name }

func (f *fakeNotifier) Notify(_ context.Context, n Notification) (MessageRef, bool, error) {
	if f.fail != nil {
		if retry, err := f.fail(n); err != nil {
			return MessageRef{}, retry, err
		}
	}
	f.got = append(f.got, n)
	if n.Kind == NotifyNew {
		f.posts++
		return MessageRef{Channel: "C1", MessageID: fmt.Sprintf("m%d", f.posts)}, false, nil
	}
	return n.Ref, false, nil
}

func TestDispatch(t *testing.T) {
	s, c := newStore(t)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	flaky := &fakeNotifier{name: "flaky"}
	calls := 0
	flaky.fail = func(Notification) (bool, error) {
		calls++
		if calls == 1 {
			return true, errors.New("503 from chat API")
		}
		return false, nil
	}
	good := &fakeNotifier{name: "good"}
	d := &Dispatcher{Store: s, Notifiers: []Notifier{good, flaky}}
	if n, err := d.Dispatch(context.Background()); err != nil || n != 1 {
		t.Fatalf("first dispatch delivered %d, err %v; want 1", n, err)
	}
	// The retry waits for its backoff.
	if n, _ := d.Dispatch(context.Background()); n != 0 {
		t.Fatalf("dispatch before backoff delivered %d", n)
	}
	c.now = c.now.Add(time.Minute)
	if n, _ := d.Dispatch(context.Background()); n != 1 {
		t.Fatalf("dispatch after backoff delivered %d, want 1", n)
	}
	if len(good.got) != 1 || len(flaky.got) != 1 {
		t.Fatalf("good got %d, flaky got %d; want 1 each (no duplicate to good)", len(good.got), len(flaky.got))
	}
	a, _ := s.Get(id)
	if ref, ok := a.Message("good"); !ok || ref.MessageID != "m1" || ref.Channel != "C1" {
		t.Fatalf("message refs=%+v", a.Messages)
	}
	// An action queues an update that carries the message reference.
	if _, err := s.Apply(Change{AlertID: id, Action: ActionAcknowledge, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	last := good.got[len(good.got)-1]
	if last.Kind != NotifyUpdate || last.Ref.MessageID != "m1" || last.Alert.State != StateAcknowledged {
		t.Fatalf("update=%+v", last)
	}
	if n, _ := s.Pending(); n != 0 {
		t.Fatalf("pending=%d, want 0", n)
	}
}

func TestDispatchPermanentFailure(t *testing.T) {
	s, _ := newStore(t)
	ingest(t, s, finding("r", "fp", "g", t0, detectors.High))
	bad := &fakeNotifier{name: "bad", fail: func(Notification) (bool, error) { return false, errors.New("channel_not_found") }}
	d := &Dispatcher{Store: s, Notifiers: []Notifier{bad}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Pending(); n != 0 {
		t.Fatalf("pending=%d: a permanent failure must not block the outbox", n)
	}
}

// TestDispatchAfterCrash shows the outbox survives a restart: an alert
// stored before a crash is posted once by the next process.
func TestDispatchAfterCrash(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	s, _ := NewStore(db)
	s.Now = func() time.Time { return t0 }
	ingest(t, s, finding("r", "fp", "g", t0, detectors.High))
	testdb.Close(t, db) // crash: nothing was posted

	db = testdb.OpenAt(t, path)
	s, _ = NewStore(db)
	s.Now = func() time.Time { return t0 }
	n := &fakeNotifier{name: "chat"}
	d := &Dispatcher{Store: s, Notifiers: []Notifier{n}}
	for i := 0; i < 3; i++ {
		if _, err := d.Dispatch(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n.posts != 1 {
		t.Fatalf("posts=%d, want exactly 1", n.posts)
	}
}
