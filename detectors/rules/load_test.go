package rules_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
)

// TestLoadErrors loads each bad rule file in testdata/bad and checks the
// whole message: file, line, rule and key, and what is wrong.
func TestLoadErrors(t *testing.T) {
	tests := []struct {
		file string
		want string
	}{
		{"unknown-key.yaml", "unknown-key.yaml:7: rule x: severty: unknown key (want one of id, title, severity,"},
		{"unknown-operator.yaml", "unknown-operator.yaml:9: rule x: match.requestParameters.instancesSet.items.maxCount.gtt: unknown operator (want one of eq, glob,"},
		{"bad-severity.yaml", `bad-severity.yaml:3: rule x: severity: unknown severity "urgent" (want one of info, low, medium, high, critical)`},
		{"missing-match.yaml", "missing-match.yaml:1: rule x: match: is required"},
		{"bad-regex.yaml", `bad-regex.yaml:8: rule x: match.user_agent.regex: invalid regex "([": missing closing ]`},
		{"bad-window.yaml", `bad-window.yaml:8: rule x: threshold.window: invalid duration "10x" (use e.g. 90s, 10m, 2h, 14d)`},
		{"bad-cidr.yaml", `bad-cidr.yaml:8: rule x: match.source_ip.cidr: invalid CIDR "10.0.0.0/33"`},
		{"not-a-list.yaml", `not-a-list.yaml:1: a rule file must be a list of rules (each starting with "- id: ...")`},
		{"bad-technique.yaml", `bad-technique.yaml:1: rule x: technique: "1078" is not a MITRE ATT&CK technique id like T1078 or T1562.008`},
		{"bad-test-event.yaml", "bad-test-event.yaml:9: rule x: tests[0]: event 1: not a CloudTrail record: missing eventName"},
		{"unknown-superseded.yaml", `unknown-superseded.yaml:1: rule x: superseded_by[0]: unknown rule "no-such-rule"`},
		{"exists-and-op.yaml", "exists-and-op.yaml:8: rule x: match.error_code: exists/absent cannot be combined with other operators"},
		{"empty-any.yaml", "empty-any.yaml:8: rule x: match.any: must be a non-empty list of conditions"},
		{"syntax.yaml", "syntax.yaml:1: did not find expected ',' or ']'"},
		{"missing-id.yaml", "missing-id.yaml:1: rules[0].id: is required"},
		{"bad-reason.yaml", `bad-reason.yaml:1: rule x: reason: unclosed { in "{principal.name called"`},
		{"threshold-count.yaml", "threshold-count.yaml:8: rule x: threshold.count: must be at least 1"},
		{"bad-field.yaml", `bad-field.yaml:8: rule x: match.requestParameters..name: invalid field path "requestParameters..name"`},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			dir := t.TempDir()
			copyFile(t, filepath.Join("testdata", "bad", tc.file), filepath.Join(dir, tc.file))
			_, err := rules.Load(rules.Options{NoBuiltin: true, Dirs: []string{dir}})
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			got := strings.TrimPrefix(err.Error(), dir+string(filepath.Separator))
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("error=%q\nwant prefix %q", got, tc.want)
			}
		})
	}
}

func TestLoadDuplicateID(t *testing.T) {
	_, err := rules.Load(rules.Options{NoBuiltin: true, Dirs: []string{filepath.Join("testdata", "dup")}})
	want := "testdata/dup/b.yaml:1: rule same: id: duplicate id, also defined in testdata/dup/a.yaml:1"
	if err == nil || err.Error() != want {
		t.Fatalf("error=%v, want %q", err, want)
	}
}

func TestLoadUnknownDisable(t *testing.T) {
	_, err := rules.Load(rules.Options{Disable: []string{"aws-no-such-rule"}})
	want := `rules: cannot disable unknown rule "aws-no-such-rule"`
	if err == nil || err.Error() != want {
		t.Fatalf("error=%v, want %q", err, want)
	}
	_, err = rules.Load(rules.Options{Enable: []string{"aws-nope"}})
	want = `rules: cannot enable unknown rule "aws-nope"`
	if err == nil || err.Error() != want {
		t.Fatalf("error=%v, want %q", err, want)
	}
}
