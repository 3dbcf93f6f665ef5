package cloudwatch

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }

var runs int

// testPrefix returns a log group name prefix no other test or run (with
// -count) of the same moto server uses.
func testPrefix() string {
	runs++
	return fmt.Sprintf("/test-%d-%d", time.Now().UnixNano(), runs)
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// options returns validated options pointing at endpoint.
func options(t *testing.T, endpoint string, mod func(o *Options)) Options {
	t.Helper()
	awstest.Credentials(t)
	o := Options{Options: awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: endpoint, MaxAttempts: 3,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}}
	if mod != nil {
		mod(&o)
	}
	if err := o.Validate(configs.Section{}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return o
}

// build returns the sources of opts with a shared clock at now.
func build(t *testing.T, o Options, now time.Time) ([]*Source, *clock) {
	t.Helper()
	srcs, err := Build(context.Background(), "cw", o, configs.Section{})
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	c := &clock{t: now}
	var out []*Source
	for _, s := range srcs {
		s := s.(*Source)
		s.Now = c.now
		out = append(out, s)
	}
	return out, c
}

// seed writes messages to a log group through the target's credentials,
// creating group and stream.
func seed(t *testing.T, tg awssrc.Target, group, stream string, at []time.Time, msgs []string) {
	t.Helper()
	c := cloudwatchlogs.NewFromConfig(tg.Config)
	ctx := context.Background()
	if _, err := c.CreateLogGroup(ctx, &cloudwatchlogs.CreateLogGroupInput{LogGroupName: &group}); err != nil && !strings.Contains(err.Error(), "ResourceAlreadyExists") {
		t.Fatalf("create log group %s: %v", group, err)
	}
	if _, err := c.CreateLogStream(ctx, &cloudwatchlogs.CreateLogStreamInput{LogGroupName: &group, LogStreamName: &stream}); err != nil && !strings.Contains(err.Error(), "ResourceAlreadyExists") {
		t.Fatalf("create log stream: %v", err)
	}
	var evs []types.InputLogEvent
	for i, m := range msgs {
		evs = append(evs, types.InputLogEvent{Message: sdkaws.String(m), Timestamp: sdkaws.Int64(at[i].UnixMilli())})
	}
	if _, err := c.PutLogEvents(ctx, &cloudwatchlogs.PutLogEventsInput{LogGroupName: &group, LogStreamName: &stream, LogEvents: evs}); err != nil {
		t.Fatalf("put log events: %v", err)
	}
}

func target(t *testing.T, o Options) awssrc.Target {
	t.Helper()
	ts, err := o.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ts[0]
}

// sampleRecords returns the first n records of the bundled CloudTrail
// sample (invictus-ir/Sigma-AWS, see configs/samples/README.md), with
// eventTime moved to times spaced by step ending at end, and their ids.
func sampleRecords(t *testing.T, n int, end time.Time, step time.Duration) ([]string, []time.Time, []string) {
	t.Helper()
	b, err := os.ReadFile("../../configs/samples/invictus-cloudtrail.json")
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	var doc struct {
		Records []map[string]any `json:"Records"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	var msgs, ids []string
	var at []time.Time
	for i := 0; i < n; i++ {
		r := doc.Records[i]
		ts := end.Add(-time.Duration(n-i) * step).Truncate(time.Second)
		r["eventTime"] = ts.UTC().Format(time.RFC3339)
		m, _ := json.Marshal(r)
		msgs, at, ids = append(msgs, string(m)), append(at, ts), append(ids, r["eventID"].(string))
	}
	return msgs, at, ids
}

func flowLines(n int, end time.Time) ([]string, []time.Time) {
	var msgs []string
	var at []time.Time
	for i := 0; i < n; i++ {
		ts := end.Add(-time.Duration(n-i) * 7 * time.Second)
		msgs = append(msgs, fmt.Sprintf("2 123456789012 eni-0a1b2c3d 203.0.113.%d 10.0.0.5 %d 22 6 10 840 %d %d REJECT OK", i+1, 40000+i, ts.Unix()-60, ts.Unix()))
		at = append(at, ts)
	}
	return msgs, at
}

func collect(t *testing.T, fetch func(sink sources.Sink) error) ([]sources.Event, []sources.Malformed, error) {
	t.Helper()
	var evs []sources.Event
	var bad []sources.Malformed
	err := fetch(sources.FuncSink{
		OnEvent:     func(_ context.Context, ev *sources.Event) error { evs = append(evs, *ev); return nil },
		OnMalformed: func(m sources.Malformed) { bad = append(bad, m) },
	})
	return evs, bad, err
}

func TestTrailAndPlainGroupsPaginated(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	rec := awstest.NewRecorder(t, moto)
	now := time.Now().UTC().Truncate(time.Millisecond)
	trail, vpc := tp+"/paginated/cloudtrail", tp+"/paginated/vpc-flow"
	o := options(t, rec.URL, func(o *Options) { o.LogGroups = []string{trail, vpc} })
	msgs, at, ids := sampleRecords(t, 7, now.Add(-time.Minute), 30*time.Second)
	seed(t, target(t, o), trail, "123456789012_CloudTrail_eu-west-1", at, msgs)
	lines, lat := flowLines(5, now.Add(-time.Minute))
	seed(t, target(t, o), vpc, "eni-0a1b2c3d-all", lat, lines)

	srcs, _ := build(t, o, now)
	src := srcs[0]
	src.pageSize = 2
	var cp []byte
	evs, bad, err := collect(t, func(sink sources.Sink) (err error) {
		cp, err = src.Fetch(context.Background(), nil, sink)
		return err
	})
	if err != nil || len(bad) > 0 {
		t.Fatalf("fetch: err=%v malformed=%v", err, bad)
	}
	var ct, plain []sources.Event
	for _, ev := range evs {
		if ev.Raw != nil {
			ct = append(ct, ev)
		} else {
			plain = append(plain, ev)
		}
	}
	if len(ct) != len(ids) || len(plain) != len(lines) {
		t.Fatalf("cloudtrail events=%d plain=%d, want %d and %d", len(ct), len(plain), len(ids), len(lines))
	}
	for i, ev := range ct {
		if ev.ID != ids[i] || ev.Action == "" || ev.LogGroup != trail || ev.Source != "cw/"+awstest.Region {
			t.Fatalf("cloudtrail event %d = id %s action %q group %q source %q, want id %s from %s", i, ev.ID, ev.Action, ev.LogGroup, ev.Source, ids[i], trail)
		}
	}
	for i, ev := range plain {
		if ev.Message != lines[i] || ev.LogGroup != vpc || ev.LogStream != "eni-0a1b2c3d-all" || ev.Region != awstest.Region || !ev.Time.Equal(lat[i].Truncate(time.Millisecond)) {
			t.Fatalf("plain event %d = %+v, want line %q at %v", i, ev, lines[i], lat[i])
		}
	}
	// Count distinct requests: the SDK may resend one whose connection it
	// closed itself (aws/aws-sdk-go-v2#2737).
	pages := map[string]bool{}
	for _, c := range rec.Calls("FilterLogEvents") {
		pages[string(c.Body)] = true
	}
	if n := len(pages); n != 4+3 {
		t.Fatalf("FilterLogEvents pages=%d, want 4 pages of 2 for 7 records and 3 for 5 lines", n)
	}
	c, _ := awssrc.ParseCheckpoint(cp)
	if !c.Marks[trail].End.Equal(now) || !c.Marks[vpc].End.Equal(now) {
		t.Fatalf("checkpoint marks=%v, want both groups at %v", c.Marks, now)
	}
}

func TestMissingGroupIsPermanentOthersAdvance(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	present, missing := tp+"/missing/present", tp+"/missing/absent"
	o := options(t, moto, func(o *Options) { o.LogGroups = []string{present, missing} })
	lines, at := flowLines(3, now.Add(-time.Minute))
	seed(t, target(t, o), present, "s", at, lines)
	srcs, clk := build(t, o, now)
	h := awstest.NewHarness(t)
	res, err := h.Poll(srcs[0])
	if err == nil || !sources.IsPermanent(err) || sources.Classify(err) != sources.ClassNotFound {
		t.Fatalf("err=%v (class %v), want a permanent not-found error", err, sources.Classify(err))
	}
	if res.Events != 3 {
		t.Fatalf("events=%d, want the present group's 3", res.Events)
	}
	hl := h.Health(srcs[0].Name())
	if !hl.Permanent || !strings.Contains(hl.LastError, missing) || !strings.Contains(hl.LastError, "ResourceNotFoundException") {
		t.Fatalf("health=%+v, want permanent ResourceNotFoundException naming %s", hl, missing)
	}
	cp, _ := h.Sources.Checkpoint(srcs[0].Name())
	c, _ := awssrc.ParseCheckpoint(cp)
	if _, ok := c.Marks[missing]; ok || !c.Marks[present].End.Equal(now) {
		t.Fatalf("marks=%v, want only %s advanced", c.Marks, present)
	}
	// The group is created; the next poll reads it from the initial
	// lookback and the problem clears.
	late, lat := flowLines(2, now.Add(4*time.Minute))
	seed(t, target(t, o), missing, "s", lat, late)
	clk.t = now.Add(5 * time.Minute)
	res, err = h.Poll(srcs[0])
	if err != nil || res.Events != 2 || res.Skipped != 3 {
		t.Fatalf("second poll events=%d skipped=%d err=%v, want 2 new, 3 repeats", res.Events, res.Skipped, err)
	}
	if hl := h.Health(srcs[0].Name()); hl.Permanent || hl.LastError != "" {
		t.Fatalf("health=%+v, want cleared", hl)
	}
}

func TestLateEventAndRestartMidPoll(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	rec := awstest.NewRecorder(t, moto)
	now := time.Now().UTC().Truncate(time.Millisecond)
	groups := []string{tp + "/restart/a", tp + "/restart/b", tp + "/restart/c"}
	o := options(t, rec.URL, func(o *Options) { o.LogGroups = groups })
	var want []string
	for _, g := range groups {
		lines, lat := flowLines(4, now.Add(-2*time.Minute))
		seed(t, target(t, o), g, "s", lat, lines)
	}
	// Learn the ids moto gave the events.
	srcs, _ := build(t, o, now)
	all, _, err := collect(t, func(sink sources.Sink) error {
		return srcs[0].FetchRange(context.Background(), sources.Window{Start: now.Add(-time.Hour)}, sink)
	})
	if err != nil || len(all) != 12 {
		t.Fatalf("range read %d events (%v), want 12", len(all), err)
	}
	for _, ev := range all {
		want = append(want, ev.ID)
	}

	// The poll fails on the second group: the first group's events and
	// mark are stored, the failing group's are not.
	h := awstest.NewHarness(t)
	rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "FilterLogEvents" && strings.Contains(string(c.Body), groups[1]) {
			return 503, `{"__type":"ServiceUnavailableException","message":"injected"}`
		}
		return 0, ""
	})
	res, err := h.Poll(srcs[0])
	if err == nil || sources.IsPermanent(err) {
		t.Fatalf("err=%v, want a transient failure", err)
	}
	if res.Events != 8 {
		t.Fatalf("first poll events=%d, want 8 from the two groups that answered", res.Events)
	}
	rec.Before(nil)

	// A late event: stamped before the stored mark, written after.
	lateMsg := "2 123456789012 eni-0a1b2c3d 198.51.100.9 10.0.0.5 443 51000 6 1 60 0 0 ACCEPT OK late"
	seed(t, target(t, o), groups[0], "s", []time.Time{now.Add(-3 * time.Minute)}, []string{lateMsg})

	// Restart: a new source on the same database.
	h.Restart()
	srcs2, _ := build(t, o, now.Add(5*time.Minute))
	res2, err := h.Poll(srcs2[0])
	if err != nil {
		t.Fatal(err)
	}
	if res2.Events != 5 {
		t.Fatalf("second poll events=%d, want the failed group's 4 and the late one", res2.Events)
	}
	var lateID string
	for _, id := range h.Log.IDs() {
		if !contains(want, id) {
			lateID = id
		}
	}
	if lateID == "" {
		t.Fatal("the late event was not processed")
	}
	h.ExactlyOnce(append(want, lateID))
	// A third poll re-reads the overlap and finds nothing new.
	srcs3, _ := build(t, o, now.Add(6*time.Minute))
	res3, err := h.Poll(srcs3[0])
	if err != nil || res3.Events != 0 || res3.Skipped != 13 {
		t.Fatalf("third poll events=%d skipped=%d err=%v, want 0 new and 13 repeats", res3.Events, res3.Skipped, err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestFanOutAccountsAndRegionsWithAssumeRole(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	rec := awstest.NewRecorder(t, moto)
	now := time.Now().UTC().Truncate(time.Millisecond)
	const a, b = "111111111111", "222222222222"
	regions := []string{"eu-west-1", "us-east-1"}
	group := tp + "/fanout/app"
	o := options(t, rec.URL, func(o *Options) {
		o.Regions = regions
		o.LogGroups = []string{group}
		o.Accounts = []awssrc.Account{
			{ID: a, RoleARN: "arn:aws:iam::" + a + ":role/trailhound-reader", ExternalID: configs.NewSecret("ext-aaaa-1234")},
			{ID: b, RoleARN: "arn:aws:iam::" + b + ":role/trailhound-reader", ExternalID: configs.NewSecret("ext-bbbb-5678"), SessionName: "th-b"},
		}
	})
	targets, err := o.Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(targets) != 4 {
		t.Fatalf("targets=%d, want 2 accounts x 2 regions", len(targets))
	}
	// Each account and region holds one line naming itself, written with
	// that account's assumed role.
	for _, tg := range targets {
		seed(t, tg, group, "s", []time.Time{now.Add(-time.Minute)}, []string{"hello from " + tg.Account + " " + tg.Region})
	}
	srcs, _ := build(t, o, now)
	var names []string
	h := awstest.NewHarness(t)
	for _, s := range srcs {
		names = append(names, s.Name())
		evs, _, err := collect(t, func(sink sources.Sink) error { _, err := s.Fetch(context.Background(), nil, sink); return err })
		if err != nil {
			t.Fatalf("%s: %v", s.Name(), err)
		}
		wantMsg := "hello from " + s.target.Account + " " + s.target.Region
		if len(evs) != 1 || evs[0].Message != wantMsg || evs[0].Account != s.target.Account || evs[0].Region != s.target.Region {
			t.Fatalf("%s read %+v, want only %q", s.Name(), evs, wantMsg)
		}
		if _, err := h.Poll(s); err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(names)
	wantNames := []string{"cw/" + a + "/eu-west-1", "cw/" + a + "/us-east-1", "cw/" + b + "/eu-west-1", "cw/" + b + "/us-east-1"}
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Fatalf("names=%v, want %v", names, wantNames)
	}
	// Every source has its own checkpoint and health.
	for _, n := range wantNames {
		if cp, _ := h.Sources.Checkpoint(n); cp == nil {
			t.Fatalf("no checkpoint for %s", n)
		}
	}
	// One AssumeRole per account (cached across regions and polls), with
	// the external id and session name.
	got := map[string]string{}
	calls := map[string]bool{}
	for _, c := range rec.Calls("AssumeRole") {
		got[c.Form.Get("RoleArn")] = c.Form.Get("ExternalId") + "/" + c.Form.Get("RoleSessionName")
		calls[string(c.Body)] = true
	}
	want := map[string]string{
		"arn:aws:iam::" + a + ":role/trailhound-reader": "ext-aaaa-1234/trailhound",
		"arn:aws:iam::" + b + ":role/trailhound-reader": "ext-bbbb-5678/th-b",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) || len(calls) != 2 {
		t.Fatalf("AssumeRole calls=%d %v, want one per account: %v", len(calls), got, want)
	}
}

func TestLogGroupPrefixes(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	o := options(t, moto, func(o *Options) { o.LogGroupPrefixes = []string{tp + "/prefix/api-"} })
	for _, g := range []string{tp + "/prefix/api-one", tp + "/prefix/api-two", tp + "/prefix/other"} {
		seed(t, target(t, o), g, "s", []time.Time{now.Add(-time.Minute)}, []string{"line of " + g})
	}
	srcs, _ := build(t, o, now)
	evs, _, err := collect(t, func(sink sources.Sink) error { _, err := srcs[0].Fetch(context.Background(), nil, sink); return err })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.LogGroup)
	}
	sort.Strings(got)
	if fmt.Sprint(got) != fmt.Sprintf("[%s/prefix/api-one %s/prefix/api-two]", tp, tp) {
		t.Fatalf("groups read=%v, want the two api- groups", got)
	}
}

func TestFilterPatternPushedToServer(t *testing.T) {
	logs := awstest.NewLogs(t)
	now := time.Now().UTC().Truncate(time.Millisecond)
	group := "aws-cloudtrail-logs-111122223333"
	var want []string
	for i, name := range []string{"CreateUser", "GetUser", "DeleteUser", "ListUsers", "CreateAccessKey"} {
		id := fmt.Sprintf("ev-%d", i)
		logs.Put(group, awstest.LogRecord{ID: fmt.Sprint(i), Stream: "s", Timestamp: now.Add(-time.Duration(10-i) * time.Minute).UnixMilli(),
			Message: string(awstest.Record(id, now.Add(-time.Duration(10-i)*time.Minute), name, false))})
		if name == "CreateUser" || name == "DeleteUser" {
			want = append(want, id)
		}
	}
	logs.Put(group, awstest.LogRecord{ID: "99", Stream: "s", Timestamp: now.Add(-time.Minute).UnixMilli(), Message: "not json CreateUser"})
	o := options(t, logs.URL, func(o *Options) {
		o.LogGroups = []string{group}
		o.Match = map[string][]string{"eventName": {"CreateUser", "DeleteUser"}, "eventSource": {"iam.amazonaws.com"}}
	})
	srcs, _ := build(t, o, now)
	evs, _, err := collect(t, func(sink sources.Sink) error { _, err := srcs[0].Fetch(context.Background(), nil, sink); return err })
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, ev.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("events=%v, want only %v", got, want)
	}
	wantPattern := `{ (($.eventName = "CreateUser") || ($.eventName = "DeleteUser")) && ($.eventSource = "iam.amazonaws.com") }`
	if p := logs.Patterns(); len(p) != 1 || p[0] != wantPattern {
		t.Fatalf("patterns sent=%q, want %q", p, wantPattern)
	}
}

func TestJSONFilterPattern(t *testing.T) {
	for _, tc := range []struct {
		name  string
		match map[string][]string
		want  string
	}{
		{"one value", map[string][]string{"eventSource": {"iam.amazonaws.com"}}, `{ ($.eventSource = "iam.amazonaws.com") }`},
		{"nested and wildcard", map[string][]string{"userIdentity.type": {"Root"}, "eventName": {"Create*", "Delete*"}},
			`{ (($.eventName = "Create*") || ($.eventName = "Delete*")) && ($.userIdentity.type = "Root") }`},
		{"quote in value", map[string][]string{"eventName": {`a"b`}}, "error: value"},
		{"bad path", map[string][]string{"$.eventName": {"x"}}, "error: \"$.eventName\" is not a JSON field path"},
		{"no values", map[string][]string{"eventName": {}}, "error: field eventName has no values"},
		{"too long", map[string][]string{"eventName": manyValues(60)}, "error: the pattern is"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := JSONFilterPattern(tc.match)
			if err != nil {
				got = "error: " + err.Error()
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("pattern=%q, want %q", got, tc.want)
			}
		})
	}
}

