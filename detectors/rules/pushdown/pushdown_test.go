package pushdown_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// compileRules compiles rules written in YAML (the header fields are
// filled in), so each case states only its match.
func compileRules(t *testing.T, yaml string) *rules.Pack {
	t.Helper()
	defs, err := rules.Parse([]byte(yaml), "test.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	p, err := rules.Assemble([][]rules.Definition{defs}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func rule(id, match string) string {
	return fmt.Sprintf("- id: %s\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  match:\n%s\n", id, indent(match, "    "))
}

func indent(s, pre string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = pre + l
	}
	return strings.Join(lines, "\n")
}

// TestCompileStatus pins what each engine makes of the parts of the rule
// language: which are exact, which are coarse (and why), which restrict
// nothing.
func TestCompileStatus(t *testing.T) {
	cases := []struct {
		name, match string
		// want is the status per engine: athena, duckdb, insights,
		// filter-pattern.
		want   [4]pushdown.Status
		reason string // a reason every coarse engine names
		never  bool
	}{
		{name: "event names", match: "service: iam.amazonaws.com\naction: [CreateUser, DeleteUser]",
			want: [4]pushdown.Status{pushdown.Exact, pushdown.Exact, pushdown.Exact, pushdown.Exact}},
		{name: "derived field", match: "action: CreateUser\nby_service: \"false\"",
			want: [4]pushdown.Status{pushdown.Exact, pushdown.Exact, pushdown.Exact, pushdown.Coarse}, reason: "by_service"},
		{name: "raw JSON path", match: "action: PutBucketPolicy\nrequestParameters.bucketName: prod",
			want: [4]pushdown.Status{pushdown.Coarse, pushdown.Coarse, pushdown.Coarse, pushdown.Coarse}, reason: "requestParameters.bucketName"},
		{name: "policy operator", match: "action: PutBucketPolicy\nrequestParameters.bucketPolicy: {policy: public}",
			want: [4]pushdown.Status{pushdown.Coarse, pushdown.Coarse, pushdown.Coarse, pushdown.Coarse}, reason: "policy"},
		{name: "only a policy test", match: "requestParameters.policy: {policy: public}",
			want: [4]pushdown.Status{pushdown.NotPushable, pushdown.NotPushable, pushdown.NotPushable, pushdown.NotPushable}, reason: "policy"},
		{name: "case folding", match: "action: {eq: createuser, nocase: true}",
			want: [4]pushdown.Status{pushdown.Exact, pushdown.Exact, pushdown.Exact, pushdown.NotPushable}, reason: "case folding"},
		{name: "negation", match: "action: CreateUser\nnot: {principal.type: AWSService}",
			want: [4]pushdown.Status{pushdown.Exact, pushdown.Exact, pushdown.Exact, pushdown.Coarse}, reason: "negation"},
		{name: "plain log lines", match: "message: {contains: \"union select\"}",
			want: [4]pushdown.Status{pushdown.Exact, pushdown.Exact, pushdown.Exact, pushdown.Exact}, never: true},
		{name: "url decoding", match: "action: GetObject\nrequestParameters.key: {contains: \"../\", decode: url}",
			want: [4]pushdown.Status{pushdown.Coarse, pushdown.Coarse, pushdown.Coarse, pushdown.Coarse}, reason: "url decoding"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := compileRules(t, rule("r", tc.match))
			r, _ := p.Rule("r")
			for i, e := range pushdown.Engines {
				plan := pushdown.Compile(r, e)
				if plan.Status != tc.want[i] {
					t.Errorf("%s: status=%v, want %v (reasons %q)\n%s", e, plan.Status, tc.want[i], plan.Reasons, plan.Where)
				}
				if plan.Status != pushdown.Exact && tc.reason != "" && e != pushdown.FilterPattern && !strings.Contains(strings.Join(plan.Reasons, "; "), tc.reason) {
					t.Errorf("%s: reasons %q do not name %q", e, plan.Reasons, tc.reason)
				}
				if plan.Status == pushdown.NotPushable && plan.Where != "" {
					t.Errorf("%s: not pushable but Where=%q", e, plan.Where)
				}
				if plan.Never != tc.never {
					t.Errorf("%s: never=%v, want %v", e, plan.Never, tc.never)
				}
			}
		})
	}
}

