package pushdown_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/detectors/sigma"
	"github.com/trailhound/trailhound/internal/shareddata"
	"github.com/trailhound/trailhound/sources"
)

// dataset is CloudTrail records with unique event ids, and their events.
type dataset struct {
	records [][]byte
	events  []sources.Event
	seen    map[string]bool
	// clock gives records without eventTime distinct times, one second
	// apart from 2024-01-01, as inline rule tests do.
	clock int
}

func newDataset() *dataset { return &dataset{seen: map[string]bool{}} }

// add adds a record, giving it the id fallback when it has no event id or
// one already taken (labelled sets reuse ids such as "x"), and eventTime
// 2024-01-01 when it has none, as inline rule tests do.
func (d *dataset) add(t testing.TB, raw []byte, fallback string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		t.Fatalf("%s: not a JSON object: %v", fallback, err)
	}
	id, _ := m["eventID"].(string)
	changed := false
	if id == "" || d.seen[id] {
		m["eventID"], id, changed = fallback, fallback, true
	}
	if _, ok := m["eventTime"]; !ok {
		m["eventTime"] = time.Date(2024, 1, 1, 0, 0, d.clock, 0, time.UTC).Format(time.RFC3339)
		d.clock++
		changed = true
	}
	if changed {
		var err error
		if raw, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
	}
	ev, err := sources.Normalize(raw, "test")
	if err != nil {
		t.Fatalf("%s: %v", fallback, err)
	}
	d.seen[id] = true
	d.records = append(d.records, raw)
	d.events = append(d.events, ev)
}

