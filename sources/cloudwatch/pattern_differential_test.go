package cloudwatch_test

// This external test package checks the filter patterns that
// detectors/rules/pushdown derives from rules against the CloudWatch Logs
// fake, which evaluates JSON filter patterns: like cmd, it is a consumer
// of both layers, so package cloudwatch itself still imports no detector.

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/detectors/sigma"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/cloudwatch"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// TestRuleFilterPatternsKeepMatches puts the shared CloudTrail records in
// a log group and, for every built-in and Sigma rule, reads the group
// through FilterLogEvents with the rule's derived filter pattern: every
// record the rule matches must come back (and exactly those, for a rule
// the pattern says exactly). The pack's pattern must keep every record
// any of its pushable rules matches.
func TestRuleFilterPatternsKeepMatches(t *testing.T) {
	path := filepath.Join(shareddata.Path(t, "invictus_sigma_aws_stratus"), "invictus_sigma_aws_stratus.jsonl")
	sig, _, err := sigma.LoadDir(filepath.Join(shareddata.Path(t, "sigma"), "rules"))
	if err != nil {
		t.Fatal(err)
	}
	pack, err := rules.Load(rules.Options{Extra: sig})
	if err != nil {
		t.Fatal(err)
	}
	logs := awstest.NewLogs(t)
	const group = "aws-cloudtrail-logs-111122223333"
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var events []sources.Event
	var first, last time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 0; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		raw := append([]byte(nil), line...)
		ev, err := sources.Normalize(raw, "t")
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, ev)
		if first.IsZero() || ev.Time.Before(first) {
			first = ev.Time
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
		logs.Put(group, awstest.LogRecord{ID: ev.ID, Stream: "s", Timestamp: ev.Time.UnixMilli(), Message: string(raw)})
	}
	awstest.Credentials(t)
	o := cloudwatch.Options{Options: awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: logs.URL, MaxAttempts: 3,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}, LogGroups: []string{group}}
	srcs, err := cloudwatch.Build(context.Background(), "cw", o, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	src := srcs[0].(*cloudwatch.Source)
	read := func(pattern string) map[string]bool {
		t.Helper()
		src.SetFilterPattern(pattern)
		got := map[string]bool{}
		sink := sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error { got[ev.ID] = true; return nil }}
		if err := src.FetchRange(context.Background(), sources.Window{Start: first, End: last.Add(time.Second)}, sink); err != nil {
			t.Fatalf("pattern %s: %v", pattern, err)
		}
		return got
	}
	var pushable []*rules.Rule
	checked, exact := 0, 0
	union := map[string]bool{}
	for _, r := range pack.Rules() {
		pattern, _ := pushdown.PackFilterPattern([]*rules.Rule{r}, pushdown.MaxFilterPattern)
		if pattern == "" {
			continue
		}
		pushable = append(pushable, r)
		got := read(pattern)
		plan := pushdown.Compile(r, pushdown.FilterPattern)
		checked++
		for i := range events {
			m := r.Matches(&events[i])
			if m {
				union[events[i].ID] = true
			}
			if m && !got[events[i].ID] {
				t.Errorf("rule %s: pattern %s drops %s, which the rule matches", r.ID(), pattern, events[i].ID)
			}
			if plan.Status == pushdown.Exact && len(r.Superseding()) == 0 && !m && got[events[i].ID] {
				t.Errorf("rule %s: exact pattern %s keeps %s, which the rule does not match", r.ID(), pattern, events[i].ID)
			}
		}
		if plan.Status == pushdown.Exact {
			exact++
		}
	}
	pattern, why := pushdown.PackFilterPattern(pushable, pushdown.MaxFilterPattern)
	if pattern == "" {
		t.Fatalf("no pack pattern: %s", why)
	}
	got := read(pattern)
	for id := range union {
		if !got[id] {
			t.Errorf("pack pattern drops %s", id)
		}
	}
	t.Logf("%d rules' patterns checked (%d exact) over %d records; the pack pattern of %d characters keeps %d records, %d matched by a rule",
		checked, exact, len(events), len(pattern), len(got), len(union))
}
