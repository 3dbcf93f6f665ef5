package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena/athenatest"
	"github.com/trailhound/trailhound/sources/file"
)

// backtestJSON runs `rules backtest --format json` and decodes its report.
func backtestJSON(t *testing.T, args ...string) (*backtestReport, string) {
	t.Helper()
	code, out, errOut := runCLI(t, append([]string{"rules", "backtest", "--format", "json"}, args...)...)
	if code != exitOK {
		t.Fatalf("exit=%d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	var rep backtestReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("decode report: %v\n%s", err, out)
	}
	return &rep, errOut
}

// findingsOf runs the built-in rules with these ids over files, as the
// engine does, and counts their findings by rule: what a backtest must
// report.
func findingsOf(t *testing.T, ids []string, paths ...string) (map[string]int, int) {
	t.Helper()
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var ds []detectors.Detector
	for _, id := range ids {
		r, ok := p.Rule(id)
		if !ok {
			t.Fatalf("no rule %s", id)
		}
		fresh, err := rules.Compile(r.Definition())
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, fresh)
	}
	eng := detectors.NewEngine(ds...)
	src, err := file.New("files", file.Options{Paths: paths, Rescan: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out, events := map[string]int{}, 0
	_, err = src.Fetch(context.Background(), nil, sources.FuncSink{OnEvent: func(ctx context.Context, ev *sources.Event) error {
		events++
		fs, _ := eng.Detect(ctx, ev)
		for _, f := range fs {
			out[f.RuleID]++
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	return out, events
}

// checkReport checks what must hold of any report: the per-rule, per-week
// and top counts add up, and examples carry reasons.
func checkReport(t *testing.T, rep *backtestReport, want map[string]int, events int) {
	t.Helper()
	if rep.Events != events {
		t.Errorf("events=%d, want %d", rep.Events, events)
	}
	total := 0
	for _, r := range rep.ByRule {
		if r.Findings != want[r.Key] {
			t.Errorf("rule %s findings=%d, want %d", r.Key, r.Findings, want[r.Key])
		}
		if r.Findings > 0 && (r.Alerts < 1 || r.Alerts > r.Findings) {
			t.Errorf("rule %s alerts=%d for %d findings", r.Key, r.Alerts, r.Findings)
		}
		total += r.Findings
	}
	if rep.Findings != total {
		t.Errorf("findings=%d, rules add up to %d", rep.Findings, total)
	}
	weekF, weekA := 0, 0
	for _, w := range rep.Weeks {
		weekF += w.Findings
		weekA += w.Alerts
	}
	if weekF != rep.Findings || weekA != rep.Alerts {
		t.Errorf("weeks add up to %d findings and %d alerts, want %d and %d", weekF, weekA, rep.Findings, rep.Alerts)
	}
	if rep.Findings > 0 && (len(rep.TopPrincipals) == 0 || len(rep.TopAccounts) == 0 || len(rep.Examples) == 0) {
		t.Errorf("no top principals, accounts or examples: %+v", rep)
	}
	for _, x := range rep.Examples {
		if x.Reason == "" || x.Rule == "" || x.EventID == "" {
			t.Errorf("example without reason, rule or event: %+v", x)
		}
	}
}

// TestBacktestSharedFiles: a backtest of two built-in rules over the
// shared Invictus dataset reports exactly the findings the rules make on
// it, grouped into fewer alerts, per week, with examples.
func TestBacktestSharedFiles(t *testing.T) {
	path := filepath.Join(shareddata.Path(t, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl")
	ids := []string{"aws-unauthorized-api-calls", "aws-ec2-password-data-retrieval"}
	want, events := findingsOf(t, ids, path)
	if want[ids[0]] == 0 || want[ids[1]] == 0 {
		t.Fatalf("the rules make no findings on the dataset: %v", want)
	}
	rep, _ := backtestJSON(t, "--rule", ids[0], "--rule", ids[1], path)
	checkReport(t, rep, want, events)
	if rep.Alerts >= rep.Findings {
		t.Errorf("alerts=%d for %d findings: grouping did nothing", rep.Alerts, rep.Findings)
	}
	if len(rep.Sources) != 1 || rep.Sources[0].Via != "read" || rep.Cost.Queries != 0 || rep.Cost.Dollars != 0 {
		t.Errorf("sources=%+v cost=%+v, want one file read at no cost", rep.Sources, rep.Cost)
	}
}

// TestBacktestStoresNothing: a backtest over a config's sources writes
// nothing into data_dir, and leaves no temporary store behind.
func TestBacktestStoresNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", tmp)
	cfg := filepath.Join(dir, "c.yaml")
	body := "data_dir: " + data + "\nnotify: {terminal: \"true\"}\nsources:\n  - name: samples\n    type: file\n    options: {paths: [" + repoFile(t, "configs/samples") + "]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, _ := backtestJSON(t, "--config", cfg, "--rule", "aws-root-account-use", "--since", "2000-01-01")
	want, events := findingsOf(t, []string{"aws-root-account-use"}, repoFile(t, "configs/samples"))
	checkReport(t, rep, want, events)
	if rep.Findings == 0 {
		t.Fatal("no finding: the test shows nothing")
	}
	if entries, err := os.ReadDir(data); err == nil && len(entries) > 0 {
		t.Errorf("data_dir holds %v after a backtest", entries)
	}
	if entries, _ := os.ReadDir(tmp); len(entries) > 0 {
		t.Errorf("temporary files left: %v", entries)
	}
}

// TestBacktestRuleFile: a rule file's new rule is backtested as written.
func TestBacktestRuleFile(t *testing.T) {
	rf := filepath.Join(t.TempDir(), "mine.yaml")
	rule := `- id: my-bucket-acl-read
  title: Bucket ACL read
  severity: low
  description: Someone read a bucket ACL.
  recommendation: Check who it was.
  match:
    eventName: GetBucketAcl
`
	if err := os.WriteFile(rf, []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	samples := repoFile(t, "configs/samples")
	rep, _ := backtestJSON(t, "--file", rf, samples)
	n := 0
	src, err := file.New("files", file.Options{Paths: []string{samples}, Rescan: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	src.Fetch(context.Background(), nil, sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error {
		if ev.Action == "GetBucketAcl" {
			n++
		}
		return nil
	}})
	if n == 0 {
		t.Fatal("the samples hold no GetBucketAcl: the test shows nothing")
	}
	if len(rep.ByRule) != 1 || rep.ByRule[0].Key != "my-bucket-acl-read" || rep.ByRule[0].Findings != n {
		t.Fatalf("by rule=%+v, want %d findings of my-bucket-acl-read", rep.ByRule, n)
	}
}

// TestBacktestAthena: a backtest over an Athena source runs one query for
// the window with the rule's pushed-down condition, judges the rows in
// process, and reports the bytes scanned and their estimated price.
func TestBacktestAthena(t *testing.T) {
	awsEnv(t)
	sample := repoFile(t, "sources/athena/testdata/invictus-subset.jsonl")
	fake := athenatest.New(t)
	fake.Add(t, athenatest.ReadLines(t, sample)...)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "c.yaml")
	body := fmt.Sprintf(`data_dir: %s
sources:
  - name: trail
    type: athena
    schedule: "@every 15m"
    options:
      endpoint_url: %s
      regions: [eu-west-1]
      database: cloudtrail
      table: cloudtrail_logs_pp
      output_location: s3://athena-results/trailhound/
      max_attempts: 2
      max_backoff: 5ms
`, filepath.Join(dir, "data"), fake.URL)
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	id := "aws-network-change"
	rep, _ := backtestJSON(t, "--config", cfg, "--source", "trail", "--rule", id, "--since", "2023-07-10", "--until", "2023-07-11")
	want, events := findingsOf(t, []string{id}, sample)
	if want[id] == 0 {
		t.Fatal("the rule makes no finding on the sample: the test shows nothing")
	}
	checkReport(t, rep, want, events)
	qs := fake.Queries()
	if len(qs) != 1 {
		t.Fatalf("queries=%d, want one", len(qs))
	}
	if !strings.Contains(qs[0], "'AuthorizeSecurityGroupIngress'") || !strings.Contains(qs[0], "eventtime >= '2023-07-10T00:00:00Z' AND eventtime < '2023-07-11T00:00:00Z'") {
		t.Errorf("query lacks the rule's condition or the window:\n%.2000s", qs[0])
	}
	scanned := fake.PartitionBytes("2023/07/10", "2023/07/12")
	if len(rep.Sources) != 1 || rep.Sources[0].Via != "athena" || rep.Cost.BytesScanned != scanned || rep.Cost.Queries != 1 {
		t.Fatalf("sources=%+v cost=%+v, want one athena query of %d bytes", rep.Sources, rep.Cost, scanned)
	}
	// Billed at least 10 MB at $5 per TB.
	if want := 10.0 * (1 << 20) / 1e12 * 5; math.Abs(rep.Cost.Dollars-want) > 1e-12 {
		t.Errorf("dollars=%v, want %v", rep.Cost.Dollars, want)
	}
	if entries, err := os.ReadDir(filepath.Join(dir, "data")); err == nil && len(entries) > 0 {
		t.Errorf("data_dir holds %v after a backtest", entries)
	}
}

func TestBacktestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		says string
	}{
		{nil, "give --rule ID or --file rules.yaml"},
		{[]string{"--rule", "x", "--file", "y"}, "not both"},
		{[]string{"--rule", "no-such-rule", "."}, `no rule "no-such-rule"`},
		{[]string{"--rule", "aws-root-account-use", "--format", "xml"}, "--format must be text or json"},
	} {
		code, _, errOut := runCLI(t, append([]string{"rules", "backtest"}, tc.args...)...)
		if code == exitOK || !strings.Contains(errOut, tc.says) {
			t.Errorf("%v: exit=%d stderr=%q, want it to say %q", tc.args, code, errOut, tc.says)
		}
	}
}
