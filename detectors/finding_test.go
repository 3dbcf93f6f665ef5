package detectors

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

func TestSeverity(t *testing.T) {
	for i, name := range []string{"info", "low", "medium", "high", "critical"} {
		s, err := ParseSeverity(strings.ToUpper(name))
		if err != nil || int(s) != i || s.String() != name {
			t.Errorf("ParseSeverity(%q)=%v,%v, want %d", name, s, err, i)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil || !strings.Contains(err.Error(), `unknown severity "urgent" (want one of info, low, medium, high, critical)`) {
		t.Fatalf("err=%v", err)
	}
	var s Severity
	if err := s.UnmarshalText([]byte("high")); err != nil || s != High {
		t.Fatalf("UnmarshalText: %v %v", s, err)
	}
	if got := Severity(9).String(); got != "severity(9)" {
		t.Fatalf("out of range: %q", got)
	}
}

func TestFromEventAndFingerprint(t *testing.T) {
	ev := &sources.Event{ID: "e1", Time: time.Unix(100, 0), Account: "111122223333", Action: "CreateUser",
		Principal: sources.Principal{ARN: "arn:aws:iam::111122223333:user/alice", Name: "alice"}, Raw: []byte(`{"a":1}`)}
	f := FromEvent("r", ev)
	if f.EventCount != 1 || len(f.EventIDs) != 1 || len(f.Evidence) != 1 || f.Action != "CreateUser" {
		t.Fatalf("finding=%+v", f)
	}
	if f.Fingerprint != Fingerprint("r", ev.Account, ev.ID) || f.GroupKey != Fingerprint("r", ev.Account, ev.Principal.ARN) {
		t.Fatal("fingerprint or group key not derived from rule, account and event/principal")
	}
	// Parts are separated, so shifting text between parts changes the key.
	if Fingerprint("ab", "c") == Fingerprint("a", "bc") {
		t.Fatal("fingerprint parts run together")
	}
}

type fixed struct {
	id    string
	out   []Finding
	err   error
	saved *int
}

func (d fixed) ID() string { return d.id }
func (d fixed) Detect(context.Context, *sources.Event) ([]Finding, error) {
	return d.out, d.err
}
func (d fixed) Save(*bolt.Tx) error { *d.saved++; return nil }

func TestEngine(t *testing.T) {
	saved := 0
	e := NewEngine(
		fixed{id: "a", out: []Finding{{RuleID: "a"}}, saved: &saved},
		fixed{id: "b", err: errors.New("broken"), saved: &saved},
		fixed{id: "c", out: []Finding{{RuleID: "c"}}, saved: &saved},
	)
	fs, err := e.Detect(context.Background(), &sources.Event{})
	if len(fs) != 2 || err == nil || !strings.Contains(err.Error(), "detector b: broken") {
		t.Fatalf("findings=%v err=%v, want two findings and b's error", fs, err)
	}
	db := testdb.Open(t)
	if err := db.Update(e.Save); err != nil || saved != 3 {
		t.Fatalf("saved %d detectors, err %v", saved, err)
	}
}