func manyValues(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("SomeRatherLongEventName%d", i))
	}
	return out
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"no groups", `{regions: [eu-west-1]}`, "log_groups: at least one log group"},
		{"bad group", `{regions: [eu-west-1], log_groups: ["bad group"]}`, `"bad group" is not a log group name`},
		{"twice", `{regions: [eu-west-1], log_groups: [a, a]}`, "listed twice"},
		{"both filters", `{regions: [eu-west-1], log_groups: [a], filter_pattern: x, match: {eventName: [x]}}`, "either filter_pattern or match"},
		{"bad match", `{regions: [eu-west-1], log_groups: [a], match: {"bad path!": [x]}}`, "is not a JSON field path"},
		{"bad backfill", `{regions: [eu-west-1], log_groups: [a], backfill: athena}`, `test.yaml:4: sources[0].options.backfill: must be filter or insights, not "athena"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := configs.Parse([]byte("sources:\n  - name: cw\n    type: cloudwatch\n    options: "+tc.yaml+"\n"), "test.yaml", func(string) (string, bool) { return "", false })
			if err != nil {
				t.Fatal(err)
			}
			var opts Options
			err = cfg.Sources[0].Options.Decode(&opts)
			if err == nil {
				err = opts.Validate(cfg.Sources[0].Options)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}

// TestInsightsBackfill reads history through Logs Insights (StartQuery
// against moto): CloudTrail records keep their ids, plain lines get stable
// ones, and a window whose query fills the row limit is split until every
// event is read exactly once.
func TestInsightsBackfill(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	rec := awstest.NewRecorder(t, moto)
	now := time.Now().UTC().Truncate(time.Second)
	trail, vpc := tp+"/insights/cloudtrail", tp+"/insights/vpc-flow"
	o := options(t, rec.URL, func(o *Options) { o.LogGroups = []string{trail, vpc}; o.Backfill = BackfillInsights })
	msgs, at, ids := sampleRecords(t, 7, now.Add(-time.Minute), 20*time.Second)
	seed(t, target(t, o), trail, "123456789012_CloudTrail_eu-west-1", at, msgs)
	lines, lat := flowLines(5, now.Add(-time.Minute))
	seed(t, target(t, o), vpc, "eni-0a1b2c3d-all", lat, lines)

	srcs, _ := build(t, o, now)
	src := srcs[0]
	src.queryLimit, src.queryPoll = 3, 5*time.Millisecond
	window := sources.Window{Start: now.Add(-10 * time.Minute), End: now}
	read := func() []sources.Event {
		evs, bad, err := collect(t, func(sink sources.Sink) error { return src.FetchRange(context.Background(), window, sink) })
		if err != nil || len(bad) > 0 {
			t.Fatalf("fetch range: err=%v malformed=%v", err, bad)
		}
		return evs
	}
	evs := read()
	var gotIDs, gotLines []string
	for _, ev := range evs {
		if ev.Raw != nil {
			gotIDs = append(gotIDs, ev.ID)
		} else {
			gotLines = append(gotLines, ev.Message)
			if ev.LogStream != "eni-0a1b2c3d-all" || ev.LogGroup != vpc || ev.ID == "" {
				t.Fatalf("plain event %+v", ev)
			}
		}
	}
	sort.Strings(gotIDs)
	want := append([]string(nil), ids...)
	sort.Strings(want)
	if strings.Join(gotIDs, ",") != strings.Join(want, ",") || len(gotLines) != len(lines) {
		t.Fatalf("cloudtrail ids=%v lines=%d, want %v and %d", gotIDs, len(gotLines), want, len(lines))
	}
	if n := len(rec.Calls("StartQuery")); n < 4 {
		t.Fatalf("StartQuery calls=%d: windows over the row limit were not split", n)
	}
	if len(rec.Calls("FilterLogEvents")) != 0 {
		t.Fatal("backfill used FilterLogEvents")
	}
	// Reading again yields the same ids, so the workflow dedups them.
	again := read()
	if len(again) != len(evs) || again[len(again)-1].ID != evs[len(evs)-1].ID {
		t.Fatalf("second read differs: %d vs %d events", len(again), len(evs))
	}
}

func TestInsightsTime(t *testing.T) {
	for in, want := range map[string]string{
		"2024-07-30 21:31:20.123": "2024-07-30T21:31:20.123Z",
		"1722375080123":           "2024-07-30T21:31:20.123Z",
	} {
		got, err := insightsTime(in)
		if err != nil || got.Format("2006-01-02T15:04:05.000Z07:00") != want {
			t.Errorf("insightsTime(%q)=%v,%v, want %s", in, got, err, want)
		}
	}
	if _, err := insightsTime("yesterday"); err == nil {
		t.Error("insightsTime(yesterday) accepted")
	}
}
