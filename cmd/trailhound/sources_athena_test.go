package main

import (
	"context"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/sources"
)

// anyEvent is a detector that may fire on any event, as the anomaly
// baselines do.
type anyEvent struct{}

func (anyEvent) ID() string { return "test-any-event" }
func (anyEvent) Detect(context.Context, *sources.Event) ([]detectors.Finding, error) {
	return nil, nil
}

// scoped is a detector that fires only on some event names.
type scoped struct{}

func (scoped) ID() string        { return "test-scoped" }
func (scoped) Actions() []string { return []string{"StopLogging", "DeleteTrail"} }
func (scoped) Detect(context.Context, *sources.Event) ([]detectors.Finding, error) {
	return nil, nil
}

func TestPushedCondition(t *testing.T) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	root, _ := p.Rule("aws-root-account-use")
	net, _ := p.Rule("aws-network-change")
	rs := []detectors.Detector{root, net}
	pack, _, _ := pushdown.PackCondition([]*rules.Rule{root, net}, pushdown.Athena, pushdown.MaxCondition)
	if got := pushedCondition(rs); got != "("+pack+")" || pack == "" {
		t.Errorf("condition of two rules:\n%s\nwant their pack condition", got)
	}
	got := pushedCondition(append(rs, scoped{}))
	if !strings.HasPrefix(got, "eventname IN ('DeleteTrail', 'StopLogging')\n    OR (") || !strings.Contains(got, pack) {
		t.Errorf("with a detector scoped to names:\n%.300s", got)
	}
	if got := pushedCondition(append(rs, anyEvent{})); got != "" {
		t.Errorf("with a detector of any event: condition %q, want none (every row)", got)
	}
	if got := everyEventDetector(append(rs, anyEvent{})); got != "test-any-event" {
		t.Errorf("every-event detector=%q", got)
	}
	if got := everyEventDetector(rs); got != "" {
		t.Errorf("every-event detector of pushable rules=%q", got)
	}
	if got := pushedCondition(nil); got != "FALSE" {
		t.Errorf("no detector: condition %q, want FALSE", got)
	}
	// The whole pack is narrowed within Athena's query limit.
	all := pushedCondition(p.Detectors())
	if all == "" || len(all) > pushdown.MaxCondition {
		t.Fatalf("pack condition of %d bytes, want a narrowing one within %d", len(all), pushdown.MaxCondition)
	}
	t.Logf("pack of %d rules: condition of %d bytes", len(p.Rules()), len(all))
}
