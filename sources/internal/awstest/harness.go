package awstest

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

// Record returns a CloudTrail record shaped like the examples in AWS's
// CloudTrail documentation. root makes the root user the caller, which
// the built-in root-use detector reports.
func Record(id string, at time.Time, name string, root bool) []byte {
	identity := map[string]any{
		"type": "IAMUser", "principalId": "AIDAEXAMPLEUSER1", "arn": "arn:aws:iam::111122223333:user/alice",
		"accountId": "111122223333", "accessKeyId": "AKIAEXAMPLEALICE", "userName": "alice",
	}
	if root {
		identity = map[string]any{"type": "Root", "principalId": "111122223333", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}
	}
	b, _ := json.Marshal(map[string]any{
		"eventVersion": "1.08", "userIdentity": identity, "eventTime": at.UTC().Format(time.RFC3339),
		"eventSource": "iam.amazonaws.com", "eventName": name, "awsRegion": "us-east-1",
		"sourceIPAddress": "198.51.100.23", "userAgent": "aws-cli/2.13.0", "requestParameters": map[string]any{"userName": "bob"},
		"responseElements": nil, "requestID": "req-" + id, "eventID": id, "readOnly": false, "eventType": "AwsApiCall",
		"managementEvent": true, "recipientAccountId": "111122223333", "eventCategory": "Management",
	})
	return b
}

// EventLog is a detector that records every event a job hands it, in
// order, and makes one info finding per event, so a test can tell that
// each event was processed exactly once and its finding stored.
type EventLog struct {
	mu  sync.Mutex
	ids []string
}

// ID implements detectors.Detector.
func (l *EventLog) ID() string { return "test-every-event" }

// Detect implements detectors.Detector.
func (l *EventLog) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	l.mu.Lock()
	l.ids = append(l.ids, ev.ID)
	l.mu.Unlock()
	f := detectors.FromEvent(l.ID(), ev)
	f.Title = "event " + ev.ID
	f.GroupKey = f.Fingerprint
	return []detectors.Finding{f}, nil
}

// IDs returns the event ids processed so far.
func (l *EventLog) IDs() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.ids...)
}

// Harness is a real bbolt database with the stores a poller uses, that a
// test can restart as the process would be.
type Harness struct {
	t       testing.TB
	Path    string
	DB      *bolt.DB
	Alerts  *workflows.Store
	Sources *sources.Store
	Log     *EventLog
	// Detectors run besides Log.
	Extra []detectors.Detector
}

// NewHarness opens a database under t.TempDir(), closed on cleanup.
func NewHarness(t testing.TB) *Harness {
	h := &Harness{t: t, Path: filepath.Join(t.TempDir(), "trailhound.db"), Log: &EventLog{}}
	h.open()
	t.Cleanup(func() {
		if h.DB != nil {
			h.DB.Close()
		}
	})
	return h
}

func (h *Harness) open() {
	h.t.Helper()
	db, err := bolt.Open(h.Path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		h.t.Fatalf("open db: %v", err)
	}
	h.DB = db
	if h.Alerts, err = workflows.NewStore(db); err != nil {
		h.t.Fatal(err)
	}
	if h.Sources, err = sources.NewStore(db); err != nil {
		h.t.Fatal(err)
	}
}

// Restart closes and reopens the database, as a process restart does.
func (h *Harness) Restart() {
	h.t.Helper()
	if err := h.DB.Close(); err != nil {
		h.t.Fatalf("close db: %v", err)
	}
	h.open()
}

// Job returns a stateful job polling src, as `trailhound run` does.
func (h *Harness) Job(src sources.Source) *workflows.Job {
	ds := append([]detectors.Detector{h.Log}, h.Extra...)
	return &workflows.Job{Source: src, Detectors: detectors.NewEngine(ds...), Alerts: h.Alerts, Sources: h.Sources, Stateful: true}
}

// Poll runs one stateful poll of src.
func (h *Harness) Poll(src sources.Source) (*workflows.Result, error) {
	return h.Job(src).Run(context.Background())
}

// Health returns the stored health of a source.
func (h *Harness) Health(name string) sources.Health {
	h.t.Helper()
	all, err := h.Sources.Health()
	if err != nil {
		h.t.Fatalf("health: %v", err)
	}
	for _, x := range all {
		if x.Source == name {
			return x
		}
	}
	return sources.Health{Source: name}
}

// StoredEventIDs returns the ids of the events whose findings (by the
// EventLog detector) are stored, sorted.
func (h *Harness) StoredEventIDs() []string {
	h.t.Helper()
	alerts, err := h.Alerts.List(workflows.Filter{RuleID: h.Log.ID()})
	if err != nil {
		h.t.Fatalf("list alerts: %v", err)
	}
	var ids []string
	for _, a := range alerts {
		ids = append(ids, a.Finding.EventIDs...)
	}
	sort.Strings(ids)
	return ids
}

// ExactlyOnce fails the test unless the processed and stored event ids are
// exactly want, each processed once.
func (h *Harness) ExactlyOnce(want []string) {
	h.t.Helper()
	got := h.Log.IDs()
	count := map[string]int{}
	for _, id := range got {
		count[id]++
	}
	for id, n := range count {
		if n > 1 {
			h.t.Errorf("event %s processed %d times, want once", id, n)
		}
	}
	w := append([]string(nil), want...)
	sort.Strings(w)
	if fmt.Sprint(uniq(got)) != fmt.Sprint(w) {
		h.t.Errorf("processed events=%v, want %v", uniq(got), w)
	}
	if stored := h.StoredEventIDs(); fmt.Sprint(stored) != fmt.Sprint(w) {
		h.t.Errorf("stored findings for events=%v, want %v", stored, w)
	}
}

func uniq(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Rule returns one rule of the built-in rule pack as a detector, so
// integration tests find what the bot finds.
func Rule(t testing.TB, id string) detectors.Detector {
	t.Helper()
	pack, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatalf("load rule pack: %v", err)
	}
	r, ok := pack.Rule(id)
	if !ok {
		t.Fatalf("no built-in rule %q", id)
	}
	return r
}
