package cloudtrail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/activity"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// call is one CloudTrail record of the activity tests, shaped like AWS's
// documented examples.
type call struct {
	id, arn, user, key, name, src, ip, errCode string
	at                                         time.Time
	params                                     map[string]any
	resources                                  []map[string]any
}

func (c call) record() []byte {
	identity := map[string]any{"type": "IAMUser", "arn": c.arn, "accountId": "111122223333", "accessKeyId": c.key, "userName": c.user}
	if strings.Contains(c.arn, ":assumed-role/") {
		identity = map[string]any{"type": "AssumedRole", "arn": c.arn, "accountId": "111122223333", "accessKeyId": c.key,
			"sessionContext": map[string]any{"sessionIssuer": map[string]any{"type": "Role", "userName": strings.Split(c.arn, "/")[1]}}}
	}
	r := map[string]any{
		"eventVersion": "1.08", "userIdentity": identity, "eventTime": c.at.UTC().Format(time.RFC3339),
		"eventSource": c.src, "eventName": c.name, "awsRegion": awstest.Region, "sourceIPAddress": c.ip,
		"userAgent": "aws-cli/2.13.0", "requestParameters": c.params, "eventID": c.id, "readOnly": false,
		"eventType": "AwsApiCall", "recipientAccountId": "111122223333",
	}
	if c.errCode != "" {
		r["errorCode"] = c.errCode
	}
	if c.resources != nil {
		r["resources"] = c.resources
	}
	b, _ := json.Marshal(r)
	return b
}

// addCalls stores the calls in the fake CloudTrail. LookupEvents indexes
// an assumed role's calls by session name, as the fake does by userName.
func addCalls(t *testing.T, ct *awstest.CloudTrail, calls ...call) {
	t.Helper()
	for _, c := range calls {
		raw := c.record()
		if c.user == "" {
			// The fake indexes userIdentity.userName: give it the session
			// name LookupEvents would index, outside what Normalize reads.
			var m map[string]any
			json.Unmarshal(raw, &m)
			m["userIdentity"].(map[string]any)["userName"] = c.arn[strings.LastIndexByte(c.arn, '/')+1:]
			raw, _ = json.Marshal(m)
		}
		if err := ct.Add(raw); err != nil {
			t.Fatal(err)
		}
	}
}

const aliceARN = "arn:aws:iam::111122223333:user/alice"

