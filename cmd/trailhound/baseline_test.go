package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// ctLine is one CloudTrail record as JSON Lines input.
func ctLine(t *testing.T, at time.Time, id, user, ip, service, action string, readOnly bool) string {
	t.Helper()
	rec := map[string]any{
		"eventVersion":    "1.08",
		"eventTime":       at.UTC().Format(time.RFC3339),
		"eventID":         id,
		"eventSource":     service,
		"eventName":       action,
		"awsRegion":       "eu-west-1",
		"sourceIPAddress": ip,
		"userAgent":       "aws-cli/2.15.0 Python/3.11.6 Linux/6.5",
		"readOnly":        readOnly,
		"userIdentity": map[string]any{
			"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/" + user,
			"accountId": "111122223333", "userName": user,
		},
		"recipientAccountId": "111122223333",
	}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// history writes three days of alice's routine calls, one every ten
// minutes, ending at end.
func writeHistory(t *testing.T, path string, end time.Time) int {
	t.Helper()
	var lines []string
	for at := end.Add(-72 * time.Hour); !at.After(end); at = at.Add(10 * time.Minute) {
		lines = append(lines, ctLine(t, at, fmt.Sprintf("hist-%d", at.Unix()), "alice", "198.51.100.7", "ec2.amazonaws.com", "DescribeInstances", true))
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return len(lines)
}

const baselineConfig = `data_dir: ./data
sources:
  - name: trail
    type: file
    options:
      paths: [./logs]
detectors:
  anomaly:
    learning: {min_age: 1d, min_events: 20}
`

func TestBaselineCommand(t *testing.T) {
	dir := inTempDir(t)
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o700); err != nil {
		t.Fatal(err)
	}
	end := time.Now().Add(-5 * time.Hour).Truncate(time.Minute)
	n := writeHistory(t, filepath.Join(dir, "logs", "history.jsonl"), end)
	cfg := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfg, []byte(baselineConfig), 0o600); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCLI(t, "baseline", "--config", cfg, "--since", "4d")
	if code != exitOK {
		t.Fatalf("exit=%d\n%s\n%s", code, out, errOut)
	}
	want := fmt.Sprintf("%d events read", n)
	if !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("%d learned, 0 already learned", n)) ||
		!strings.Contains(out, "1 principal with a baseline, 1 past their learning period") {
		t.Fatalf("summary:\n%s\nwant %q, all learned, alice ready", out, want)
	}
	if !strings.Contains(out, "111122223333") {
		t.Fatalf("no per-account line:\n%s", out)
	}

	// Again: nothing is learned twice.
	code, out, errOut = runCLI(t, "baseline", "--config", cfg, "--since", "4d")
	if code != exitOK || !strings.Contains(out, fmt.Sprintf("0 learned, %d already learned or repeated", n)) {
		t.Fatalf("second run exit=%d:\n%s\n%s", code, out, errOut)
	}

	// A scan judges new activity against the baseline.
	scanAttackAgainstBaseline(t, dir, cfg, end)

	// run --once polls (the history is already learned) and then checks
	// for silent sources: the trail has been quiet for five hours.
	code, out, errOut = runCLI(t, "run", "--config", cfg, "--once")
	if code != exitOK {
		t.Fatalf("run exit=%d:\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "findings", "--config", cfg, "--rule", "trailhound-source-silent")
	if code != exitOK || !strings.Contains(out, "trailhound-source-silent") {
		t.Fatalf("findings exit=%d:\n%s\n%s", code, out, errOut)
	}
	// Checking again during the same silence adds no alert.
	runCLI(t, "run", "--config", cfg, "--once")
	_, out, _ = runCLI(t, "findings", "--config", cfg, "--rule", "trailhound-source-silent", "--format", "json")
	var alerts []json.RawMessage
	if err := json.Unmarshal([]byte(out), &alerts); err != nil || len(alerts) != 1 {
		t.Fatalf("alerts=%d (%v), want 1:\n%s", len(alerts), err, out)
	}
}

func TestBaselineErrors(t *testing.T) {
	dir := inTempDir(t)
	cfg := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfg, []byte(baselineConfig+"    off_hours:\n      business_hours: {time_zone: Nowhere/Land}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"bad since", []string{"baseline", "--since", "fortnight"}, `--since: "fortnight" is neither a duration`},
		{"since after until", []string{"baseline", "--since", "1d", "--until", "2d"}, "--since must be before --until"},
		{"missing path", []string{"baseline", filepath.Join(dir, "nope")}, "no such file"},
		{"bad anomaly config", []string{"baseline", "--config", cfg}, `detectors.anomaly.off_hours.business_hours: unknown time_zone "Nowhere/Land"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, tc.args...)
			if code != exitError || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit=%d stderr=%q, want %d and %q", code, errOut, exitError, tc.want)
			}
		})
	}
}

// scanAttackAgainstBaseline scans alice creating a user from a new
// network an hour after end, and checks that the first-seen detector
// judges both against the 3 days of history learned.
func scanAttackAgainstBaseline(t *testing.T, dir, cfg string, end time.Time) {
	t.Helper()
	attack := filepath.Join(dir, "attack.jsonl")
	line := ctLine(t, end.Add(time.Hour), "attack-1", "alice", "203.0.113.66", "iam.amazonaws.com", "CreateUser", false)
	if err := os.WriteFile(attack, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "scan", "--config", cfg, "--no-notify", "--format", "json", attack)
	if code != exitOK {
		t.Fatalf("scan exit=%d:\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Findings []struct {
			RuleID string `json:"rule_id"`
			Reason string `json:"reason"`
		} `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("scan output: %v\n%s", err, out)
	}
	var reasons []string
	for _, f := range rep.Findings {
		if f.RuleID == "trailhound-first-seen" {
			reasons = append(reasons, f.Reason)
		}
	}
	joined := strings.Join(reasons, "\n")
	if !strings.Contains(joined, "first call of iam:CreateUser by alice in 3 days of history") ||
		!strings.Contains(joined, "first activity of alice from 203.0.113.0/24") {
		t.Fatalf("first-seen reasons:\n%s", joined)
	}
}
