package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/workflows"
)

func TestDigestCommand(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := runCLI(t, "scan", "--no-notify"); code != exitOK {
		t.Fatalf("scan exit=%d\n%s", code, errOut)
	}
	chart := filepath.Join(dir, "week.png")
	code, out, errOut := runCLI(t, "digest", "--since", "7d", "--chart", chart)
	if code != exitOK {
		t.Fatalf("digest exit=%d\n%s", code, errOut)
	}
	for _, want := range []string{"# Trailhound digest", "## By severity", "| critical |", "`aws-root-account-use`", "## Still open", "## Log sources"} {
		if !strings.Contains(out, want) {
			t.Errorf("digest lacks %q:\n%s", want, out)
		}
	}
	b, err := os.ReadFile(chart)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(b)); err != nil || img.Bounds().Dx() != workflows.ChartWidth {
		t.Fatalf("chart: %v", err)
	}
	code, out, _ = runCLI(t, "digest", "--since", "24h", "--format", "json")
	var d workflows.Digest
	if err := json.Unmarshal([]byte(out), &d); code != exitOK || err != nil || d.NewAlerts == 0 || d.OpenTotal != d.NewAlerts {
		t.Fatalf("json digest exit=%d err=%v digest=%+v", code, err, d)
	}
	if code, _, errOut = runCLI(t, "digest", "--since", "a while"); code != exitError || !strings.Contains(errOut, `--since: "a while" is neither a duration like 24h or 7d nor a date`) {
		t.Fatalf("bad --since: exit=%d %s", code, errOut)
	}
}

