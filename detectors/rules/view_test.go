package rules_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
)

func viewText(n rules.Node) string {
	switch n.Kind {
	case rules.NodeField:
		var ts []string
		for _, t := range n.Tests {
			ts = append(ts, fmt.Sprintf("%s%v fold=%v neg=%v", t.Op, t.Values, t.Fold, t.Negate))
		}
		return fmt.Sprintf("%s(norm=%v presence=%d %s)", n.Field, n.Normalized, n.Presence, strings.Join(ts, ";"))
	case rules.NodeConst:
		return fmt.Sprint(n.Value)
	}
	var as []string
	for _, a := range n.Args {
		as = append(as, viewText(a))
	}
	return n.Kind.String() + "[" + strings.Join(as, ", ") + "]"
}

// TestMatchView checks that the exported view says what the compiled
// rule tests: operators as compiled (eq with wildcards is a glob),
// negations, presence and the superseding rules.
func TestMatchView(t *testing.T) {
	defs, err := rules.Parse([]byte(`
- id: general
  title: T
  severity: low
  description: D.
  recommendation: R.
  superseded_by: [specific]
  match:
    action: [CreateUser, "Delete*"]
    requestParameters.userName: {exists: true}
    not: {user_agent: {contains: terraform, nocase: true}}
  threshold: {count: 3, window: 10m}
- id: specific
  title: T
  severity: low
  description: D.
  recommendation: R.
  match: {action: CreateUser}
`), "view.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.Rule("general")
	got := viewText(r.Match())
	for _, want := range []string{
		// One value with a wildcard makes the whole test a glob.
		"action(norm=true presence=0 glob[CreateUser Delete*] fold=false neg=false)",
		"requestParameters.userName(norm=false presence=1 )",
		"not[user_agent(norm=true presence=0 contains[terraform] fold=true neg=false)]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("view lacks %s:\n%s", want, got)
		}
	}
	if s := r.Superseding(); len(s) != 1 || s[0].ID() != "specific" {
		t.Errorf("superseding=%v, want [specific]", s)
	}
	th := r.ThresholdSpec()
	if th == nil || th.Count != 3 || strings.Join(th.GroupBy, ",") != "account,principal.arn" {
		t.Errorf("threshold=%+v, want 3 per account,principal.arn", th)
	}
	if sp, _ := p.Rule("specific"); sp.ThresholdSpec() != nil {
		t.Errorf("stateless rule has a threshold")
	}
	// The deployment patterns read back as they were set, lower-cased.
	if _, err := rules.Load(rules.Options{NoBuiltin: true, DeploymentPrincipals: []string{"CI-*", `odd\*name`}}); err != nil {
		t.Fatal(err)
	}
	defer rules.Load(rules.Options{NoBuiltin: true})
	if got := fmt.Sprint(rules.DeploymentPrincipals()); got != `[ci-* odd\*name]` {
		t.Errorf("deployment principals=%s", got)
	}
}
