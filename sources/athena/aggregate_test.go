package athena

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena/athenatest"
)

// TestAggregates: one aggregate query counts every event of the window in
// fewer rows, each row's representative event carrying the principal,
// address, client and API of the events it counts.
func TestAggregates(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "")
	s.Now = func() time.Time { return time.Date(2023, 7, 11, 0, 0, 0, 0, time.UTC) }
	w := sources.Window{Start: time.Date(2023, 7, 10, 0, 0, 0, 0, time.UTC)}
	byKey := map[string]int{}
	for _, r := range recs {
		ev, err := sources.Normalize(r, "ath")
		if err != nil {
			t.Fatal(err)
		}
		byKey[ev.Principal.ARN+" "+ev.Action+" "+ev.SourceIP+" "+ev.Time.Truncate(time.Hour).String()]++
	}
	got := map[string]int{}
	total, rows := 0, 0
	st, err := s.Aggregates(context.Background(), w, func(ag Aggregate) error {
		rows++
		total += ag.Count
		ev := ag.Event
		if !strings.HasPrefix(ev.ID, "athena-aggregate-") || ev.Time.IsZero() || ag.Last.Before(ev.Time) || ev.Source != "ath" {
			t.Errorf("aggregate %+v", ag)
		}
		got[ev.Principal.ARN+" "+ev.Action+" "+ev.SourceIP+" "+ev.Time.Truncate(time.Hour).String()] += ag.Count
		return nil
	}, func(m sources.Malformed) { t.Errorf("malformed: %s", m) })
	if err != nil {
		t.Fatal(err)
	}
	if total != len(recs) || rows == 0 {
		t.Fatalf("rows=%d counting %d events, want %d", rows, total, len(recs))
	}
	for k, n := range byKey {
		if got[k] != n {
			t.Errorf("%s: counted %d, want %d", k, got[k], n)
		}
	}
	if st.BytesScanned != fake.PartitionBytes("2023/07/10", "2023/07/12") {
		t.Errorf("scanned=%d", st.BytesScanned)
	}
	q := fake.Queries()[0]
	for _, want := range []string{"GROUP BY 1, 2, 3", "count(*) AS n", "date_trunc('hour', from_iso8601_timestamp(eventtime)) AS hour", "ORDER BY hour, first"} {
		if !strings.Contains(q, want) {
			t.Errorf("query lacks %q:\n%s", want, q)
		}
	}
}

// TestAggregateRowErrors: a row that cannot be read is named, not used.
func TestAggregateRowErrors(t *testing.T) {
	s := &Source{name: "ath"}
	str := func(v string) *string { return &v }
	base := func() map[string]*string {
		return map[string]*string{"eventname": str("ListBuckets"), "n": str("3"), "first": str("2023-07-10T11:00:01Z"), "last": str("2023-07-10T11:59:00Z")}
	}
	for _, tc := range []struct {
		name, col, val, says string
	}{
		{"bad count", "n", "many", `count "many" is not a positive number`},
		{"zero count", "n", "0", `count "0" is not a positive number`},
		{"bad first", "first", "yesterday", `first event time "yesterday"`},
		{"last before first", "last", "2023-07-10T10:00:00Z", "is before the first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			row := base()
			row[tc.col] = str(tc.val)
			_, err := s.aggregate(row)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err=%v, want %q", err, tc.says)
			}
		})
	}
	ag, err := s.aggregate(base())
	if err != nil || ag.Count != 3 || ag.Event.Action != "ListBuckets" {
		b, _ := json.Marshal(ag)
		t.Fatalf("aggregate=%s err=%v", b, err)
	}
}