// TestSuperseded checks that a rule's condition leaves out the events of
// the rules superseding it.
func TestSuperseded(t *testing.T) {
	p := compileRules(t, rule("general", "action: [CreateUser, DeleteUser]")+"  superseded_by: [specific]\n"+rule("specific", "action: CreateUser"))
	r, _ := p.Rule("general")
	plan := pushdown.Compile(r, pushdown.Athena)
	want := "eventname IN ('CreateUser', 'DeleteUser') AND NOT (COALESCE(eventname = 'CreateUser', FALSE))"
	if plan.Where != want || plan.Status != pushdown.Exact {
		t.Fatalf("Where=%q (%v), want %q (exact)", plan.Where, plan.Status, want)
	}
}

func TestParseEngine(t *testing.T) {
	for _, e := range pushdown.Engines {
		got, err := pushdown.ParseEngine(string(e))
		if err != nil || got != e {
			t.Fatalf("ParseEngine(%q)=%q, %v", e, got, err)
		}
	}
	if _, err := pushdown.ParseEngine("presto"); err == nil || !strings.Contains(err.Error(), `unknown engine "presto"`) {
		t.Fatalf("err=%v, want unknown engine", err)
	}
}

var goldenTable = pushdown.Table{Name: "cloudtrail_logs", DateColumn: "timestamp", AccountColumn: "account", RegionColumn: "region"}

var goldenWindow = pushdown.Window{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC)}

// TestGoldenAthena pins the Athena SQL of every built-in rule, with its
// status and reasons, in testdata/golden/athena/<rule>.sql (go test
// -update rewrites them).
func TestGoldenAthena(t *testing.T) {
	// Every built-in rule, also those shipped turned off.
	all, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var off []string
	for _, d := range all.Off() {
		off = append(off, d.ID)
	}
	p, err := rules.Load(rules.Options{Enable: off})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("testdata", "golden", "athena")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, r := range p.Sorted() {
		q, plan, err := pushdown.RuleQuery(r, pushdown.Athena, goldenTable, goldenWindow)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		fmt.Fprintf(&b, "-- rule: %s\n-- status: %s\n", r.ID(), plan.Status)
		for _, why := range plan.Reasons {
			fmt.Fprintf(&b, "-- coarse: %s\n", why)
		}
		b.WriteString(q + "\n")
		name := strings.ReplaceAll(r.ID(), "/", "_") + ".sql"
		seen[name] = true
		path := filepath.Join(dir, name)
		if *update {
			if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test -update to write the golden files)", err)
		}
		if string(want) != b.String() {
			t.Errorf("%s: the Athena SQL changed (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, b.String(), want)
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.sql"))
	for _, f := range files {
		if !seen[filepath.Base(f)] {
			if *update {
				os.Remove(f)
				continue
			}
			t.Errorf("%s: no built-in rule has this golden file", f)
		}
	}
}

// TestTableWindow checks the partition and time predicates of a window.
func TestTableWindow(t *testing.T) {
	p := compileRules(t, rule("r", "action: StopLogging"))
	tb := goldenTable
	tb.Accounts, tb.Regions = []string{"111122223333"}, []string{"eu-west-1"}
	w := pushdown.Window{Start: time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC), End: time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)}
	q, err := pushdown.Pack(p.Rules(), pushdown.Athena, tb, w)
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT " + strings.Join(pushdown.Columns, ", ") + "\nFROM cloudtrail_logs\n" +
		"WHERE \"timestamp\" BETWEEN '2026/02/28' AND '2026/03/02'\n" +
		"  AND \"account\" IN ('111122223333')\n" +
		"  AND \"region\" IN ('eu-west-1')\n" +
		"  AND eventtime >= '2026-02-28T23:00:00Z'\n" +
		"  AND eventtime < '2026-03-01T02:00:00Z'\n" +
		"  AND (eventname = 'StopLogging')"
	if q.SQL != want {
		t.Fatalf("SQL=\n%s\nwant\n%s", q.SQL, want)
	}
	tb.DateFormat = "yyyy-MM-dd'T'"
	if _, err := pushdown.Pack(p.Rules(), pushdown.Athena, tb, w); err == nil || !strings.Contains(err.Error(), "date format") {
		t.Fatalf("err=%v, want a date format error", err)
	}
	if _, err := pushdown.Pack(p.Rules(), pushdown.Insights, tb, w); err == nil || !strings.Contains(err.Error(), "not a SQL engine") {
		t.Fatalf("err=%v, want not a SQL engine", err)
	}
}

