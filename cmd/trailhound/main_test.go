package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// runCLI runs the command in-process with its own streams.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdout: &out, stderr: &errb, getenv: func(k string) string {
		if strings.HasPrefix(k, "SLACK_") || strings.HasPrefix(k, "DISCORD_") {
			return "" // never post to a real workspace from tests
		}
		return os.Getenv(k)
	}}
	code = realMain(e, args)
	return code, out.String(), errb.String()
}

// inTempDir runs the test in an empty directory, so the demo config's
// ./trailhound-data lands there.
func inTempDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	return dir
}

// repoRoot is taken before any test changes directory.
var repoRoot, _ = filepath.Abs(filepath.Join("..", ".."))

// repoFile returns the absolute path of a file in the repository.
func repoFile(t *testing.T, rel string) string {
	t.Helper()
	return filepath.Join(repoRoot, rel)
}

var newAlertRe = regexp.MustCompile(`(?m)^(\S+)\s.*\s(TH-\d+) \(new\)$`)

func TestScanDemoTwiceNoDuplicates(t *testing.T) {
	inTempDir(t)
	code, out, errOut := runCLI(t, "scan")
	if code != exitOK {
		t.Fatalf("exit=%d, want %d\nstdout:\n%s\nstderr:\n%s", code, exitOK, out, errOut)
	}
	for _, rule := range []string{"aws-root-account-use", "aws-console-login-without-mfa", "aws-console-login-failures"} {
		if !strings.Contains(out, rule) {
			t.Errorf("demo scan did not report %s:\n%s", rule, out)
		}
	}
	if strings.Contains(errOut, "error:") {
		t.Errorf("demo scan reported errors:\n%s", errOut)
	}
	first := newAlertRe.FindAllStringSubmatch(out, -1)
	if len(first) == 0 {
		t.Fatalf("no new alerts in first scan:\n%s", out)
	}
	// The terminal shows a card for each new alert.
	if !strings.Contains(out, "[HIGH] Root user activity") || !strings.Contains(out, "what to do:") {
		t.Errorf("no alert card printed:\n%s", out)
	}

	code, out2, _ := runCLI(t, "scan")
	if code != exitOK {
		t.Fatalf("second scan exit=%d", code)
	}
	if m := newAlertRe.FindAllString(out2, -1); len(m) != 0 {
		t.Fatalf("second scan created alerts again: %v", m)
	}
	if !strings.Contains(out2, "; 0 new alerts") || strings.Contains(out2, "what to do:") {
		t.Fatalf("second scan posted cards or new alerts:\n%s", out2)
	}
	code, list, _ := runCLI(t, "findings", "--format", "json", "--limit", "0")
	if code != exitOK {
		t.Fatalf("findings exit=%d", code)
	}
	var alerts []struct {
		ID      string `json:"id"`
		Finding struct {
			GroupKey string `json:"group_key"`
		} `json:"finding"`
	}
	if err := json.Unmarshal([]byte(list), &alerts); err != nil {
		t.Fatalf("findings json: %v\n%s", err, list)
	}
	groups := map[string]bool{}
	for _, a := range alerts {
		if groups[a.Finding.GroupKey] {
			t.Fatalf("two alerts for group %s", a.Finding.GroupKey)
		}
		groups[a.Finding.GroupKey] = true
	}
	if len(alerts) == 0 {
		t.Fatal("no alerts stored")
	}
}