// TestFetchCounting: with counting on, a poll runs the events query with
// the pushed-down condition, its events marked Counted, then one
// aggregate query over the window from the start of its first hour,
// whose groups come as events with a Tally counting every event of the
// window, each naming a real event as its sample. The next poll, reading
// the overlap again, names the groups of the shared hour by the same keys.
func TestFetchCounting(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "initial_lookback: 3h\nlag: 15m\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 11, 50, 0, 0, time.UTC) }
	s.SetCondition(EventNameCondition([]string{"ListUsers", "GetAccountAuthorizationDetails", "CreateRole"}))
	s.SetCounting(true)
	ids := map[string]bool{}
	inWindow := 0
	for _, r := range recs {
		ev, err := sources.Normalize(r, "ath")
		if err != nil {
			t.Fatal(err)
		}
		ids[ev.ID] = true
		if ev.Time.Before(s.Now()) {
			inWindow++
		}
	}
	var c collect
	cp, err := s.Fetch(context.Background(), nil, c.sink())
	if err != nil {
		t.Fatal(err)
	}
	if len(c.malformed) != 0 {
		t.Fatalf("malformed: %v", c.malformed)
	}
	ruled, groups, counted := 0, 0, 0
	keys := map[string]bool{}
	for _, ev := range c.events {
		switch {
		case ev.Tally == nil:
			ruled++
			if !ev.Counted || !strings.Contains("ListUsers GetAccountAuthorizationDetails CreateRole", ev.Action) {
				t.Errorf("events-query event %s %s counted=%v, want a named call marked Counted", ev.ID, ev.Action, ev.Counted)
			}
		default:
			groups++
			tl := ev.Tally
			counted += tl.Count
			keys[tl.Key] = true
			if ev.Counted || ev.ID != tl.Key+"/"+strconv.Itoa(tl.Count) || !ids[tl.Sample] || tl.Last.Before(ev.Time) {
				t.Errorf("tally event id=%s counted=%v tally=%+v", ev.ID, ev.Counted, *tl)
			}
		}
	}
	if ruled == 0 || counted != inWindow || inWindow == len(recs) {
		t.Fatalf("%d rows of the events query, groups counting %d events, want some and %d (of %d)", ruled, counted, inWindow, len(recs))
	}
	qs := fake.Queries()
	if len(qs) != 2 || !strings.Contains(qs[1], "min_by(eventid, eventtime) AS sample") || !strings.Contains(qs[1], "eventtime >= '2023-07-10T08:00:00Z'") {
		t.Fatalf("queries=%d, aggregate query:\n%s", len(qs), qs[len(qs)-1])
	}
	if len(c.scanned) != 2 {
		t.Errorf("scanned=%v, want two queries", c.scanned)
	}
	t.Logf("window of %d events: %d rows with aggregates (%d events-query rows + %d groups); without, every one of the %d events", inWindow, ruled+groups, ruled, groups, inWindow)

	// The next poll reads back from 11:35, and counts from 11:00: the
	// groups of 11:00 again, some grown.
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 12, 10, 0, 0, time.UTC) }
	var c2 collect
	if _, err := s.Fetch(context.Background(), cp, c2.sink()); err != nil {
		t.Fatal(err)
	}
	if q := fake.Queries()[3]; !strings.Contains(q, "eventtime >= '2023-07-10T11:00:00Z'") {
		t.Fatalf("second aggregate query:\n%s", q)
	}
	again, total := 0, 0
	for _, ev := range c2.events {
		if ev.Tally == nil {
			continue
		}
		total += ev.Tally.Count
		if keys[ev.Tally.Key] {
			again++
		}
	}
	if again == 0 || total != len(recs) {
		t.Fatalf("second poll: %d groups known by their keys, counting %d events, want some and %d", again, total, len(recs))
	}
}

// TestCountingRows measures the rows a poll reads with counting on: an
// automation role's 720 calls of two hours and the 60 calls of the
// bundled subset, with the rules pushed down to three event names. Off,
// an anomaly detector would need every one of the 780 rows.
func TestCountingRows(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	var tmpl map[string]any
	if err := json.Unmarshal(recs[0], &tmpl); err != nil {
		t.Fatal(err)
	}
	start := time.Date(2023, 7, 10, 10, 0, 0, 0, time.UTC)
	for i := 0; i < 720; i++ {
		tmpl["eventTime"] = start.Add(time.Duration(i) * 10 * time.Second).Format(time.RFC3339)
		tmpl["eventID"] = "busy-" + strconv.Itoa(i)
		tmpl["eventName"] = "DescribeInstances"
		b, _ := json.Marshal(tmpl)
		recs = append(recs, b)
	}
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "initial_lookback: 3h\n")
	s.Now = func() time.Time { return time.Date(2023, 7, 10, 13, 0, 0, 0, time.UTC) }
	s.SetCondition(EventNameCondition([]string{"ListUsers", "GetAccountAuthorizationDetails", "CreateRole"}))
	s.SetCounting(true)
	var c collect
	if _, err := s.Fetch(context.Background(), nil, c.sink()); err != nil {
		t.Fatal(err)
	}
	ruled, groups, counted := 0, 0, 0
	for _, ev := range c.events {
		if ev.Tally == nil {
			ruled++
		} else {
			groups++
			counted += ev.Tally.Count
		}
	}
	if counted != len(recs) || ruled+groups >= len(recs)/5 {
		t.Fatalf("%d rows (%d events-query rows, %d groups counting %d events) for %d events", ruled+groups, ruled, groups, counted, len(recs))
	}
	t.Logf("window of %d events: %d rows with aggregates (%d events-query rows + %d groups); without, %d rows", len(recs), ruled+groups, ruled, groups, len(recs))
}
