package athena

import (
	"context"
	"encoding/json"
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
