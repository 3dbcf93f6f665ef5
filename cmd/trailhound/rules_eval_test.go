package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// casesFile holds one case of each outcome and two lines that cannot be
// judged.
const casesFile = `{"name":"trail stopped","rule":"test-trail-stopped","expected":true,"event":{"eventTime":"2024-05-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","userIdentity":{"type":"IAMUser","userName":"mallory"},"requestParameters":{"name":"main"}}}
{"name":"quiet read","expected":true,"event":{"eventTime":"2024-05-01T10:00:01Z","eventSource":"cloudtrail.amazonaws.com","eventName":"DescribeTrails","userIdentity":{"type":"IAMUser","userName":"mallory"}}}
{"name":"broken
{"name":"trail updated","rule":"test-trail-changed","expected":false,"event":{"eventTime":"2024-05-01T10:00:02Z","eventSource":"cloudtrail.amazonaws.com","eventName":"UpdateTrail","userIdentity":{"type":"IAMUser","userName":"ops"},"requestParameters":{"name":"main"}}}
{"name":"caller identity","expected":false,"event":{"eventTime":"2024-05-01T10:00:03Z","eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity","userIdentity":{"type":"IAMUser","userName":"ops"}}}
{"name":"no event name","expected":false,"event":{"eventTime":"2024-05-01T10:00:04Z","eventSource":"sts.amazonaws.com"}}
`

// casesRules are the rules the tests measure, so that the figures do not
// move with the built-in pack.
const casesRules = `- id: test-trail-stopped
  title: Trail stopped
  severity: high
  description: D.
  recommendation: R.
  reason: "{principal.name} called {action} on trail {requestParameters.name}"
  match: {service: cloudtrail.amazonaws.com, action: StopLogging}
- id: test-trail-changed
  title: Trail changed
  severity: medium
  description: D.
  recommendation: R.
  reason: "{principal.name} called {action} on trail {requestParameters.name}"
  match: {service: cloudtrail.amazonaws.com, action: UpdateTrail}
`

// writeCases writes the cases file and a config loading only casesRules;
// it returns their paths.
func writeCases(t *testing.T) (cases, cfg string) {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"cases.jsonl":     casesFile,
		"rules/test.yaml": casesRules,
		"trailhound.yaml": "data_dir: ./data\ndetectors:\n  rules:\n    builtin: false\n    dirs: [rules]\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "cases.jsonl"), filepath.Join(dir, "trailhound.yaml")
}

// squeeze collapses runs of spaces, so tests read tabwriter output.
func squeeze(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.Join(strings.Fields(l), " ")
	}
	return strings.Join(lines, "\n")
}

func TestRulesEvalCasesText(t *testing.T) {
	path, cfg := writeCases(t)
	code, out, errOut := runCLI(t, "rules", "eval", "--config", cfg, "--cases", path)
	if code != exitOK {
		t.Fatalf("exit=%d\n%s%s", code, out, errOut)
	}
	got := squeeze(out)
	for _, want := range []string{
		"Missed attacks (expected, no finding):\nLINE CASE FOR RULE\n2 quiet read -\n",
		"False firings (look-alikes with a finding):\nLINE CASE FOR RULE SEVERITY FIRED REASON\n4 trail updated test-trail-changed medium test-trail-changed ops called UpdateTrail on trail main\n",
		"Unjudged lines:\nLINE CASE PROBLEM\n3 - not a JSON object: ",
		"6 no event name event: ",
		"Labelled cases in " + path + ":\n" +
			"attacks (expected) 2 cases 1 (50.0%) with a finding 1 (50.0%) medium or higher\n" +
			"look-alikes (not expected) 2 cases 1 (50.0%) with a finding 1 (50.0%) medium or higher\n" +
			"unjudged lines: 2\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "Stratus") {
		t.Errorf("--cases ran the dataset evaluation too:\n%s", got)
	}
}

func TestRulesEvalCasesJSON(t *testing.T) {
	path, cfg := writeCases(t)
	code, out, errOut := runCLI(t, "rules", "eval", "--config", cfg, "--cases", path, "--format", "json")
	if code != exitOK {
		t.Fatalf("exit=%d\n%s%s", code, out, errOut)
	}
	var got casesReport
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("not one JSON document: %v\n%s", err, out)
	}
	want := casesReport{
		File:       path,
		Attacks:    casesTally{Cases: 2, Fired: 1, FiredShare: 0.5, MediumOrHigher: 1, MediumOrHigherShare: 0.5},
		LookAlikes: casesTally{Cases: 2, Fired: 1, FiredShare: 0.5, MediumOrHigher: 1, MediumOrHigherShare: 0.5},
		Unjudged:   2,
		Misses:     []caseJSON{{Line: 2, Name: "quiet read"}},
		FalseFirings: []caseJSON{{Line: 4, Name: "trail updated", Rule: "test-trail-changed", Fired: []string{"test-trail-changed"},
			Severity: "medium", Reason: "ops called UpdateTrail on trail main"}},
	}
	if len(got.Unjudgeable) != 2 || got.Unjudgeable[0].Line != 3 || got.Unjudgeable[1].Line != 6 || got.Unjudgeable[1].Name != "no event name" {
		t.Errorf("unjudged_lines=%+v, want lines 3 and 6", got.Unjudgeable)
	}
	got.Unjudgeable = nil
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("report=%s\nwant   %s", g, w)
	}
}

func TestRulesEvalCasesErrors(t *testing.T) {
	code, _, errOut := runCLI(t, "rules", "eval", "--cases", filepath.Join(t.TempDir(), "absent.jsonl"))
	if code != exitError || !strings.Contains(errOut, "absent.jsonl") {
		t.Errorf("absent file: exit=%d, stderr=%q", code, errOut)
	}
	code, _, errOut = runCLI(t, "rules", "eval", "--format", "json")
	if code != exitError || !strings.Contains(errOut, "--format json is for --cases") {
		t.Errorf("json without cases: exit=%d, stderr=%q", code, errOut)
	}
	path, _ := writeCases(t)
	code, _, errOut = runCLI(t, "rules", "eval", "--cases", path, "--format", "yaml")
	if code != exitError || !strings.Contains(errOut, `--format must be text or json, not "yaml"`) {
		t.Errorf("bad format: exit=%d, stderr=%q", code, errOut)
	}
}

// TestRulesEvalDatasetsMissing runs the evaluation where ../shared/data is
// absent: one line says where to get the datasets.
func TestRulesEvalDatasetsMissing(t *testing.T) {
	inTempDir(t)
	code, out, errOut := runCLI(t, "rules", "eval")
	if code != exitError {
		t.Fatalf("exit=%d, want %d\n%s%s", code, exitError, out, errOut)
	}
	for _, want := range []string{"no evaluation data at ", "github.com/DataDog/stratus-red-team", "github.com/invictus-ir/Sigma-AWS", "--stratus DIR --invictus PATH"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q: %s", want, errOut)
		}
	}
	if n := strings.Count(strings.TrimSpace(errOut), "\n"); n != 0 || out != "" {
		t.Errorf("want one line on stderr and nothing on stdout, got stdout %q, stderr %q", out, errOut)
	}
}
