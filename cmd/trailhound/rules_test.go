package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRulesList(t *testing.T) {
	code, out, errOut := runCLI(t, "rules", "list")
	if code != exitOK {
		t.Fatalf("exit=%d\n%s", code, errOut)
	}
	for _, want := range []string{"aws-root-account-use", "aws-console-login-failures", "threshold 5/10m", "aws-cloudwatch-log-group-deleted (off)", "web-sql-injection"} {
		if !strings.Contains(out, want) {
			t.Errorf("list lacks %q:\n%s", want, out)
		}
	}
	// The table fits a 120-column terminal.
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Errorf("line of %d columns: %s", n, line)
		}
	}
	code, out, _ = runCLI(t, "rules", "list", "--format", "json")
	var infos []ruleInfo
	if code != exitOK || json.Unmarshal([]byte(out), &infos) != nil || len(infos) < 50 {
		t.Fatalf("json list: exit=%d, %d rules", code, len(infos))
	}
}

func TestRulesTestInline(t *testing.T) {
	code, out, errOut := runCLI(t, "rules", "test")
	if code != exitOK || !strings.Contains(out, " tests, 0 failed") {
		t.Fatalf("exit=%d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "rules", "test", "--rule", "aws-no-such-rule")
	if code != exitError || !strings.Contains(errOut, `no rule "aws-no-such-rule" in the pack`) {
		t.Fatalf("unknown rule: exit=%d %s", code, errOut)
	}
}

// TestRulesTestFailingRule runs a user rule whose inline test fails.
func TestRulesTestFailingRule(t *testing.T) {
	dir := t.TempDir()
	rule := `- id: my-rule
  title: Mine
  severity: low
  technique: T1078
  description: D.
  recommendation: R.
  match: {action: StopLogging}
  tests:
    - name: should fire but does not
      match: true
      event: {eventSource: cloudtrail.amazonaws.com, eventName: StartLogging, userIdentity: {type: IAMUser, userName: x}}
`
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules", "mine.yaml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := "data_dir: ./data\ndetectors:\n  rules:\n    dirs: [rules]\n"
	cfgPath := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "rules", "test", "--config", cfgPath, "--rule", "my-rule")
	want := "FAIL my-rule: should fire but does not (" + filepath.Join(dir, "rules", "mine.yaml") + ":9): the rule should fire"
	if code != exitError || !strings.Contains(out, want) || !strings.Contains(out, "1 tests, 1 failed") {
		t.Fatalf("exit=%d, want %q in:\n%s", code, want, out)
	}
}

// TestRulesTestOverFiles runs the pack over the bundled sample sign-ins.
func TestRulesTestOverFiles(t *testing.T) {
	sample := repoFile(t, "configs/samples/synthetic-signin-events.jsonl")
	code, out, errOut := runCLI(t, "rules", "test", "--rule", "aws-console-login-failures", sample)
	if code != exitOK {
		t.Fatalf("exit=%d\n%s", code, errOut)
	}
	if !strings.Contains(out, "aws-console-login-failures") || !strings.Contains(out, "failed sign-ins from 203.0.113.77 within 10m (threshold 5)") {
		t.Fatalf("no burst finding:\n%s", out)
	}
	if strings.Contains(out, "aws-root-account-use") {
		t.Fatalf("--rule did not limit the rules:\n%s", out)
	}
}

// TestValidateBadRuleDir reports a bad user rule with its file and line.
func TestValidateBadRuleDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "rules"), 0o700); err != nil {
		t.Fatal(err)
	}
	bad := "- id: x\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  match:\n    action: {startswit: Get}\n"
	if err := os.WriteFile(filepath.Join(dir, "rules", "bad.yaml"), []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfgPath, []byte("detectors:\n  rules:\n    dirs: [rules]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "validate", cfgPath)
	want := filepath.Join(dir, "rules", "bad.yaml") + ":7: rule x: match.action.startswit: unknown operator"
	if code != exitError || !strings.Contains(errOut, want) {
		t.Fatalf("exit=%d, want %q in:\n%s", code, want, errOut)
	}
	if err := os.WriteFile(cfgPath, []byte("detectors:\n  rules:\n    disable: [aws-nope]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "validate", cfgPath)
	if code != exitError || !strings.Contains(errOut, `trailhound.yaml:3: detectors.rules: rules: cannot disable unknown rule "aws-nope"`) {
		t.Fatalf("exit=%d:\n%s", code, errOut)
	}
}

// TestRulesEval runs the evaluation over the shared datasets and requires
// the quality bar.
func TestRulesEval(t *testing.T) {
	stratus := filepath.Join(repoRoot, "..", "shared", "data", "stratus_red_team_detonation_logs")
	invictus := filepath.Join(repoRoot, "..", "shared", "data", "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl")
	if _, err := os.Stat(invictus); err != nil {
		t.Skipf("shared data absent: %v", err)
	}
	code, out, errOut := runCLI(t, "rules", "eval", "--stratus", stratus, "--invictus", invictus)
	if code != exitOK || !strings.Contains(out, "quality bar met") {
		t.Fatalf("exit=%d\n%s%s", code, out, errOut)
	}
	t.Log("\n" + out)
}