func (d *dataset) addJSONL(t testing.TB, path, prefix string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	n := 0
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		var labelled struct {
			Event json.RawMessage `json:"event"`
		}
		rec := append([]byte(nil), line...)
		if json.Unmarshal(line, &labelled) == nil && len(labelled.Event) > 0 {
			rec = labelled.Event
		}
		d.add(t, rec, fmt.Sprintf("%s-%d", prefix, n))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

// sharedRecords loads the shared CloudTrail data: the Invictus records
// and the Stratus Red Team detonation logs.
func sharedRecords(t testing.TB, d *dataset) {
	inv := shareddata.Path(t, "invictus_sigma_aws_stratus")
	d.addJSONL(t, filepath.Join(inv, "invictus_sigma_aws_stratus.jsonl"), "invictus")
	dir := shareddata.Path(t, "stratus_red_team_detonation_logs")
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var recs []json.RawMessage
		if err := json.Unmarshal(b, &recs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i, r := range recs {
			d.add(t, r, fmt.Sprintf("stratus-%s-%d", filepath.Base(f), i))
		}
	}
}

// ruleRecords adds the records of every rule's inline tests and of the
// labelled sets (positives and look-alikes), so the comparison also covers
// rules the shared data never triggers.
func ruleRecords(t testing.TB, d *dataset, pack *rules.Pack) {
	for _, r := range pack.Rules() {
		for ci, c := range r.Definition().Tests {
			for i, ev := range c.Events {
				d.add(t, ev, fmt.Sprintf("inline-%s-%d-%d", r.ID(), ci, i))
			}
		}
	}
	d.addJSONL(t, filepath.Join("..", "testdata", "labelled", "cases.jsonl"), "labelled")
	d.addJSONL(t, filepath.Join("..", "testdata", "labelled", "techniques.jsonl"), "techniques")
}

func loadPack(t testing.TB, withSigma bool) *rules.Pack {
	t.Helper()
	var extra []rules.Definition
	if withSigma {
		sig, _, err := sigma.LoadDir(filepath.Join(shareddata.Path(t, "sigma"), "rules"))
		if err != nil {
			t.Fatal(err)
		}
		extra = sig
	}
	p, err := rules.Load(rules.Options{Extra: extra})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// fires reports whether a stateless rule would raise a finding on ev: it
// matches and no rule superseding it does.
func fires(r *rules.Rule, ev *sources.Event) bool {
	if !r.Matches(ev) {
		return false
	}
	for _, s := range r.Superseding() {
		if s.Matches(ev) {
			return false
		}
	}
	return true
}

func subset(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func set(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[id] = true
	}
	return m
}

var table = pushdown.Table{Name: "cloudtrail"}

// TestDifferentialDuckDB runs every built-in and Sigma rule both ways, as
// DuckDB SQL over the CloudTrail table and in process, over the shared
// CloudTrail data, the rules' inline test events and the labelled sets,
// and requires the same events per rule: for an exact rule the same event
// ids; for a coarse one, Where returns every event the rule fires on and
// Sure none it does not (so re-judging Where's rows in process gives the
// rule's events). A threshold rule whose counting is pushed down must find
// every event the in-process windows fire on (see thresholdFirings for
// why the SQL may find more).
func TestDifferentialDuckDB(t *testing.T) {
	pack := loadPack(t, true)
	d := newDataset()
	sharedRecords(t, d)
	ruleRecords(t, d, pack)
	start := time.Now()
	db := loadDuckDB(t, d.records)
	t.Logf("loaded %d records into DuckDB in %v", len(d.records), time.Since(start).Round(time.Millisecond))
	byID := map[string]*sources.Event{}
	for i := range d.events {
		byID[d.events[i].ID] = &d.events[i]
	}
	counts := map[pushdown.Status]int{}
	var rowsWhere, rowsFired, thresholds int
	for _, r := range pack.Rules() {
		plan := pushdown.Compile(r, pushdown.DuckDB)
		counts[plan.Status]++
		inproc := map[string]bool{}
		for i := range d.events {
			if fires(r, &d.events[i]) {
				inproc[d.events[i].ID] = true
			}
		}
		rowsFired += len(inproc)
		if plan.Where != "" {
			where := set(queryIDs(t, db, "SELECT eventid FROM cloudtrail WHERE "+plan.Where))
			rowsWhere += len(where)
			if missed := subset(inproc, where); len(missed) > 0 {
				t.Errorf("rule %s (%s): Where misses %d events the rule fires on, e.g. %s\n%s", r.ID(), plan.Status, len(missed), missed[0], plan.Where)
			}
			if plan.Status == pushdown.Exact && plan.Threshold == nil {
				if extra := subset(where, inproc); len(extra) > 0 {
					t.Errorf("rule %s is exact but Where returns %d events it does not fire on, e.g. %s\n%s", r.ID(), len(extra), extra[0], plan.Where)
				}
			}
			// The rule's own query returns the same rows.
			if !plan.ThresholdExact {
				q, _, err := pushdown.RuleQuery(r, pushdown.DuckDB, table, pushdown.Window{})
				if err != nil {
					t.Fatal(err)
				}
				if got := set(queryIDs(t, db, q)); len(subset(got, where)) > 0 || len(subset(where, got)) > 0 {
					t.Errorf("rule %s: RuleQuery returns %d rows, Where %d\n%s", r.ID(), len(got), len(where), q)
				}
			}
			// Re-judging the candidates in process gives the rule's events.
			for id := range where {
				if fires(r, byID[id]) != inproc[id] {
					t.Errorf("rule %s: re-judging %s differs", r.ID(), id)
				}
			}
		} else {
			rowsWhere += len(d.events)
		}
		if plan.Sure != "" {
			sure := set(queryIDs(t, db, "SELECT eventid FROM cloudtrail WHERE "+plan.Sure))
			if wrong := subset(sure, inproc); len(wrong) > 0 {
				t.Errorf("rule %s: Sure holds on %d events the rule does not fire on, e.g. %s\n%s", r.ID(), len(wrong), wrong[0], plan.Sure)
			}
		}
		if plan.ThresholdExact {
			thresholds++
			thresholdFirings(t, db, r, d)
		}
	}
	t.Logf("rules compared: %d (exact %d, coarse %d, not pushable %d; threshold counted in SQL: %d); records: %d; rows returned by Where summed over rules: %d, events fired on: %d",
		len(pack.Rules()), counts[pushdown.Exact], counts[pushdown.Coarse], counts[pushdown.NotPushable], thresholds, len(d.events), rowsWhere, rowsFired)
}

// thresholdFirings compares the events on which a threshold rule fires:
// in process, fed every event in time order, and in SQL, where an event
// fires when the events of its group within the window ending at its time
// reach the count. SQL counts every event with the same time as the
// anchor, the matcher only those it has seen, so SQL may fire on more
// (ties) but must fire on every event the matcher does.
func thresholdFirings(t *testing.T, db *sql.DB, r *rules.Rule, d *dataset) {
	q, _, err := pushdown.RuleQuery(r, pushdown.DuckDB, table, pushdown.Window{})
	if err != nil {
		t.Fatal(err)
	}
	inSQL := set(queryIDs(t, db, q))
	order := make([]*sources.Event, len(d.events))
	for i := range d.events {
		order[i] = &d.events[i]
	}
	sort.SliceStable(order, func(i, j int) bool { return order[i].Time.Before(order[j].Time) })
	inproc := map[string]bool{}
	for _, ev := range order {
		fs, err := r.Detect(context.Background(), ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(fs) > 0 {
			inproc[ev.ID] = true
		}
	}
	if missed := subset(inproc, inSQL); len(missed) > 0 {
		t.Errorf("threshold rule %s: SQL misses %d firing events, e.g. %s\n%s", r.ID(), len(missed), missed[0], q)
	}
	// Every event SQL alone fires on shares its second with another
	// matching event of its group: the only difference allowed.
	cte, _, ok := strings.Cut(q, "\nSELECT a.")
	if !ok {
		t.Fatalf("threshold query has no outer select:\n%s", q)
	}
	on := []string{"b.ts = a.ts", "b.event_id <> a.event_id"}
	for i := range r.ThresholdSpec().GroupBy {
		on = append(on, fmt.Sprintf("b.k%d = a.k%d", i+1, i+1))
	}
	tied := set(queryIDs(t, db, cte+"\nSELECT a.event_id FROM m a JOIN m b ON "+strings.Join(on, " AND ")))
	extra := subset(inSQL, inproc)
	if untied := subset(set(extra), tied); len(untied) > 0 {
		t.Errorf("threshold rule %s: SQL fires on %d events the matcher does not, without a tie, e.g. %s", r.ID(), len(untied), untied[0])
	}
	t.Logf("threshold rule %s: fires on %d events in process, %d in SQL (%d more, each tied in time with another event of its group)",
		r.ID(), len(inproc), len(inSQL), len(extra))
}

// TestPackQueryDuckDB runs the pack query of the built-in and Sigma rules
// over the shared CloudTrail data, as an athena poll would, and requires
// every event any rule fires on among its rows. It logs the rows returned
// against the events in the window.
func TestPackQueryDuckDB(t *testing.T) {
	pack := loadPack(t, true)
	d := newDataset()
	sharedRecords(t, d)
	db := loadDuckDB(t, d.records)
	var first, last time.Time
	for _, ev := range d.events {
		if first.IsZero() || ev.Time.Before(first) {
			first = ev.Time
		}
		if ev.Time.After(last) {
			last = ev.Time
		}
	}
	w := pushdown.Window{Start: first, End: last.Add(time.Second)}
	q, err := pushdown.Pack(pack.Rules(), pushdown.DuckDB, table, w)
	if err != nil {
		t.Fatal(err)
	}
	rows := set(queryIDs(t, db, q.SQL))
	fired := map[string]bool{}
	for i := range d.events {
		for _, r := range pack.Rules() {
			if r.Matches(&d.events[i]) {
				fired[d.events[i].ID] = true
				break
			}
		}
	}
	if missed := subset(fired, rows); len(missed) > 0 {
		t.Fatalf("the pack query misses %d events a rule matches, e.g. %s", len(missed), missed[0])
	}
	// The Athena flavour of the same query fits Athena's query limit.
	aq, err := pushdown.Pack(pack.Rules(), pushdown.Athena, table, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(aq.SQL) > 262144 {
		t.Errorf("the Athena pack query is %d bytes, more than Athena's 262,144", len(aq.SQL))
	}
	t.Logf("Athena pack query: %d bytes", len(aq.SQL))
	t.Logf("pack of %d rules (%d unfiltered: %v): %d rows returned of %d events in the window; %d events matched by a rule; query of %d characters",
		len(pack.Rules()), len(q.Unfiltered), q.Unfiltered, len(rows), len(d.events), len(fired), len(q.SQL))
}
