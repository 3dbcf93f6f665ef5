package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// writeFileConfig writes a config with one file source reading paths,
// relative to the config's directory, and returns the config's path.
func writeFileConfig(t *testing.T, dir string, paths ...string) string {
	t.Helper()
	cfg := filepath.Join(dir, "trailhound.yaml")
	body := "data_dir: ./data\nsources:\n  - name: archive\n    type: file\n    options: {paths: [" + strings.Join(paths, ", ") + "]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMissingSourcePath: a configured path that does not exist is a
// health problem everywhere: validate warns, scan names it and exits 1,
// sources lists it as a problem, before and after a poll.
func TestMissingSourcePath(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, repoFile(t, "configs/samples/stratus-cloudtrail-stop.json"), filepath.Join(dir, "logs", "a.json"))
	cfg := writeFileConfig(t, dir, "./logs", "./nope")
	missing := filepath.Join(dir, "nope")

	code, out, errOut := runCLI(t, "validate", cfg)
	if code != exitOK || !strings.Contains(errOut, "warning: source archive: path "+missing+" does not exist") || !strings.Contains(out, "ok, with 1 warning") {
		t.Fatalf("validate: exit=%d\n%s\n%s", code, out, errOut)
	}

	code, out, _ = runCLI(t, "sources", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "permanent-error: Source archive cannot be read until its configuration is fixed: file source \"archive\": path "+missing+" does not exist.") {
		t.Fatalf("sources before a poll: exit=%d\n%s", code, out)
	}

	code, out, errOut = runCLI(t, "scan", "--no-notify", "--config", cfg)
	if code != exitError {
		t.Fatalf("scan: exit=%d, want %d\n%s\n%s", code, exitError, out, errOut)
	}
	if !strings.Contains(errOut, "error: source archive: file source \"archive\": path "+missing+" does not exist") {
		t.Fatalf("scan does not name the missing path:\n%s", errOut)
	}
	if strings.Contains(out, "malformed") || !strings.Contains(out, "1 source could not be read") || !strings.Contains(out, "aws-cloudtrail-logging-stopped") {
		t.Fatalf("scan summary:\n%s", out)
	}

	code, out, _ = runCLI(t, "sources", "--config", cfg, "--format", "json")
	if code != exitOK || !strings.Contains(out, `"kind": "permanent-error"`) || !strings.Contains(out, "does not exist") {
		t.Fatalf("sources --format json after a poll: exit=%d\n%s", code, out)
	}
	// With the path there, everything is healthy again.
	copyFile(t, repoFile(t, "configs/samples/stratus-console-login-without-mfa.json"), filepath.Join(missing, "b.json"))
	if code, out, errOut = runCLI(t, "scan", "--no-notify", "--config", cfg); code != exitOK {
		t.Fatalf("scan with the path back: exit=%d\n%s\n%s", code, out, errOut)
	}
	if code, out, _ = runCLI(t, "sources", "--config", cfg); code != exitOK || !strings.Contains(out, "1 source, no problems") {
		t.Fatalf("sources with the path back: exit=%d\n%s", code, out)
	}
}

