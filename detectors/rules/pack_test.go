package rules_test

import (
	"os"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
)

// TestBuiltinRuleTests runs the inline tests of every built-in rule.
func TestBuiltinRuleTests(t *testing.T) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	results := p.RunTests("")
	if len(results) == 0 {
		t.Fatal("no inline tests ran")
	}
	for _, r := range results {
		t.Run(r.Rule+"/"+r.Name, func(t *testing.T) {
			if r.Err != nil {
				t.Fatalf("%s:%d: %v", r.File, r.Line, r.Err)
			}
			if r.Got != r.Want {
				t.Fatalf("%s:%d: match=%v, want %v (findings: %+v)", r.File, r.Line, r.Got, r.Want, r.Findings)
			}
		})
	}
}

// TestBuiltinRulesComplete checks that every built-in rule carries the
// metadata a responder needs, a tactic tag for COVERAGE.md, at least one
// test that fires and one look-alike it must not fire on.
func TestBuiltinRulesComplete(t *testing.T) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range p.Rules() {
		d := r.Definition()
		if d.Technique == "" {
			t.Errorf("%s: no MITRE ATT&CK technique", d.ID)
		}
		if d.Reason == "" {
			t.Errorf("%s: no reason template", d.ID)
		}
		fires, silent := false, false
		for _, c := range d.Tests {
			fires = fires || c.Match
			silent = silent || !c.Match
		}
		if !fires {
			t.Errorf("%s: no inline test where the rule fires", d.ID)
		}
		if !silent {
			t.Errorf("%s: no inline test of a look-alike where the rule stays silent", d.ID)
		}
		tactic := false
		for _, tag := range d.Tags {
			for _, tc := range rules.Tactics {
				for _, tt := range tc.Tags {
					tactic = tactic || tag == tt
				}
			}
		}
		if !tactic {
			t.Errorf("%s: no ATT&CK tactic tag (%v)", d.ID, d.Tags)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
