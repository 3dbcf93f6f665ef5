package athena

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
	"github.com/trailhound/trailhound/sources/athena/athenatest"
)

// TestActivityThroughAthena reads one principal's calls from the table:
// the query's condition names the principal, account and region; the
// rows the fake returns for the whole window are checked again, so only
// the principal's are shown, oldest first.
func TestActivityThroughAthena(t *testing.T) {
	fake := athenatest.New(t)
	recs := subset(t)
	fake.Add(t, recs...)
	s := newSource(t, fake.URL, "")
	// Whose calls the subset holds: take the principal of its first
	// record with an ARN.
	var who sources.Event
	want := 0
	for _, raw := range recs {
		ev, err := sources.Normalize(raw, "ath")
		if err != nil {
			t.Fatal(err)
		}
		if who.Principal.ARN == "" && ev.Principal.ARN != "" {
			who = ev
		}
	}
	for _, raw := range recs {
		ev, _ := sources.Normalize(raw, "ath")
		if ev.Principal.ARN == who.Principal.ARN {
			want++
		}
	}
	q := activity.Query{Principal: who.Principal.Name, ARN: who.Principal.ARN, Account: who.Account, Region: who.Region,
		Start: who.Time.Add(-24 * time.Hour), End: who.Time.Add(24 * time.Hour), Anchor: who.Time}
	s.Now = func() time.Time { return q.End.Add(time.Hour) }
	res, err := s.Activity(context.Background(), q, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.Engine != Engine || res.Total != want || want == 0 || len(res.Rows) != min(want, 50) {
		t.Fatalf("total=%d rows=%d, want %d", res.Total, len(res.Rows), want)
	}
	queries := fake.Queries()
	if len(queries) != 1 || !strings.Contains(queries[0], "useridentity.arn = '"+who.Principal.ARN+"'") ||
		!strings.Contains(queries[0], "recipientaccountid = '"+who.Account+"'") {
		t.Fatalf("query=%v", queries)
	}
	if sc := s.Scope(); sc.Rank != activity.RankAthena || sc.Retention != 0 {
		t.Fatalf("scope=%+v", sc)
	}
}