// TestScanReadsNamedFilesByContent: a file named on the command line is
// read whatever its name; files skipped in a directory are counted and,
// with -v, named.
func TestScanReadsNamedFilesByContent(t *testing.T) {
	inTempDir(t)
	logs := t.TempDir()
	export := filepath.Join(logs, "ct-export")
	copyFile(t, repoFile(t, "configs/samples/stratus-cloudtrail-stop.json"), export)
	gz := filepath.Join(logs, "x.gz")
	copyFile(t, repoFile(t, "configs/samples/invictus-cloudtrail-2.json.gz"), gz)

	for _, f := range []string{export, gz} {
		code, out, errOut := runCLI(t, "scan", "--no-notify", f)
		if code != exitOK || strings.HasPrefix(out, "0 events") || strings.Contains(out, " 0 events") {
			t.Fatalf("scan %s: exit=%d\n%s\n%s", filepath.Base(f), code, out, errOut)
		}
	}
	code, out, errOut := runCLI(t, "scan", "--no-notify", logs)
	if code != exitOK || !strings.Contains(out, "2 files not read (not named as logs; -v lists them)") {
		t.Fatalf("scan of the directory: exit=%d\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(errOut, "skipped:") {
		t.Fatalf("skipped files named without -v:\n%s", errOut)
	}
	_, _, errOut = runCLI(t, "scan", "--no-notify", "-v", logs)
	for _, f := range []string{export, gz} {
		if !strings.Contains(errOut, "skipped: "+f+" (not a log file name") {
			t.Fatalf("-v does not name %s:\n%s", f, errOut)
		}
	}
}

// TestMalformedReportedOnce: each malformed record is one line on stderr.
func TestMalformedReportedOnce(t *testing.T) {
	inTempDir(t)
	logs := t.TempDir()
	bad := filepath.Join(logs, "bad.jsonl")
	if err := os.WriteFile(bad, []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, out, errOut := runCLI(t, "scan", "--no-notify", logs)
	if n := strings.Count(errOut, "bad.jsonl"); n != 1 {
		t.Fatalf("malformed record reported %d times, want once:\n%s", n, errOut)
	}
	if !strings.Contains(out, "0 events, 0 findings, 1 malformed record skipped; 0 new alerts") {
		t.Fatalf("summary:\n%s", out)
	}
}

// TestDemoSinceCountsFromNewestEvent: in the demo, whose samples are
// years old, --since 24h counts back from the newest event and says so;
// with a config file it counts back from now.
func TestDemoSinceCountsFromNewestEvent(t *testing.T) {
	dir := inTempDir(t)
	runCLI(t, "scan", "--no-notify")
	code, out, errOut := runCLI(t, "findings", "--since", "24h")
	if code != exitOK || !regexp.MustCompile(`TH-\d+`).MatchString(out) {
		t.Fatalf("findings --since 24h: exit=%d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "demo: the newest stored event is from 2024-08-02 08:53 UTC; --since 24h counts back from there") {
		t.Fatalf("no line about the demo clock:\n%s", errOut)
	}
	code, out, errOut = runCLI(t, "baseline")
	if code != exitOK || strings.HasPrefix(out, "0 events read") || !strings.Contains(errOut, "demo: the sample logs end at 2024-08-02 08:53 UTC; --since 14d counts back") {
		t.Fatalf("baseline: exit=%d\n%s\n%s", code, out, errOut)
	}
	// Dates mean what they say, and so does a config file's clock.
	if _, _, errOut = runCLI(t, "findings", "--since", "2023-07-10"); strings.Contains(errOut, "demo:") {
		t.Fatalf("a date moved the clock:\n%s", errOut)
	}
	cfg := writeFileConfig(t, dir, repoFile(t, "configs/samples"))
	runCLI(t, "scan", "--no-notify", "--config", cfg)
	if code, out, errOut = runCLI(t, "findings", "--config", cfg, "--since", "24h"); code != exitOK || !strings.Contains(out, "no alerts match") || strings.Contains(errOut, "demo:") {
		t.Fatalf("config file: exit=%d\n%s\n%s", code, out, errOut)
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{45 * time.Second, "45s"},
		{12*time.Minute + 3*time.Second, "12m"},
		{5*time.Hour + 20*time.Minute, "5h20m"},
		{3*24*time.Hour + 4*time.Hour, "3d4h"},
		{20457*time.Hour + 20*time.Minute + 15*time.Second, "852d"},
	}
	for _, tc := range tests {
		if got := humanDuration(tc.d); got != tc.want {
			t.Errorf("humanDuration(%v)=%q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestPlurals(t *testing.T) {
	var b strings.Builder
	printScan(&b, &scanReport{Events: 1, MalformedCount: 1, NewAlerts: 1, FindingCount: 1})
	if !strings.Contains(b.String(), "1 event, 1 finding, 1 malformed record skipped; 1 new alert\n") {
		t.Fatalf("summary: %q", b.String())
	}
	b.Reset()
	printSources(&b, &sourcesReport{Sources: []sourceRow{{}}}, time.Now())
	if !strings.HasSuffix(b.String(), "1 source, no problems\n") {
		t.Fatalf("sources: %q", b.String())
	}
}