func TestActivityByAccessKey(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	alert := base.Add(-time.Hour)
	addCalls(t, ct,
		call{id: "a1", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "ListBuckets", src: "s3.amazonaws.com", ip: "198.51.100.23", at: alert.Add(-30 * time.Minute)},
		call{id: "a2", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "PutBucketPolicy", src: "s3.amazonaws.com", ip: "198.51.100.23", at: alert, params: map[string]any{"bucketName": "payroll"}},
		call{id: "a3", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "CreateAccessKey", src: "iam.amazonaws.com", ip: "203.0.113.9", errCode: "AccessDenied", at: alert.Add(10 * time.Minute), params: map[string]any{"userName": "admin"}},
		call{id: "a4", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "StopLogging", src: "cloudtrail.amazonaws.com", ip: "203.0.113.9", at: alert.Add(20 * time.Minute),
			resources: []map[string]any{{"ARN": "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org", "accountId": "111122223333"}}, params: map[string]any{"name": "org"}},
		// Outside the window, and another key of another user.
		call{id: "a0", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "GetUser", src: "iam.amazonaws.com", at: alert.Add(-3 * time.Hour)},
		call{id: "b1", arn: "arn:aws:iam::111122223333:user/bob", user: "bob", key: "AKIAEXAMPLEBOB00", name: "GetUser", src: "iam.amazonaws.com", at: alert},
	)
	src, _ := newSource(t, ct, 1000, nil)
	q := activity.Query{Principal: "alice", AccessKeyID: "AKIAEXAMPLEALICE", Start: alert.Add(-time.Hour), End: alert.Add(time.Hour), Anchor: alert}
	res, err := src.Activity(context.Background(), q, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := []activity.Row{
		{Time: alert.Add(-30 * time.Minute), Action: "s3:ListBuckets", SourceIP: "198.51.100.23"},
		{Time: alert, Action: "s3:PutBucketPolicy", Target: "payroll", SourceIP: "198.51.100.23"},
		{Time: alert.Add(10 * time.Minute), Action: "iam:CreateAccessKey", Target: "admin", SourceIP: "203.0.113.9", Error: "AccessDenied"},
		{Time: alert.Add(20 * time.Minute), Action: "cloudtrail:StopLogging", Target: "arn:aws:cloudtrail:eu-west-1:111122223333:trail/org", SourceIP: "203.0.113.9"},
	}
	if res.Total != 4 || res.Truncated || res.Engine != Engine || fmt.Sprint(res.Rows) != fmt.Sprint(want) {
		t.Fatalf("result=%+v\nwant rows %+v", res, want)
	}
	reqs := ct.Requests()
	if len(reqs) != 1 || fmt.Sprint(reqs[0].Attributes) != "[map[AccessKeyId:AKIAEXAMPLEALICE]]" || !reqs[0].Start.Equal(q.Start) || !reqs[0].End.Equal(q.End) {
		t.Fatalf("requests=%+v, want one by AccessKeyId over the window", reqs)
	}
}

// A session name is shared by sessions of different roles: LookupEvents
// by Username returns both, the reader keeps the alert's principal.
func TestActivityByUsernameKeepsThePrincipal(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	mine := "arn:aws:sts::111122223333:assumed-role/Admin/alice"
	other := "arn:aws:sts::111122223333:assumed-role/ReadOnly/alice"
	addCalls(t, ct,
		call{id: "m1", arn: mine, key: "ASIAEXAMPLE00001", name: "DeleteTrail", src: "cloudtrail.amazonaws.com", at: base.Add(-time.Minute), params: map[string]any{"name": "org"}},
		call{id: "o1", arn: other, key: "ASIAEXAMPLE00002", name: "DescribeTrails", src: "cloudtrail.amazonaws.com", at: base.Add(-2 * time.Minute)},
	)
	src, _ := newSource(t, ct, 1000, nil)
	res, err := src.Activity(context.Background(), activity.Query{Principal: "Admin/alice", ARN: mine, Start: base.Add(-time.Hour), End: base}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 1 || len(res.Rows) != 1 || res.Rows[0].Action != "cloudtrail:DeleteTrail" || res.Rows[0].Target != "org" {
		t.Fatalf("result=%+v, want only Admin/alice's DeleteTrail", res)
	}
	if got := fmt.Sprint(ct.Requests()[0].Attributes); got != "[map[Username:alice]]" {
		t.Fatalf("attributes=%s, want Username alice (the session name)", got)
	}
}

// A busy principal: every page is read, the total counts them all, and
// the rows kept are the run centred on the alert.
func TestActivityPagesAndKeepsRowsAroundTheAlert(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	var calls []call
	for i := range 130 {
		calls = append(calls, call{id: fmt.Sprintf("e%03d", i), arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "GetObject", src: "s3.amazonaws.com",
			at: base.Add(-time.Duration(130-i) * time.Second), params: map[string]any{"bucketName": fmt.Sprint("b", i)}})
	}
	addCalls(t, ct, calls...)
	ct.AddRaw("bad", base.Add(-time.Second), `{"userIdentity": {"userName": "alice"`)
	src, _ := newSource(t, ct, 1000, nil)
	anchor := base.Add(-65 * time.Second) // call e065
	res, err := src.Activity(context.Background(), activity.Query{Principal: "alice", Start: base.Add(-time.Hour), End: base, Anchor: anchor}, 10)
	if err != nil {
		t.Fatal(err)
	}
	if res.Total != 130 || len(res.Rows) != 10 || res.Rows[0].Target != "b60" || res.Rows[9].Target != "b69" {
		t.Fatalf("total=%d rows=%d first=%+v last=%+v, want 130 and b60..b69", res.Total, len(res.Rows), res.Rows[0], res.Rows[len(res.Rows)-1])
	}
	if pages := len(distinctTokens(ct.Requests())); pages != 3 {
		t.Fatalf("pages=%d, want 3 of 50", pages)
	}
}

func TestActivityErrors(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	addCalls(t, ct, call{id: "a1", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "GetUser", src: "iam.amazonaws.com", at: base.Add(-time.Minute)})
	src, _ := newSource(t, ct, 1000, nil)
	q := activity.Query{Principal: "alice", Start: base.Add(-time.Hour), End: base}
	// Throttling is retried by the client.
	ct.Fail(awstest.Throttled, awstest.Throttled)
	if res, err := src.Activity(context.Background(), q, 50); err != nil || res.Total != 1 {
		t.Fatalf("after throttling: res=%+v err=%v", res, err)
	}
	ct.Fail(awstest.AccessDenied)
	_, err := src.Activity(context.Background(), q, 50)
	if awssrc.ClassOf(err) != sources.ClassUnauthorized {
		t.Fatalf("access denied: err=%v class=%v", err, awssrc.ClassOf(err))
	}
	msg := activity.Describe(err)
	if !strings.Contains(msg, "cloudtrail:LookupEvents") || strings.Contains(msg, "arn:aws") {
		t.Fatalf("Describe=%q: want the permission named and no ARN", msg)
	}
}

// The chain answers with LookupEvents within its 90 days and account,
// and says so plainly otherwise.
func TestChainPicksLookupEvents(t *testing.T) {
	ct := awstest.NewCloudTrail(t)
	addCalls(t, ct, call{id: "a1", arn: aliceARN, user: "alice", key: "AKIAEXAMPLEALICE", name: "GetUser", src: "iam.amazonaws.com", at: base.Add(-time.Minute)})
	src, c := newSource(t, ct, 1000, nil)
	slow := fakeReader{activity.Scope{Engine: "slow", Rank: activity.RankAthena, Region: awstest.Region}}
	chain := &activity.Chain{Readers: []activity.Reader{slow, src}, Now: c.now}
	res, err := chain.Activity(context.Background(), activity.Query{Principal: "alice", Region: awstest.Region, Start: base.Add(-time.Hour), End: base}, 50)
	if err != nil || res.Engine != Engine || res.Total != 1 {
		t.Fatalf("res=%+v err=%v, want LookupEvents' answer", res, err)
	}
	_, err = chain.Activity(context.Background(), activity.Query{Principal: "alice", Region: "us-west-2", Start: base.Add(-time.Hour), End: base}, 50)
	var nc *activity.NotCoveredError
	if !errors.As(err, &nc) || !strings.Contains(activity.Describe(err), "region us-west-2") {
		t.Fatalf("other region: err=%v", err)
	}
	old := activity.Query{Principal: "alice", Region: awstest.Region, Start: base.Add(-100 * 24 * time.Hour), End: base.Add(-99 * 24 * time.Hour)}
	if res, err := chain.Activity(context.Background(), old, 50); err != nil || res.Engine != "slow" {
		t.Fatalf("100 days ago: res=%+v err=%v, want the engine without retention", res, err)
	}
	if _, err := (&activity.Chain{}).Activity(context.Background(), old, 50); !errors.Is(err, activity.ErrNoEngine) {
		t.Fatalf("no engine: err=%v", err)
	}
}

type fakeReader struct{ s activity.Scope }

func (f fakeReader) Scope() activity.Scope { return f.s }
func (f fakeReader) Activity(context.Context, activity.Query, int) (activity.Result, error) {
	return activity.Result{Engine: f.s.Engine}, nil
}