// TestPackFilterPattern checks that the pattern of a set of rules keeps
// what they may match, gets coarser to fit the length limit, and is empty,
// with the rule named, when a rule could match any record.
func TestPackFilterPattern(t *testing.T) {
	small := compileRules(t, rule("a", "service: cloudtrail.amazonaws.com\naction: [StopLogging, DeleteTrail]")+
		rule("b", "principal.type: Root\nby_service: \"false\"")+
		rule("web", "message: {contains: \"<script\"}"))
	got, why := pushdown.PackFilterPattern(small.Rules(), pushdown.MaxFilterPattern)
	want := `{ (($.eventSource = "cloudtrail.amazonaws.com") && (($.eventName = "StopLogging") || ($.eventName = "DeleteTrail"))) || ($.userIdentity.type = "Root") }`
	if got != want || why != "" {
		t.Fatalf("pattern=%s (%s), want %s", got, why, want)
	}
	// Many event names must be grouped to fit.
	var b strings.Builder
	for i := 0; i < 80; i++ {
		b.WriteString(rule(fmt.Sprintf("r%d", i), fmt.Sprintf("service: s%d.amazonaws.com\naction: [DeleteThing%d, PutThing%d]\nrequestParameters.x: y", i, i, i)))
	}
	b.WriteString(rule("root", "principal.type: Root"))
	big := compileRules(t, b.String())
	got, why = pushdown.PackFilterPattern(big.Rules(), pushdown.MaxFilterPattern)
	want = `{ ($.eventName = "Delete*") || ($.eventName = "Put*") || ($.userIdentity.type = "Root") }`
	if got != want || why != "" {
		t.Fatalf("pattern=%s (%s), want %s", got, why, want)
	}
	any := compileRules(t, rule("a", "action: StopLogging")+rule("ua", "user_agent: {contains: kali}"))
	got, why = pushdown.PackFilterPattern(any.Rules(), pushdown.MaxFilterPattern)
	if got != "" || !strings.Contains(why, "rule ua can match any record") {
		t.Fatalf("pattern=%q (%s), want none because of rule ua", got, why)
	}
}

// TestInsightsQuery checks that the Insights query of the built-in pack
// fits StartQuery's limit and still filters.
func TestInsightsQuery(t *testing.T) {
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	q, unfiltered := pushdown.InsightsQuery(p.Rules(), pushdown.MaxInsightsQuery)
	if len(q) > pushdown.MaxInsightsQuery || !strings.Contains(q, "\n| filter ") || len(unfiltered) > 0 {
		t.Fatalf("query of %d characters, unfiltered %v:\n%.400s", len(q), unfiltered, q)
	}
	small := compileRules(t, rule("a", "action: StopLogging\nfailed: \"false\""))
	q, _ = pushdown.InsightsQuery(small.Rules(), pushdown.MaxInsightsQuery)
	want := pushdown.InsightsFields + "\n| filter eventName = \"StopLogging\" and not (((ispresent(errorCode) and errorCode != \"\") or (eventName = \"ConsoleLogin\" and ((ispresent(errorMessage) and errorMessage != \"\") or responseElements.ConsoleLogin = \"Failure\"))))\n| sort @timestamp asc"
	if q != want {
		t.Fatalf("query=\n%s\nwant\n%s", q, want)
	}
}
