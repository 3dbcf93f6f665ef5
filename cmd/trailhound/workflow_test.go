package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/workflows"
)

func TestDigestCommand(t *testing.T) {
	dir := inTempDir(t)
	if code, _, errOut := runCLI(t, "scan", "--no-notify"); code != exitFindings {
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
	if code, _, errOut = runCLI(t, "digest", "--since", "a while"); code != exitError || !strings.Contains(errOut, `--since: "a while" is not a duration`) {
		t.Fatalf("bad --since: exit=%d %s", code, errOut)
	}
}

func TestTaskCommands(t *testing.T) {
	inTempDir(t)
	if code, _, _ := runCLI(t, "scan", "--no-notify"); code != exitFindings {
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
	if code, out, errOut := runCLI(t, "scan", "--no-notify", write("open.jsonl", open)); code != exitFindings || !strings.Contains(out, "AuthorizeSecurityGroupIngress") {
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
