package cloudwatch

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources/activity"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// TestActivityThroughInsights reads a principal's calls from a trail's
// log group with Logs Insights (StartQuery against moto): the query
// filters on the principal server-side, every record is checked again
// (moto ignores the filter), plain log lines are no calls, and the rows
// are the principal's only, oldest first.
func TestActivityThroughInsights(t *testing.T) {
	tp := testPrefix()
	moto := awstest.Moto(t)
	rec := awstest.NewRecorder(t, moto)
	now := time.Now().UTC().Truncate(time.Second)
	trail, vpc := tp+"/activity/cloudtrail", tp+"/activity/vpc-flow"
	o := options(t, rec.URL, func(o *Options) { o.LogGroups = []string{trail, vpc} })
	record := func(id, user string, at time.Time, name, bucket string) string {
		b, _ := json.Marshal(map[string]any{"eventVersion": "1.08", "eventID": id, "eventTime": at.Format(time.RFC3339),
			"eventSource": "s3.amazonaws.com", "eventName": name, "sourceIPAddress": "198.51.100.23", "awsRegion": awstest.Region,
			"userIdentity":      map[string]any{"type": "IAMUser", "userName": user, "arn": "arn:aws:iam::111122223333:user/" + user},
			"requestParameters": map[string]any{"bucketName": bucket}, "recipientAccountId": "111122223333"})
		return string(b)
	}
	at := []time.Time{now.Add(-40 * time.Minute), now.Add(-30 * time.Minute), now.Add(-20 * time.Minute), now.Add(-10 * time.Minute)}
	seed(t, target(t, o), trail, "111122223333_CloudTrail_eu-west-1", at, []string{
		record("a1", "alice", at[0], "ListBuckets", ""),
		record("b1", "bob", at[1], "GetObject", "other"),
		record("a2", "alice", at[2], "PutBucketPolicy", "payroll"),
		`{"truncated": `,
	})
	lines, lat := flowLines(3, now.Add(-5*time.Minute))
	seed(t, target(t, o), vpc, "eni-0a1b2c3d-all", lat, lines)
	srcs, _ := build(t, o, now)
	src := srcs[0]
	src.queryPoll = 5 * time.Millisecond
	res, err := src.Activity(context.Background(), activity.Query{Principal: "alice", Start: now.Add(-time.Hour), End: now}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.Engine != Engine || res.Total != 2 || len(res.Rows) != 2 || res.Rows[0].Action != "s3:ListBuckets" || res.Rows[1].Target != "payroll" {
		t.Fatalf("result=%+v", res)
	}
	calls := rec.Calls("StartQuery")
	if len(calls) != 2 || !strings.Contains(string(calls[0].Body), `filter userIdentity.userName = \"alice\"`) {
		t.Fatalf("StartQuery calls=%d body=%s", len(calls), calls[0].Body)
	}
	if s := src.Scope(); s.Rank != activity.RankInsights || s.Region != awstest.Region {
		t.Fatalf("scope=%+v", s)
	}
	// A principal that cannot be quoted is refused before any query.
	if _, err := src.Activity(context.Background(), activity.Query{Principal: `a" or 1=1`, Start: now.Add(-time.Hour), End: now}, 50); err == nil {
		t.Fatal("a quote in the principal reached the query")
	}
}
