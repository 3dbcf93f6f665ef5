package rules_test

import (
	"context"
	"github.com/trailhound/trailhound/internal/shareddata"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
)

func builtinEngine() (*detectors.Engine, error) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		return nil, err
	}
	return detectors.NewEngine(p.Detectors()...), nil
}

// TestStratusCoverage runs the built-in pack over every Stratus Red Team
// detonation log and requires at least 30 of the 35 techniques detected.
func TestStratusCoverage(t *testing.T) {
	dir := shareddata.Path(t, "stratus_red_team_detonation_logs")
	cov, err := rules.EvalStratus(context.Background(), dir, builtinEngine)
	if err != nil {
		t.Fatal(err)
	}
	detected := 0
	for _, c := range cov {
		if c.Detected() {
			detected++
			t.Logf("detected %-58s %3d events %3d findings  %v", c.Technique, c.Events, c.Findings, c.Rules)
		} else {
			t.Logf("MISSED   %-58s %3d events", c.Technique, c.Events)
		}
	}
	t.Logf("coverage: %d/%d techniques", detected, len(cov))
	if len(cov) != 35 {
		t.Errorf("techniques=%d, want 35", len(cov))
	}
	if detected < 30 {
		t.Errorf("detected=%d, want at least 30", detected)
	}
}

// TestBackgroundNoise runs the built-in pack over the Invictus records
// without the Stratus marker and allows at most 5 alerts.
func TestBackgroundNoise(t *testing.T) {
	path := filepath.Join(shareddata.Path(t, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl")
	n, err := rules.EvalBackground(context.Background(), path, builtinEngine, rules.NotStratus)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Alerts {
		t.Logf("alert %-38s %-8s %-20s x%-3d %s", a.RuleID, a.Severity, a.Principal, a.Count, a.Reason)
	}
	t.Logf("background: %d events, %d findings, %d alerts", n.Events, n.Findings, len(n.Alerts))
	if n.Events != 1754 {
		t.Errorf("background events=%d, want 1754", n.Events)
	}
	if len(n.Alerts) > 5 {
		t.Errorf("alerts=%d, want at most 5", len(n.Alerts))
	}
}
