package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRulesListPushdown checks the PUSHDOWN column and the per-engine
// status of `rules list --format json`.
func TestRulesListPushdown(t *testing.T) {
	code, out, errOut := runCLI(t, "rules", "list")
	if code != exitOK {
		t.Fatalf("exit=%d\n%s", code, errOut)
	}
	lines := strings.Split(out, "\n")
	if !strings.Contains(lines[0], "PUSHDOWN") || !strings.Contains(out, "PUSHDOWN: Athena, Logs Insights, filter pattern") {
		t.Fatalf("no PUSHDOWN column or legend:\n%.600s", out)
	}
	want := map[string]string{
		// Event names and plain fields: exact everywhere but the filter
		// pattern, which cannot say by_service.
		"aws-account-closed": "==~",
		// Rules for plain log lines match no CloudTrail record.
		"web-xss": "000",
	}
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 4 && want[f[0]] != "" && f[4] != want[f[0]] {
			t.Errorf("%s: PUSHDOWN %q, want %q", f[0], f[4], want[f[0]])
		}
	}
	code, out, _ = runCLI(t, "rules", "list", "--format", "json")
	var infos []ruleInfo
	if code != exitOK || json.Unmarshal([]byte(out), &infos) != nil {
		t.Fatalf("json list: exit=%d", code)
	}
	for _, in := range infos {
		if in.ID != "aws-s3-bucket-policy-public" && in.ID != "aws-root-account-use" {
			continue
		}
		a := in.Pushdown["athena"]
		if in.ID == "aws-root-account-use" && a.Status != "exact" {
			t.Errorf("%s athena: %+v, want exact", in.ID, a)
		}
		if fp := in.Pushdown["filter-pattern"]; fp.Status != "coarse" || len(fp.Reasons) == 0 {
			t.Errorf("%s filter-pattern: %+v, want coarse with reasons", in.ID, fp)
		}
	}
}

// TestRulesCompile prints a rule's Athena SQL, the pack's Insights query
// and filter pattern, and refuses an unknown engine or rule.
func TestRulesCompile(t *testing.T) {
	code, out, errOut := runCLI(t, "rules", "compile", "--rule", "aws-console-login-failures", "--table", "db.trail")
	if code != exitOK || !strings.Contains(out, "-- rule aws-console-login-failures, athena: exact") ||
		!strings.Contains(out, "FROM db.trail") || !strings.Contains(out, "HAVING count(DISTINCT b.event_id) >= 5") {
		t.Fatalf("exit=%d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "rules", "compile", "--rule", "aws-root-account-use", "--engine", "filter-pattern")
	if code != exitOK || !strings.Contains(out, `{ ($.userIdentity.type = "Root") }`) || !strings.Contains(out, "-- not pushed down: field by_service") {
		t.Fatalf("filter pattern: exit=%d\n%s", code, out)
	}
	code, out, _ = runCLI(t, "rules", "compile", "--engine", "insights")
	if code != exitOK || !strings.HasPrefix(out, "fields @timestamp") || !strings.Contains(out, "| filter ") {
		t.Fatalf("insights: exit=%d\n%.300s", code, out)
	}
	code, out, _ = runCLI(t, "rules", "compile", "--engine", "filter-pattern")
	if code != exitOK || !strings.Contains(out, "no filter pattern (every record is read): rule aws-offensive-tool-user-agent") {
		t.Fatalf("pack filter pattern: exit=%d\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "rules", "compile", "--engine", "presto")
	if code == exitOK || !strings.Contains(errOut, `unknown engine "presto"`) {
		t.Fatalf("bad engine: exit=%d %s", code, errOut)
	}
	code, _, errOut = runCLI(t, "rules", "compile", "--rule", "aws-no-such-rule")
	if code == exitOK || !strings.Contains(errOut, `no rule "aws-no-such-rule" in the pack`) {
		t.Fatalf("unknown rule: exit=%d %s", code, errOut)
	}
}
