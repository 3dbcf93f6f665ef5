package activity

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestQueryNames(t *testing.T) {
	for _, tc := range []struct {
		q           Query
		user, keyID string
	}{
		{Query{Principal: "alice"}, "alice", ""},
		{Query{Principal: "Admin/alice"}, "alice", ""},
		{Query{Principal: "arn:aws:iam::111122223333:user/dev/alice"}, "alice", ""},
		{Query{Principal: "arn:aws:sts::111122223333:assumed-role/Admin/i-0abc"}, "i-0abc", ""},
		{Query{Principal: "arn:aws:iam::111122223333:root"}, "root", ""},
		{Query{Principal: "AKIAEXAMPLEALICE"}, "AKIAEXAMPLEALICE", "AKIAEXAMPLEALICE"},
		{Query{Principal: "alice", AccessKeyID: "ASIAEXAMPLE00001"}, "alice", "ASIAEXAMPLE00001"},
	} {
		if got := tc.q.UserName(); got != tc.user {
			t.Errorf("%+v: UserName=%q, want %q", tc.q, got, tc.user)
		}
		if got := tc.q.KeyID(); got != tc.keyID {
			t.Errorf("%+v: KeyID=%q, want %q", tc.q, got, tc.keyID)
		}
	}
}

func TestMatchesAndRowOf(t *testing.T) {
	raw := `{"eventVersion":"1.08","eventTime":"2026-03-02T09:00:00Z","eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy",
"userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","accessKeyId":"ASIAEXAMPLE00001"},
"sourceIPAddress":"203.0.113.9","errorCode":"AccessDenied","requestParameters":{"roleName":"prod-deploy","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"},
"eventID":"e1","awsRegion":"eu-west-1","recipientAccountId":"111122223333"}`
	ev, err := sources.Normalize([]byte(raw), "t")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    Query
		want bool
	}{
		{Query{Principal: "Admin/alice"}, true},
		{Query{Principal: "ReadOnly/alice"}, false},
		{Query{Principal: "alice"}, true},
		{Query{Principal: "alice", ARN: "arn:aws:sts::111122223333:assumed-role/ReadOnly/alice"}, false},
		{Query{Principal: "ASIAEXAMPLE00001"}, true},
		{Query{Principal: "ASIAEXAMPLE00002"}, false},
	} {
		if got := tc.q.Matches(&ev); got != tc.want {
			t.Errorf("%+v: Matches=%v, want %v", tc.q, got, tc.want)
		}
	}
	want := Row{Time: t0, Action: "iam:AttachRolePolicy", Target: "prod-deploy", SourceIP: "203.0.113.9", Error: "AccessDenied"}
	if got := RowOf(&ev); got != want {
		t.Fatalf("RowOf=%+v, want %+v", got, want)
	}
}

func TestPick(t *testing.T) {
	var rows []Row
	for i := 9; i >= 0; i-- { // newest first, as LookupEvents pages
		rows = append(rows, Row{Time: t0.Add(time.Duration(i) * time.Minute), Target: fmt.Sprint(i)})
	}
	targets := func(rs []Row) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Target)
		}
		return strings.Join(s, ",")
	}
	for _, tc := range []struct {
		limit  int
		anchor time.Time
		want   string
	}{
		{20, t0, "0,1,2,3,4,5,6,7,8,9"},
		{3, time.Time{}, "7,8,9"},
		{3, t0.Add(5 * time.Minute), "4,5,6"},
		{4, t0, "0,1,2,3"},
		{4, t0.Add(time.Hour), "6,7,8,9"},
	} {
		if got := targets(Pick(append([]Row(nil), rows...), tc.limit, tc.anchor)); got != tc.want {
			t.Errorf("Pick(%d, %v)=%s, want %s", tc.limit, tc.anchor, got, tc.want)
		}
	}
}

type reader struct {
	s   Scope
	res Result
	err error
}

func (r reader) Scope() Scope { return r.s }
func (r reader) Activity(context.Context, Query, int) (Result, error) {
	return r.res, r.err
}

// A query without account or region asks every reader of the fastest
// engine and merges; one that fails is named, not hidden.
func TestChainFansOutAndMerges(t *testing.T) {
	row := func(min int, target string) Row {
		return Row{Time: t0.Add(time.Duration(min) * time.Minute), Target: target}
	}
	c := &Chain{Now: func() time.Time { return t0 }, Readers: []Reader{
		reader{s: Scope{Engine: "ct", Rank: RankLookupEvents, Account: "111111111111", Region: "eu-west-1"}, res: Result{Total: 2, Rows: []Row{row(1, "a"), row(3, "c")}}},
		reader{s: Scope{Engine: "ct", Rank: RankLookupEvents, Account: "111111111111", Region: "us-east-1"}, err: errors.New("denied")},
		reader{s: Scope{Engine: "ct", Rank: RankLookupEvents, Account: "222222222222", Region: "eu-west-1"}, res: Result{Total: 1, Truncated: true, Rows: []Row{row(2, "b")}}},
		reader{s: Scope{Engine: "insights", Rank: RankInsights, Region: "eu-west-1"}, res: Result{Total: 99}},
	}}
	res, err := c.Activity(context.Background(), Query{Principal: "alice", Start: t0.Add(-time.Hour), End: t0}, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.Engine != "ct" || res.Total != 3 || !res.Truncated || fmt.Sprint(res.Unread) != "[111111111111/us-east-1]" || len(res.Rows) != 3 || res.Rows[1].Target != "b" {
		t.Fatalf("merged=%+v", res)
	}
	// The alert's account and region: that reader alone.
	res, err = c.Activity(context.Background(), Query{Principal: "alice", Account: "222222222222", Region: "eu-west-1", Start: t0.Add(-time.Hour), End: t0}, 50)
	if err != nil || res.Total != 1 {
		t.Fatalf("one scope: %+v %v", res, err)
	}
	// Every reader failing is an error.
	c.Readers = c.Readers[1:2]
	if _, err := c.Activity(context.Background(), Query{Principal: "alice", Start: t0.Add(-time.Hour), End: t0}, 50); err == nil || err.Error() != "denied" {
		t.Fatalf("err=%v", err)
	}
}

// An engine that does not know its account answers for any account, and
// the answer says so.
func TestChainNotesUnknownAccount(t *testing.T) {
	c := &Chain{Now: func() time.Time { return t0 }, Readers: []Reader{reader{s: Scope{Engine: "ct", Rank: RankLookupEvents, Region: "eu-west-1"}, res: Result{}}}}
	res, err := c.Activity(context.Background(), Query{Principal: "alice", Account: "333333333333", Region: "eu-west-1", Start: t0.Add(-time.Hour), End: t0}, 50)
	if err != nil || !strings.Contains(res.Note, "if that is not 333333333333") {
		t.Fatalf("res=%+v err=%v", res, err)
	}
	c.Readers = append(c.Readers, reader{s: Scope{Engine: "ct", Rank: RankLookupEvents, Account: "333333333333", Region: "eu-west-1"}, res: Result{Total: 1}})
	if res, _ := c.Activity(context.Background(), Query{Principal: "alice", Account: "333333333333", Region: "eu-west-1", Start: t0.Add(-time.Hour), End: t0}, 50); res.Note != "" || res.Total != 1 {
		t.Fatalf("with the account configured: %+v", res)
	}
}
