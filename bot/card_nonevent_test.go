package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
)

// TestCardOfNonEventFinding: a finding about no event in particular (a
// log source gone silent) gets a card that says what was checked, not
// "an unknown principal called - in account - (-)".
func TestCardOfNonEventFinding(t *testing.T) {
	at := time.Date(2024, 8, 2, 10, 0, 0, 0, time.UTC)
	a := workflows.Alert{ID: "TH-7", Severity: detectors.Medium, Count: 1, Finding: detectors.Finding{
		RuleID: "trailhound-source-silent", Title: "Log source stopped sending events", Severity: detectors.Medium,
		Reason: "no events from samples since 2024-07-30 08:00 UTC (2d ago)", Time: at, Source: "samples",
	}}
	c := CardFor(a)
	if c.Summary != "Checked source samples at 2024-08-02 10:00:00 UTC" {
		t.Errorf("summary=%q", c.Summary)
	}
	for _, f := range c.Fields {
		if f.Label == "Action" || f.Label == "Events" || f.Value == ":" {
			t.Errorf("non-event card has field %s=%q", f.Label, f.Value)
		}
	}
	var labels []string
	for _, f := range c.Fields {
		labels = append(labels, f.Label)
	}
	if !strings.Contains(strings.Join(labels, ","), "Source") {
		t.Errorf("fields %v lack the source", labels)
	}
	// An event finding keeps its sentence.
	a.Finding.Action, a.Finding.Principal.Name, a.Finding.Account = "StopLogging", "alice", "111122223333"
	if c := CardFor(a); !strings.HasPrefix(c.Summary, "alice called StopLogging in account 111122223333") {
		t.Errorf("event summary=%q", c.Summary)
	}
}
