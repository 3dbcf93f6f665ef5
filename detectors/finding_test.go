package detectors

import (
	"context"
	"errors"
	"strconv"
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

// scoped fires on every event it is shown; its Actions scope it.
type scoped struct {
	id      string
	actions []string
}

func (d scoped) ID() string        { return d.id }
func (d scoped) Actions() []string { return d.actions }
func (d scoped) Detect(context.Context, *sources.Event) ([]Finding, error) {
	return []Finding{{RuleID: d.id}}, nil
}

// TestEngineIndexesByAction checks that detectors scoped to event names
// see only those events, unscoped ones see every event, a scope of no
// names sees none, and findings keep the detectors' order.
func TestEngineIndexesByAction(t *testing.T) {
	e := NewEngine(
		scoped{id: "login", actions: []string{"ConsoleLogin"}},
		scoped{id: "any"},
		scoped{id: "never", actions: []string{}},
		scoped{id: "iam", actions: []string{"CreateUser", "ConsoleLogin", "CreateUser"}},
		fixed{id: "plain", out: []Finding{{RuleID: "plain"}}},
	)
	for action, want := range map[string]string{
		"ConsoleLogin": "login any iam plain",
		"CreateUser":   "any iam plain",
		"ListBuckets":  "any plain",
		"":             "any plain",
	} {
		fs, err := e.Detect(context.Background(), &sources.Event{Action: action})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.RuleID)
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%q: detectors fired %v, want %s", action, got, want)
		}
	}
	if len(e.Detectors()) != 5 {
		t.Fatalf("Detectors()=%d, want all 5", len(e.Detectors()))
	}
}

// counting is a Counter fake: Detect and DetectCount each return one
// finding naming the path taken and the events counted.
type counting struct{ id string }

func (d counting) ID() string { return d.id }
func (d counting) Detect(_ context.Context, ev *sources.Event) ([]Finding, error) {
	return []Finding{{RuleID: d.id + " event " + ev.ID}}, nil
}
func (d counting) DetectCount(_ context.Context, ev *sources.Event) ([]Finding, error) {
	return []Finding{{RuleID: d.id + " count " + ev.ID + " " + strconv.Itoa(ev.Tally.Count)}}, nil
}

// TestEngineRoutesTallies: an event with a Tally goes to the Counters
// alone, through DetectCount; an event marked Counted goes to every
// detector but the Counters (which see it inside a Tally); an ordinary
// event goes to all.
func TestEngineRoutesTallies(t *testing.T) {
	e := NewEngine(counting{"anomaly"}, scoped{id: "rule", actions: nil})
	for _, tc := range []struct {
		name string
		ev   sources.Event
		want string
	}{
		{"ordinary", sources.Event{ID: "e1", Action: "GetObject"}, "anomaly event e1,rule"},
		{"counted", sources.Event{ID: "e2", Action: "GetObject", Counted: true}, "rule"},
		{"tally", sources.Event{ID: "g1", Action: "GetObject", Tally: &sources.Tally{Count: 7, Key: "g"}}, "anomaly count g1 7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, err := e.Detect(t.Context(), &tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.RuleID)
			}
			if strings.Join(got, ",") != tc.want {
				t.Fatalf("findings=%q, want %q", strings.Join(got, ","), tc.want)
			}
		})
	}
}