func TestScanCorruptFileKeepsOthers(t *testing.T) {
	inTempDir(t)
	logs := t.TempDir()
	good, err := os.ReadFile(repoFile(t, "configs/samples/synthetic-signin-events.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(logs, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a-good.jsonl", string(good))
	write("b-corrupt.json", `{"Records":[{"eventTime":"2023-07-10T11:42:18Z",`)
	write("c-bad-line.jsonl", "garbage\n")
	code, out, errOut := runCLI(t, "scan", "--no-notify", logs)
	if code != exitOK {
		t.Fatalf("exit=%d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "aws-root-account-use") {
		t.Fatalf("good file not scanned:\n%s", out)
	}
	wantErrs := []string{
		"error: " + filepath.Join(logs, "b-corrupt.json") + " (offset ",
		"corrupt JSON, rest of input skipped",
		"error: " + filepath.Join(logs, "c-bad-line.jsonl") + ":1 (offset 0): invalid JSON",
	}
	for _, w := range wantErrs {
		if !strings.Contains(errOut, w) {
			t.Errorf("stderr lacks %q:\n%s", w, errOut)
		}
	}
	if !strings.Contains(out, "2 malformed records skipped") {
		t.Errorf("summary does not count malformed records:\n%s", out)
	}
}

func TestScanExitCodes(t *testing.T) {
	inTempDir(t)
	tests := []struct {
		name string
		args []string
		want int
	}{
		{"findings without --fail-on", []string{"scan", "--no-notify"}, exitOK},
		{"findings at --fail-on", []string{"scan", "--no-notify", "--fail-on", "info"}, exitFindings},
		{"findings above --fail-on", []string{"scan", "--no-notify", "--fail-on", "high"}, exitFindings},
		{"below fail-on", []string{"scan", "--no-notify", "--fail-on", "critical"}, exitOK},
		{"bad severity", []string{"scan", "--fail-on", "urgent"}, exitError},
		{"bad flag", []string{"scan", "--frobnicate"}, exitUsage},
		{"missing path", []string{"scan", "/nonexistent/trailhound/logs"}, exitError},
		{"unknown source", []string{"scan", "--source", "nope"}, exitError},
		{"empty window", []string{"scan", "--no-notify", "--since", "2001-01-01", "--until", "2001-01-02"}, exitOK},
		{"bad since", []string{"scan", "--since", "yesterday-ish"}, exitError},
		{"unknown command", []string{"frobnicate"}, exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.want {
				t.Fatalf("exit=%d, want %d\n%s\n%s", code, tc.want, out, errOut)
			}
		})
	}
}

func TestScanJSON(t *testing.T) {
	inTempDir(t)
	code, out, _ := runCLI(t, "scan", "--format", "json")
	if code != exitOK {
		t.Fatalf("exit=%d", code)
	}
	var rep struct {
		scanReport
		Findings []scanFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	if rep.Events == 0 || len(rep.Findings) == 0 || rep.NewAlerts == 0 {
		t.Fatalf("report=%+v", rep)
	}
	if len(rep.Findings) != rep.FindingCount {
		t.Fatalf("findings=%d, finding_count=%d", len(rep.Findings), rep.FindingCount)
	}
	// The findings are streamed one a line, inside the array.
	lines := strings.Split(out, "\n")
	if lines[1] != `  "findings": [` {
		t.Fatalf("line 2=%q, want the findings array", lines[1])
	}
	for i, l := range lines[2 : 2+rep.FindingCount] {
		var f scanFinding
		if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimSpace(l), ",")), &f); err != nil || f.RuleID == "" {
			t.Fatalf("line %d is not one finding: %v\n%s", i+3, err, l)
		}
	}
}

func TestFindingsShow(t *testing.T) {
	inTempDir(t)
	runCLI(t, "scan", "--no-notify")
	code, out, errOut := runCLI(t, "findings", "--severity", "high")
	if code != exitOK || !strings.Contains(out, "aws-root-account-use") {
		t.Fatalf("findings exit=%d\n%s\n%s", code, out, errOut)
	}
	id := regexp.MustCompile(`TH-\d+`).FindString(out)
	code, out, _ = runCLI(t, "findings", "show", strings.ToLower(id))
	for _, want := range []string{"Audit trail:", "created", "Evidence (", `"eventName":"`} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Fatalf("show exit=%d", code)
	}
	if code, _, errOut = runCLI(t, "findings", "show", "TH-9999"); code != exitError || !strings.Contains(errOut, "no alert TH-9999") {
		t.Fatalf("show unknown: exit=%d %s", code, errOut)
	}
	if code, _, _ = runCLI(t, "findings", "--state", "sleeping"); code != exitError {
		t.Fatalf("bad state exit=%d", code)
	}
}

func TestRunOnceDelivers(t *testing.T) {
	inTempDir(t)
	code, out, errOut := runCLI(t, "run", "--once")
	if code != exitOK || !strings.Contains(out, "[HIGH] Root user activity") {
		t.Fatalf("run --once exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "run", "--once")
	if code != exitOK || strings.Contains(out, "what to do:") {
		t.Fatalf("second run posted again:\n%s", out)
	}
}

// TestValidateExampleConfigs builds everything each shipped config
// describes.
func TestValidateExampleConfigs(t *testing.T) {
	files, _ := filepath.Glob(repoFile(t, "configs/*.yaml"))
	if len(files) < 2 {
		t.Fatalf("configs: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errOut := runCLI(t, "validate", f)
			if code != exitOK || !strings.Contains(out, ": ok (") {
				t.Fatalf("exit=%d\n%s\n%s", code, out, errOut)
			}
		})
	}
	code, _, errOut := runCLI(t, "validate", repoFile(t, "configs/testdata/bad/unknown-key.yaml"))
	if code != exitError || !strings.Contains(errOut, "unknown-key.yaml:5: sources[0].shedule: unknown key") {
		t.Fatalf("bad config: exit=%d %s", code, errOut)
	}
}

func TestHelp(t *testing.T) {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			code, _, errOut := runCLI(t, n, "--help")
			if code != exitOK || !strings.Contains(errOut, "Usage: trailhound "+n) || !strings.Contains(errOut, "Examples:") {
				t.Fatalf("exit=%d\n%s", code, errOut)
			}
		})
	}
	if code, out, _ := runCLI(t, "help"); code != exitOK || !strings.Contains(out, "Commands:") {
		t.Fatalf("help exit=%d\n%s", code, out)
	}
}
