package workflows

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

const reminderYAML = `
workflows:
  default_route:
    targets: [{notifier: slack, channel: CALL}]
  tasks:
    due: {high: 3d}
    remind_before: [24h, 1h]
    remind_after: 0s
    remind_every: 24h
    max_overdue_reminders: 2
`

func remindAt(t *testing.T, s *Store, at time.Time) int {
	t.Helper()
	n, err := (&Reminder{Store: s}).Tick(at)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReminders sends each reminder threshold once, to the assignee by
// direct message or to the alert's channel, at fixed-clock times.
func TestReminders(t *testing.T) {
	s, c := newStore(t)
	s.Config = configFromYAML(t, reminderYAML)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	chat, err := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:UDEV"}, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	if !chat.Due.Equal(t0.Add(72 * time.Hour)) {
		t.Fatalf("default due=%v, want created + 3d for a high alert", chat.Due)
	}
	named, err := s.CreateTask(TaskInput{AlertID: id, Assignee: "Dana", Due: t0.Add(2 * time.Hour)}, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	closed, _ := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:UX", Due: t0.Add(time.Hour)}, "slack:U1")
	if _, err := s.SetTaskStatus(closed.ID, TaskDone, "slack:UX", ""); err != nil {
		t.Fatal(err)
	}
	slack := &funcNotifier{name: "slack"}
	dispatch(t, s, slack)
	slack.reset()
	steps := []struct {
		at   time.Duration
		want int
	}{
		{30 * time.Minute, 0}, // Dana's 24h-before had passed when the task was opened: skipped
		{time.Hour, 1},        // Dana: 1h before
		{time.Hour, 0},
		{2 * time.Hour, 1},  // Dana: due now
		{26 * time.Hour, 1}, // Dana: second overdue reminder
		{47 * time.Hour, 0},
		{48 * time.Hour, 1},  // chat: 24h before, by direct message
		{100 * time.Hour, 1}, // chat: three thresholds passed while down: one reminder
		{200 * time.Hour, 0}, // Dana had her two overdue reminders; chat too
	}
	for _, st := range steps {
		c.now = t0.Add(st.at)
		if n := remindAt(t, s, c.now); n != st.want {
			t.Fatalf("reminders at +%v: %d, want %d", st.at, n, st.want)
		}
	}
	dispatch(t, s, slack)
	var got []string
	for _, n := range slack.got {
		dest := n.Channel
		if n.DirectTo != "" {
			dest = "@" + n.DirectTo
		}
		_, when, _ := strings.Cut(n.Text, ") ")
		when, _, _ = strings.Cut(when, " (due")
		got = append(got, fmt.Sprintf("%s %s %s", n.Kind, dest, when))
	}
	want := []string{
		"reminder CALL is due in 1h",
		"reminder CALL is due now",
		"reminder CALL is overdue by 1d",
		"reminder @UDEV is due in 1d",
		"reminder @UDEV is overdue by 1d4h",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reminders:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.HasPrefix(slack.got[0].Text, "Dana: Reminder: task `"+named.ID+"`") {
		t.Fatalf("text=%q, want the assignee named", slack.got[0].Text)
	}
	task, _ := s.GetTask(chat.ID)
	if got := task.RemindedKeys(); !reflect.DeepEqual(got, []string{"before-1d", "before-1h", "overdue-1", "overdue-2"}) {
		t.Fatalf("reminded=%v", got)
	}
}

// TestTaskFiltersByPersonAndState lists tasks by assignee, status and
// overdue.
func TestTaskFiltersByPersonAndState(t *testing.T) {
	s, _ := newStore(t)
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.Low)).New[0].ID
	a, _ := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:U1", Due: t0.Add(time.Hour)}, "x")
	b, _ := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:U2", Due: t0.Add(48 * time.Hour)}, "x")
	cc, _ := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:U1"}, "x")
	if _, err := s.SetTaskStatus(cc.ID, TaskInProgress, "slack:U1", ""); err != nil {
		t.Fatal(err)
	}
	ids := func(f TaskFilter) []string {
		ts, err := s.ListTasks(f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	if got := ids(TaskFilter{Assignee: "slack:U1"}); !reflect.DeepEqual(got, []string{a.ID, cc.ID}) {
		t.Fatalf("U1's tasks=%v", got)
	}
	if got := ids(TaskFilter{OverdueAt: t0.Add(2 * time.Hour)}); !reflect.DeepEqual(got, []string{a.ID}) {
		t.Fatalf("overdue=%v", got)
	}
	if got := ids(TaskFilter{Statuses: []TaskStatus{TaskInProgress}}); !reflect.DeepEqual(got, []string{cc.ID}) {
		t.Fatalf("in progress=%v", got)
	}
	_ = b
}

// hookServer records webhook requests and answers with the next status.
type hookServer struct {
	mu       sync.Mutex
	statuses []int
	reqs     []*http.Request
	bodies   [][]byte
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	h.reqs, h.bodies = append(h.reqs, r), append(h.bodies, b)
	code := http.StatusOK
	if len(h.statuses) > 0 {
		code, h.statuses = h.statuses[0], h.statuses[1:]
	}
	w.WriteHeader(code)
}

func send(t *testing.T, s *Store) int {
	t.Helper()
	n, err := (&WebhookSender{Store: s}).Send(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestWebhookSignedAndRetried(t *testing.T) {
	hook := &hookServer{statuses: []int{http.StatusServiceUnavailable}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s, c := newStore(t)
	s.Config = configFromYAML(t, "workflows:\n  tasks:\n    webhook:\n      url: "+srv.URL+"/hook\n      secret: s3cr3t\n")
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	task, err := s.CreateTask(TaskInput{AlertID: id, Assignee: "slack:UDEV", Notes: "revoke the rule"}, "slack:U1")
	if err != nil {
		t.Fatal(err)
	}
	c.now = t0.Add(time.Minute)
	if _, err := s.SetTaskStatus(task.ID, TaskInProgress, "slack:UDEV", "on it"); err != nil {
		t.Fatal(err)
	}
	if n := send(t, s); n != 0 {
		t.Fatalf("sent %d while the server answers 503", n)
	}
	if n := send(t, s); n != 0 || len(hook.reqs) != 1 {
		t.Fatalf("sent %d, %d requests before the backoff; want no new request", n, len(hook.reqs))
	}
	c.now = c.now.Add(3 * time.Second)
	if n := send(t, s); n != 2 {
		t.Fatalf("sent %d after the backoff, want 2", n)
	}
	if n, _ := s.WebhookPending(); n != 0 {
		t.Fatalf("pending=%d", n)
	}
	if len(hook.reqs) != 3 {
		t.Fatalf("requests=%d, want 3 (one retry)", len(hook.reqs))
	}
	var bodies []WebhookBody
	for i, r := range hook.reqs {
		ts := r.Header.Get(HeaderTimestamp)
		if got, want := r.Header.Get(HeaderSignature), Sign([]byte("s3cr3t"), ts, hook.bodies[i]); got != want || ts == "" {
			t.Fatalf("request %d: signature %q, want %q", i, got, want)
		}
		if r.Method != http.MethodPost || r.URL.Path != "/hook" || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("request %d: %s %s %s", i, r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var b WebhookBody
		if err := json.Unmarshal(hook.bodies[i], &b); err != nil {
			t.Fatal(err)
		}
		if r.Header.Get(HeaderDelivery) != b.ID || r.Header.Get(HeaderEvent) != b.Event {
			t.Fatalf("headers %v do not repeat body id %s event %s", r.Header, b.ID, b.Event)
		}
		bodies = append(bodies, b)
	}
	if bodies[0].ID != bodies[1].ID {
		t.Fatalf("the retry has id %s, the first try %s; want the same", bodies[1].ID, bodies[0].ID)
	}
	open, changed := bodies[1], bodies[2]
	if open.Event != WebhookTaskOpened || open.Task.ID != task.ID || open.Task.Status != TaskOpen || open.Task.Notes != "revoke the rule" ||
		open.Alert.ID != id || open.Alert.Severity != "high" || open.Actor != "slack:U1" || open.Task.Due == nil {
		t.Fatalf("task.opened body=%+v", open)
	}
	if changed.Event != WebhookTaskStatus || changed.PreviousStatus != "open" || changed.Task.Status != TaskInProgress || changed.Actor != "slack:UDEV" {
		t.Fatalf("task.status_changed body=%+v", changed)
	}
}

func TestWebhookPermanentFailureDropped(t *testing.T) {
	hook := &hookServer{statuses: []int{http.StatusBadRequest}}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	s, _ := newStore(t)
	s.Config = configFromYAML(t, "workflows:\n  tasks:\n    webhook:\n      url: "+srv.URL+"/h?token=hush\n      secret: s\n")
	id := ingest(t, s, finding("r", "fp", "g", t0, detectors.High)).New[0].ID
	if _, err := s.CreateTask(TaskInput{AlertID: id}, "x"); err != nil {
		t.Fatal(err)
	}
	send(t, s)
	if n, _ := s.WebhookPending(); n != 0 {
		t.Fatalf("pending=%d after a 400, want the delivery dropped", n)
	}
	log, _ := s.AuditLog(id)
	last := log[len(log)-1]
	if last.Action != "webhook_failed" || !strings.Contains(last.Note, "HTTP 400") {
		t.Fatalf("last audit=%+v, want webhook_failed with the status", last)
	}
	// A network error names the cause, never the URL (it may hold a token).
	srv.Close()
	if _, err := s.CreateTask(TaskInput{AlertID: id}, "x"); err != nil {
		t.Fatal(err)
	}
	send(t, s)
	var item webhookItem
	_ = s.DB().View(func(tx *bolt.Tx) error {
		_, v := tx.Bucket(bucketWebhooks).Cursor().First()
		return json.Unmarshal(v, &item)
	})
	if item.Attempts != 1 || item.LastError == "" || strings.Contains(item.LastError, "hush") || strings.Contains(item.LastError, "127.0.0.1") {
		t.Fatalf("queued item after a network error: attempts=%d error=%q", item.Attempts, item.LastError)
	}
}

// actionDetector raises a finding for each event whose action it knows.
type actionDetector map[string]string // action -> rule id

func (actionDetector) ID() string { return "actions" }

func (d actionDetector) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	rule, ok := d[ev.Action]
	if !ok {
		return nil, nil
	}
	f := detectors.FromEvent(rule, ev)
	f.Title, f.Severity = ev.Action, detectors.High
	return []detectors.Finding{f}, nil
}

func fixtureEvents(t *testing.T) map[string]sources.Event {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "cloudtrail", "invictus-fixes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]sources.Event{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		ev, err := sources.Normalize(append([]byte(nil), sc.Bytes()...), "fixture")
		if err != nil {
			t.Fatal(err)
		}
		out[ev.ID[:8]] = ev
	}
	return out
}

// TestVerifiedFromTheLogs closes remediation tasks when later real
// CloudTrail records show the fix: the security group rule revoked, the
// access key deleted.
func TestVerifiedFromTheLogs(t *testing.T) {
	s, c := newStore(t)
	srcs, err := sources.NewStore(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	evs := fixtureEvents(t)
	eng := detectors.NewEngine(actionDetector{"AuthorizeSecurityGroupIngress": "aws-sg-open-ingress", "CreateAccessKey": "aws-iam-access-key-created"})
	src := &listSource{failAfter: -1, events: []sources.Event{evs["74bd84b4"], evs["8c282c0b"]}}
	job := &Job{Source: src, Detectors: eng, Alerts: s, Sources: srcs, Stateful: true}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Ingest.New) != 2 {
		t.Fatalf("alerts=%d, want 2", len(res.Ingest.New))
	}
	tasks := map[string]Task{}
	for _, a := range res.Ingest.New {
		task, err := s.CreateTask(TaskInput{AlertID: a.ID, Assignee: "slack:UDEV"}, "slack:U1")
		if err != nil {
			t.Fatal(err)
		}
		tasks[a.Finding.RuleID] = task
	}
	sg, key := tasks["aws-sg-open-ingress"], tasks["aws-iam-access-key-created"]
	if len(sg.Fixes) != 1 || sg.Fixes[0].Match["requestParameters.groupId"] != "sg-04cfb7a4712d75b00" {
		t.Fatalf("security group task fixes=%+v", sg.Fixes)
	}
	if len(key.Fixes) != 2 || key.Fixes[0].Match["requestParameters.accessKeyId"] != "AKIATFQR7NSCQLA2F4OD" || key.Fixes[1].Where["requestParameters.status"] != "Inactive" {
		t.Fatalf("access key task fixes=%+v", key.Fixes)
	}
	// A revoke on another group (synthetic, edited from the real one) and
	// the deletion of another key (real) come first: neither closes a task.
	other := evs["8733f811"]
	other.ID = "synthetic-other-group"
	other.Raw = json.RawMessage(strings.Replace(string(other.Raw), "sg-04cfb7a4712d75b00", "sg-0000000000000000a", 1))
	src.events = []sources.Event{other, evs["770e2eb6"], evs["8733f811"], evs["20e603c0"]}
	c.now = t0.Add(time.Hour)
	if res, err = job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(res.Verified) != 2 {
		t.Fatalf("verified %d tasks, want 2", len(res.Verified))
	}
	want := map[string]string{
		sg.ID:  "verified from the logs: RevokeSecurityGroupIngress by bert-jan at 2023-07-10T12:11:57Z (event 8733f811-267d-4c46-8e5b-000fe7c6a9f2)",
		key.ID: "verified from the logs: DeleteAccessKey by bert-jan at 2023-07-10T12:28:24Z (event 20e603c0-e2d6-4bc4-9f25-031d3e314950)",
	}
	for id, note := range want {
		got, _ := s.GetTask(id)
		if got.Status != TaskDone || got.ClosedNote != note {
			t.Fatalf("task %s: status=%s note=%q, want done with %q", id, got.Status, got.ClosedNote, note)
		}
	}
	log, _ := s.AuditLog(sg.AlertID)
	last := log[len(log)-1]
	if last.Action != "task_status" || last.Actor != SystemActor || last.To != string(TaskDone) {
		t.Fatalf("last audit=%+v", last)
	}
	// Reading the same events again changes nothing.
	if res, err = job.Run(context.Background()); err != nil || len(res.Verified) != 0 {
		t.Fatalf("second run verified %d (err %v)", len(res.Verified), err)
	}
}
