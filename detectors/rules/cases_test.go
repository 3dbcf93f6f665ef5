package rules_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/sources"
)

var labelledDir = filepath.Join("testdata", "labelled")

// Quality bar of the built-in pack on the shipped labelled set.
const (
	minAttacksFired          = 0.80
	maxLookAlikesSerious     = 0.10
	maxLookAlikesFired       = 0.20
	minHandWrittenLookAlikes = 40
)

// lookAlikes reads the hand-written benign look-alikes as cases.
func lookAlikes(t *testing.T) []rules.LabelledCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(labelledDir, "lookalikes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Identities map[string]any `yaml:"identities"`
		Cases      []struct {
			Name  string         `yaml:"name"`
			Rule  string         `yaml:"rule"`
			Event map[string]any `yaml:"event"`
		} `yaml:"cases"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("lookalikes.yaml: %v", err)
	}
	defs, err := rules.Builtin()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range defs {
		ids[d.ID] = true
	}
	seen := map[string]bool{}
	var out []rules.LabelledCase
	for i, c := range doc.Cases {
		switch {
		case c.Name == "":
			t.Fatalf("lookalikes.yaml: case %d has no name", i+1)
		case seen[c.Name]:
			t.Fatalf("lookalikes.yaml: %q is listed twice", c.Name)
		case c.Event == nil:
			t.Fatalf("lookalikes.yaml: %q has no event", c.Name)
		case c.Rule != "" && !ids[c.Rule]:
			t.Errorf("lookalikes.yaml: %q resembles rule %s, which is not a built-in rule; name the rule it resembles now", c.Name, c.Rule)
		}
		seen[c.Name] = true
		if _, ok := c.Event["eventID"]; !ok {
			c.Event["eventID"] = fmt.Sprintf("lookalike-%d", i+1)
		}
		raw, err := json.Marshal(c.Event)
		if err != nil {
			t.Fatalf("lookalikes.yaml: %q: %v", c.Name, err)
		}
		out = append(out, rules.LabelledCase{Name: "lookalike/" + c.Name, Rule: c.Rule, Event: raw})
	}
	return out
}

// labelledSet is the contents of cases.jsonl: the built-in pack's inline
// tests, then the hand-written look-alikes.
func labelledSet(t *testing.T) []byte {
	t.Helper()
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cases, err := p.InlineCases()
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, lookAlikes(t)...)
	var b bytes.Buffer
	for _, c := range cases {
		line, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// TestLabelledSet keeps testdata/labelled/cases.jsonl in step with the
// rules' inline tests and lookalikes.yaml (run with -update to regenerate
// it), and requires the built-in pack's quality bar on it: attacks with a
// finding at least 80%, look-alikes with a medium or higher finding at
// most 10%, with any finding at most 20%.
func TestLabelledSet(t *testing.T) {
	if n := len(lookAlikes(t)); n < minHandWrittenLookAlikes {
		t.Errorf("lookalikes.yaml holds %d cases, want at least %d", n, minHandWrittenLookAlikes)
	}
	path := filepath.Join(labelledDir, "cases.jsonl")
	got := labelledSet(t)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is out of date; run go test ./detectors/rules -run TestLabelledSet -update", path)
	}

	rep := judgeSet(t, bytes.NewReader(want))
	a, l := rep.Attacks, rep.LookAlikes
	if a.FiredShare() < minAttacksFired {
		t.Errorf("attacks with a finding %.1f%%, want at least %.0f%%", 100*a.FiredShare(), 100*minAttacksFired)
	}
	if l.SeriousShare() > maxLookAlikesSerious {
		t.Errorf("look-alikes with a medium or higher finding %.1f%%, want at most %.0f%%", 100*l.SeriousShare(), 100*maxLookAlikesSerious)
	}
	if l.FiredShare() > maxLookAlikesFired {
		t.Errorf("look-alikes with a finding %.1f%%, want at most %.0f%%", 100*l.FiredShare(), 100*maxLookAlikesFired)
	}
}

const testRule = `
- id: t-stop
  title: Trail stopped
  severity: high
  description: D.
  recommendation: R.
  match: {service: cloudtrail.amazonaws.com, action: StopLogging}
- id: t-change
  title: Trail changed
  severity: low
  description: D.
  recommendation: R.
  superseded_by: [t-stop]
  match: {service: cloudtrail.amazonaws.com, action: [StopLogging, UpdateTrail]}
  tests:
    - name: update
      match: true
      event: {eventSource: cloudtrail.amazonaws.com, eventName: UpdateTrail, userIdentity: {type: IAMUser, userName: x}}
    - name: stop is reported by t-stop
      match: false
      event: {eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, userIdentity: {type: IAMUser, userName: x}}
    - name: read
      match: false
      event: {eventSource: cloudtrail.amazonaws.com, eventName: DescribeTrails, userIdentity: {type: IAMUser, userName: x}}
    - name: several events are left out
      match: true
      events:
        - {eventSource: cloudtrail.amazonaws.com, eventName: UpdateTrail, userIdentity: {type: IAMUser, userName: x}}
        - {eventSource: cloudtrail.amazonaws.com, eventName: UpdateTrail, userIdentity: {type: IAMUser, userName: y}}
`

func testPack(t *testing.T) *rules.Pack {
	t.Helper()
	defs, err := rules.Parse([]byte(testRule), "test.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestInlineCases turns inline tests into cases: a must-not-fire test
// silenced only by a superseding rule becomes an attack case of that rule.
func TestInlineCases(t *testing.T) {
	cases, err := testPack(t).InlineCases()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		name, rule string
		expected   bool
	}
	var got []row
	for _, c := range cases {
		got = append(got, row{c.Name, c.Rule, c.Expected})
		var ev map[string]any
		if err := json.Unmarshal(c.Event, &ev); err != nil || ev["eventTime"] != "2024-01-01T00:00:00Z" || ev["eventID"] == nil {
			t.Errorf("%s: event lacks eventTime or eventID: %s", c.Name, c.Event)
		}
	}
	want := []row{
		{"t-change/update", "t-change", true},
		{"t-change/stop is reported by t-stop", "t-stop", true},
		{"t-change/read", "t-change", false},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cases=%v, want %v", got, want)
	}
}

// TestEvalCases judges a small file with every kind of line.
func TestEvalCases(t *testing.T) {
	p := testPack(t)
	newEngine := func() (*detectors.Engine, error) { return detectors.NewEngine(p.Detectors()...), nil }
	ev := func(name string) string {
		return `{"eventTime":"2024-05-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com","eventName":"` + name + `","userIdentity":{"type":"IAMUser","userName":"x"}}`
	}
	input := strings.Join([]string{
		`{"name":"stop","rule":"t-stop","expected":true,"event":` + ev("StopLogging") + `}`,
		`{"name":"update","expected":true,"event":` + ev("UpdateTrail") + `}`,
		`{"name":"missed","expected":true,"event":` + ev("DeleteTrail") + `}`,
		``,
		`{"name":"quiet","expected":false,"event":` + ev("DescribeTrails") + `}`,
		`{"name":"noisy","rule":"t-change","expected":false,"event":` + ev("UpdateTrail") + `}`,
		`not json`,
		`{"name":"no label","event":` + ev("StopLogging") + `}`,
		`{"name":"no event name","expected":true,"event":{"eventTime":"2024-05-01T10:00:00Z","eventSource":"cloudtrail.amazonaws.com"}}`,
		`{"name":"last line without newline","expected":false,"event":` + ev("LookupEvents") + `}`,
	}, "\n")
	rep, err := rules.EvalCases(context.Background(), strings.NewReader(input), newEngine)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := rep.Attacks, (rules.CaseTally{Cases: 3, Fired: 2, Serious: 1}); got != want {
		t.Errorf("attacks=%+v, want %+v", got, want)
	}
	if got, want := rep.LookAlikes, (rules.CaseTally{Cases: 3, Fired: 1, Serious: 0}); got != want {
		t.Errorf("look-alikes=%+v, want %+v", got, want)
	}
	if len(rep.Misses) != 1 || rep.Misses[0].Line != 3 || rep.Misses[0].Name != "missed" {
		t.Errorf("misses=%+v, want line 3", rep.Misses)
	}
	if len(rep.FalseFirings) != 1 || rep.FalseFirings[0].Line != 6 || rep.FalseFirings[0].Rule != "t-change" ||
		fmt.Sprint(rep.FalseFirings[0].Fired) != "[t-change]" || rep.FalseFirings[0].Severity != detectors.Low {
		t.Errorf("false firings=%+v, want line 6 by t-change, low", rep.FalseFirings)
	}
	var lines []string
	for _, u := range rep.Unjudged {
		lines = append(lines, fmt.Sprintf("%d %s: %s", u.Line, u.Name, u.Err))
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{"7 : not a JSON object", `8 no label: no "expected"`, "9 no event name: event: "} {
		if !strings.Contains(got, want) {
			t.Errorf("unjudged lack %q:\n%s", want, got)
		}
	}
	if len(rep.Unjudged) != 3 {
		t.Errorf("unjudged=%d, want 3:\n%s", len(rep.Unjudged), got)
	}
}

// TestFreshEngine gives each engine its own threshold windows.
func TestFreshEngine(t *testing.T) {
	defs, err := rules.Parse([]byte(`
- id: t-denied
  title: Denied twice
  severity: medium
  description: D.
  recommendation: R.
  match: {error_code: AccessDenied}
  threshold: {count: 2, window: 10m}
`), "test.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	denied := func(id string) *sources.Event {
		ev, err := sources.Normalize([]byte(`{"eventID":"`+id+`","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","errorCode":"AccessDenied","recipientAccountId":"111122223333","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/x"}}`), "test")
		if err != nil {
			t.Fatal(err)
		}
		return &ev
	}
	ctx := context.Background()
	a, b := p.FreshEngine(), p.FreshEngine()
	if fs, _ := a.Detect(ctx, denied("1")); len(fs) != 0 {
		t.Fatalf("first event fired: %v", fs)
	}
	if fs, _ := b.Detect(ctx, denied("2")); len(fs) != 0 {
		t.Fatalf("a second engine shares the first one's window: %v", fs)
	}
	if fs, _ := a.Detect(ctx, denied("3")); len(fs) != 1 {
		t.Fatalf("findings=%d on the second event of one engine, want 1", len(fs))
	}
}

// TestTechniqueSet judges techniques.jsonl: 100 attack records written
// from public descriptions of AWS attack techniques (one or two per
// technique, across the services of COVERAGE.md) and 38 benign look-alikes
// of them, written apart from the rules' inline tests, against the same
// bars as TestLabelledSet.
func TestTechniqueSet(t *testing.T) {
	f, err := os.Open(filepath.Join(labelledDir, "techniques.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep := judgeSet(t, f)
	a, l := rep.Attacks, rep.LookAlikes
	if a.Cases != 100 || l.Cases != 38 {
		t.Errorf("%d attacks and %d look-alikes, want 100 and 38", a.Cases, l.Cases)
	}
	if a.FiredShare() < minAttacksFired || l.SeriousShare() > maxLookAlikesSerious || l.FiredShare() > maxLookAlikesFired {
		t.Errorf("figures outside the bars (attacks with a finding >= %.0f%%, look-alikes medium+ <= %.0f%%, any <= %.0f%%)",
			100*minAttacksFired, 100*maxLookAlikesSerious, 100*maxLookAlikesFired)
	}
}

// judgeSet runs labelled cases through fresh engines of the built-in pack
// and logs the misses, false firings and figures.
func judgeSet(t *testing.T, r io.Reader) rules.CaseReport {
	t.Helper()
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := rules.EvalCases(context.Background(), r, func() (*detectors.Engine, error) { return p.FreshEngine(), nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range rep.Unjudged {
		t.Errorf("line %d (%s) could not be judged: %s", u.Line, u.Name, u.Err)
	}
	for _, o := range rep.Misses {
		t.Logf("missed      line %-4d %s", o.Line, o.Name)
	}
	for _, o := range rep.FalseFirings {
		t.Logf("false fire  line %-4d %s: %s %v (%s)", o.Line, o.Name, o.Severity, o.Fired, o.Reason)
	}
	a, l := rep.Attacks, rep.LookAlikes
	t.Logf("attacks: %d cases, %d (%.1f%%) with a finding, %d (%.1f%%) medium or higher", a.Cases, a.Fired, 100*a.FiredShare(), a.Serious, 100*a.SeriousShare())
	t.Logf("look-alikes: %d cases, %d (%.1f%%) with a finding, %d (%.1f%%) medium or higher", l.Cases, l.Fired, 100*l.FiredShare(), l.Serious, 100*l.SeriousShare())
	return rep
}