func TestTaskCommands(t *testing.T) {
	inTempDir(t)
	if code, _, _ := runCLI(t, "scan", "--no-notify"); code != exitOK {
		t.Fatalf("scan exit=%d", code)
	}
	// Open a task as a responder would from chat.
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	alerts, _ := a.alerts.List(workflows.Filter{})
	task, err := a.alerts.CreateTask(workflows.TaskInput{AlertID: alerts[0].ID, Assignee: "slack:UDEV"}, "slack:U1")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "tasks", "--assignee", "slack:UDEV")
	if code != exitOK || !strings.Contains(out, task.ID) || !strings.Contains(out, "open") {
		t.Fatalf("tasks exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "task", "set", strings.ToLower(task.ID), "done", "--note", "root keys deleted", "--as", "dana")
	if code != exitOK || out != task.ID+" is now done\n" {
		t.Fatalf("task set exit=%d %q %s", code, out, errOut)
	}
	if _, out, _ = runCLI(t, "tasks"); !strings.Contains(out, "no tasks match") {
		t.Fatalf("open tasks after done:\n%s", out)
	}
	if _, out, _ = runCLI(t, "tasks", "--state", "done"); !strings.Contains(out, task.ID) {
		t.Fatalf("done tasks:\n%s", out)
	}
	code, out, _ = runCLI(t, "task", "show", task.ID)
	if code != exitOK || !strings.Contains(out, "task_status  cli:dana  open -> done  root keys deleted") {
		t.Fatalf("task show exit=%d\n%s", code, out)
	}
	if code, _, errOut = runCLI(t, "task", "set", "T-99", "done"); code != exitError || !strings.Contains(errOut, "no task T-99") {
		t.Fatalf("unknown task: exit=%d %s", code, errOut)
	}
	if code, _, errOut = runCLI(t, "task", "set", task.ID, "finished"); code != exitError || !strings.Contains(errOut, `unknown task status "finished"`) {
		t.Fatalf("bad status: exit=%d %s", code, errOut)
	}
}

func TestValidateBadWorkflows(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	body := "workflows:\n  routes:\n    - name: x\n      match:\n        min_severity: urgent\n      targets: [{notifier: slack, channel: C1}]\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "validate", cfg)
	if code != exitError || !strings.Contains(errOut, "c.yaml:5: workflows.routes[0].match.min_severity: unknown severity \"urgent\"") {
		t.Fatalf("exit=%d %s", code, errOut)
	}
}

// TestTaskVerifiedByScan runs the real rule pack over a real CloudTrail
// record opening SSH to the world, opens a task on the alert, and scans
// the later record revoking the rule: the task closes itself.
func TestTaskVerifiedByScan(t *testing.T) {
	dir := inTempDir(t)
	b, err := os.ReadFile(repoFile(t, "workflows/testdata/cloudtrail/invictus-fixes.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var open, revoke string
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.Contains(line, `"eventID": "74bd84b4`):
			open = line
		case strings.Contains(line, `"eventID": "8733f811`):
			revoke = line
		}
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if code, out, errOut := runCLI(t, "scan", "--no-notify", write("open.jsonl", open)); code != exitOK || !strings.Contains(out, "AuthorizeSecurityGroupIngress") {
		t.Fatalf("scan of the open rule: exit=%d\n%s\n%s", code, out, errOut)
	}
	cfg, _ := loadConfig("")
	a, err := openApp(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	alerts, _ := a.alerts.List(workflows.Filter{})
	if len(alerts) == 0 {
		t.Fatal("no alert")
	}
	task, err := a.alerts.CreateTask(workflows.TaskInput{AlertID: alerts[0].ID, Assignee: "slack:UDEV"}, "slack:U1")
	a.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(task.Fixes) == 0 {
		t.Fatalf("the task on %s (%s) has no fix to watch for", alerts[0].ID, alerts[0].Finding.RuleID)
	}
	runCLI(t, "scan", "--no-notify", write("revoke.jsonl", revoke))
	code, out, _ := runCLI(t, "task", "show", task.ID)
	if code != exitOK || !strings.Contains(out, "done: ") || !strings.Contains(out, "verified from the logs: RevokeSecurityGroupIngress by bert-jan at 2023-07-10T12:11:57Z (event 8733f811-267d-4c46-8e5b-000fe7c6a9f2)") {
		t.Fatalf("task show exit=%d\n%s", code, out)
	}
}

// TestDemoNumbersAddUp: after the demo scan, the digest counts as many
// findings as the scan printed, on the days of their events, and an alert
// with several findings shows their evidence.
func TestDemoNumbersAddUp(t *testing.T) {
	inTempDir(t)
	code, out, errOut := runCLI(t, "scan", "--no-notify")
	m := regexp.MustCompile(`(\d+) events?, (\d+) findings?`).FindStringSubmatch(out)
	if code != exitOK || m == nil {
		t.Fatalf("scan: exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "digest", "--since", "24h", "--format", "json")
	var d workflows.Digest
	if err := json.Unmarshal([]byte(out), &d); code != exitOK || err != nil {
		t.Fatalf("digest: exit=%d err=%v\n%s", code, err, errOut)
	}
	if fmt.Sprint(d.Findings) != m[2] {
		t.Fatalf("digest counts %d findings, the scan printed %s", d.Findings, m[2])
	}
	// By day of the events: the samples' days, not today.
	var days []string
	for _, dc := range d.Days {
		if dc.Total() > 0 {
			days = append(days, dc.Day.Format("2006-01-02"))
		}
	}
	if strings.Join(days, " ") != "2023-07-10 2024-07-31 2024-08-02" {
		t.Fatalf("days with findings=%v, want the samples' days", days)
	}
	// A date works as --since, as in scan and findings.
	if code, out, errOut = runCLI(t, "digest", "--since", time.Now().UTC().Add(-48*time.Hour).Format("2006-01-02")); code != exitOK || !strings.Contains(out, "from "+m[2]+" findings") {
		t.Fatalf("digest --since DATE: exit=%d\n%s\n%s", code, out, errOut)
	}
	_, out, _ = runCLI(t, "findings", "--limit", "0")
	// The alert of five GetPasswordData calls shows five events.
	id := regexp.MustCompile(`(?m)^(TH-\d+)\s+medium\s+new\s+5\s.*aws-ec2-password-data-retrieval`).FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no alert of 5 findings:\n%s", out)
	}
	_, out, _ = runCLI(t, "findings", "show", id[1])
	if !strings.Contains(out, "Evidence (5 of 5 events)") || !strings.Contains(out, "grouped        trailhound  count 5") {
		t.Fatalf("findings show %s:\n%s", id[1], out)
	}
}

// TestTaskOpenFromCLI: a task can be opened from the command line, as
// from an alert card.
func TestTaskOpenFromCLI(t *testing.T) {
	inTempDir(t)
	runCLI(t, "scan", "--no-notify")
	_, list, _ := runCLI(t, "findings", "--severity", "high")
	id := regexp.MustCompile(`TH-\d+`).FindString(list)
	code, out, errOut := runCLI(t, "task", "open", id, "--assignee", "slack:U0DEV", "--due", "3d", "--note", "remove the rule", "--as", "alice")
	if code != exitOK || !strings.HasPrefix(out, "T-1 opened for "+id+": Fix: ") || !strings.Contains(out, "assigned to slack:U0DEV, due ") {
		t.Fatalf("task open: exit=%d\n%s\n%s", code, out, errOut)
	}
	due := time.Now().UTC().Add(72 * time.Hour).Format("2006-01-02")
	code, out, _ = runCLI(t, "tasks")
	if code != exitOK || !regexp.MustCompile(`(?m)^T-1\s+open\s+`+due+` \d\d:\d\d\s+slack:U0DEV\s+`+id+`\s+Fix: `).MatchString(out) {
		t.Fatalf("tasks:\n%s", out)
	}
	code, out, _ = runCLI(t, "task", "show", "T-1")
	if code != exitOK || !strings.Contains(out, "task_opened") || !strings.Contains(out, "cli:alice") || !strings.Contains(out, "notes:     remove the rule") {
		t.Fatalf("task show:\n%s", out)
	}
	if code, out, _ = runCLI(t, "task", "open", id, "--due", "2026-01-02"); code != exitOK || !strings.Contains(out, "due 2026-01-02 00:00 UTC") {
		t.Fatalf("task open --due DATE: exit=%d\n%s", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"task", "open", "TH-9999"}, "no alert TH-9999"},
		{[]string{"task", "open", id, "--due", "soonish"}, `--due: "soonish" is neither a duration like 3d nor a date`},
		{[]string{"task", "open"}, "task open takes one alert id"},
	} {
		if code, _, errOut := runCLI(t, tc.args...); code == exitOK || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit=%d\n%s", tc.args, code, errOut)
		}
	}
}
