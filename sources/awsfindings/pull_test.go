package awsfindings

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/securityhub"
	shtypes "github.com/aws/aws-sdk-go-v2/service/securityhub/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// fakeHub speaks Security Hub's REST-JSON GetFindings (POST /findings):
// it serves its findings two per page, answers the first request with
// the 429 TooManyRequestsException AWS sends when throttling, and
// records each request's filters.
type fakeHub struct {
	mu       sync.Mutex
	findings []json.RawMessage
	requests []map[string]json.RawMessage
	throttle int
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/findings" {
		http.Error(w, `{"Code":"InvalidAccessException","Message":"unexpected "}`, http.StatusNotFound)
		return
	}
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.throttle > 0 {
		h.throttle--
		w.Header().Set("X-Amzn-Errortype", "TooManyRequestsException")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"Code":"TooManyRequestsException","Message":"Rate exceeded"}`)
		return
	}
	var in map[string]json.RawMessage
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, `{"Code":"InvalidInputException","Message":"bad json"}`, http.StatusBadRequest)
		return
	}
	h.requests = append(h.requests, in)
	start := 0
	if tok, ok := in["NextToken"]; ok {
		var s string
		json.Unmarshal(tok, &s)
		fmt.Sscanf(s, "page-%d", &start)
	}
	end := min(start+2, len(h.findings))
	out := map[string]any{"Findings": h.findings[start:end]}
	if end < len(h.findings) {
		out["NextToken"] = fmt.Sprintf("page-%d", end)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(out)
}

func asffOf(t *testing.T, file string) json.RawMessage {
	t.Helper()
	var env struct {
		Detail struct {
			Findings []json.RawMessage `json:"findings"`
		} `json:"detail"`
	}
	if err := json.Unmarshal(fixture(t, file), &env); err != nil {
		t.Fatal(err)
	}
	return env.Detail.Findings[0]
}

func pullSource(t *testing.T, endpoint string, mod func(o *Options)) *Pull {
	t.Helper()
	awstest.Credentials(t)
	o := Options{Options: awssrc.Options{Regions: []string{"us-east-1"}, EndpointURL: endpoint, MaxAttempts: 3,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}}
	if mod != nil {
		mod(&o)
	}
	srcs, err := Build(context.Background(), "hub", o, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	return srcs[0].(*Pull)
}

// TestPullPagesFiltersAndRanges: pull mode asks for active findings with
// workflow NEW or NOTIFIED, at or above the floor, of the products and
// the window, pages through every finding once despite throttling, and
// a scan --since reads the range it is given.
func TestPullPagesFiltersAndRanges(t *testing.T) {
	hub := &fakeHub{throttle: 1}
	for _, f := range []string{"sh-fsbp-iam6.json", "sh-fsbp-s3-8.json", "sh-inspector-cve.json", "sh-macie-personal.json", "sh-guardduty-console-login.json"} {
		hub.findings = append(hub.findings, asffOf(t, f))
	}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	p := pullSource(t, srv.URL, func(o *Options) {
		o.Filter = Filter{Products: []string{"securityhub", "guardduty"}, MinSeverity: "medium"}
	})
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	p.Now = func() time.Time { return now }
	var got []string
	sink := sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error {
		got = append(got, ev.Finding.Product+"/"+ev.Finding.Type)
		return nil
	}}
	cp, err := p.Fetch(context.Background(), nil, sink)
	if err != nil {
		t.Fatal(err)
	}
	// The fake ignores filters: the source's own filter drops the
	// inspector and macie findings the products exclude.
	want := "[securityhub/security-control/IAM.6 securityhub/security-control/S3.8 guardduty/UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B]"
	if fmt.Sprint(got) != want {
		t.Fatalf("findings=%v, want %s", got, want)
	}
	if len(hub.requests) != 3 {
		t.Fatalf("requests=%d, want 3 pages", len(hub.requests))
	}
	var f shtypes.AwsSecurityFindingFilters
	if err := json.Unmarshal(hub.requests[0]["Filters"], &f); err != nil {
		t.Fatal(err)
	}
	check := func(what string, fs []shtypes.StringFilter, want string) {
		t.Helper()
		var vs []string
		for _, x := range fs {
			vs = append(vs, string(x.Comparison)+" "+sdkaws.ToString(x.Value))
		}
		if fmt.Sprint(vs) != want {
			t.Errorf("%s=%v, want %s", what, vs, want)
		}
	}
	check("RecordState", f.RecordState, "[EQUALS ACTIVE]")
	check("WorkflowStatus", f.WorkflowStatus, "[EQUALS NEW EQUALS NOTIFIED]")
	check("SeverityLabel", f.SeverityLabel, "[EQUALS MEDIUM EQUALS HIGH EQUALS CRITICAL]")
	check("ProductName", f.ProductName, "[EQUALS Security Hub EQUALS Security Hub CSPM EQUALS GuardDuty]")
	if len(f.UpdatedAt) != 1 || sdkaws.ToString(f.UpdatedAt[0].Start) != "2026-12-06T11:00:00Z" || sdkaws.ToString(f.UpdatedAt[0].End) != "2026-12-06T12:00:00Z" {
		t.Errorf("UpdatedAt=%+v, want the first poll's hour", f.UpdatedAt)
	}
	// The next poll starts at the previous end less the lag.
	now = now.Add(10 * time.Minute)
	hub.requests = nil
	if _, err := p.Fetch(context.Background(), cp, sources.FuncSink{}); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(hub.requests[0]["Filters"], &f)
	if sdkaws.ToString(f.UpdatedAt[0].Start) != "2026-12-06T11:45:00Z" {
		t.Errorf("second poll start=%s, want 11:45 (12:00 less 15m lag)", sdkaws.ToString(f.UpdatedAt[0].Start))
	}
	// scan --since: the window given.
	hub.requests = nil
	w := sources.Window{Start: now.Add(-72 * time.Hour), End: now}
	if _, err := sources.InWindow(p, w).Fetch(context.Background(), nil, sources.FuncSink{}); err != nil {
		t.Fatal(err)
	}
	json.Unmarshal(hub.requests[0]["Filters"], &f)
	if sdkaws.ToString(f.UpdatedAt[0].Start) != "2026-12-03T12:10:00Z" {
		t.Errorf("range start=%s, want 2026-12-03T12:10:00Z", sdkaws.ToString(f.UpdatedAt[0].Start))
	}
}

// TestPullAgainstMoto: findings imported into moto's Security Hub with
// BatchImportFindings come back through GetFindings as the same
// normalised findings (moto ignores GetFindings filters; the fake above
// checks them).
func TestPullAgainstMoto(t *testing.T) {
	moto := awstest.Moto(t)
	p := pullSource(t, moto, nil)
	targets, err := (&awssrc.Options{Regions: []string{"us-east-1"}, EndpointURL: moto}).Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	hub := securityhub.NewFromConfig(targets[0].Config)
	raw := asffOf(t, "sh-fsbp-iam6.json")
	var f shtypes.AwsSecurityFinding
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	out, err := hub.BatchImportFindings(context.Background(), &securityhub.BatchImportFindingsInput{Findings: []shtypes.AwsSecurityFinding{f}})
	if err != nil {
		t.Skipf("moto %s: BatchImportFindings: %v", moto, err)
	}
	if out.FailedCount != nil && *out.FailedCount != 0 {
		t.Fatalf("import failed: %+v", out.FailedFindings)
	}
	want, err := ASFF(raw)
	if err != nil {
		t.Fatal(err)
	}
	var got []*sources.AWSFinding
	err = p.FetchRange(context.Background(), sources.Window{}, sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error {
		got = append(got, ev.Finding)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("got %d findings, want 1", len(got))
	}
	g := got[0]
	if g.ID != want.ID || g.Type != want.Type || g.Severity != want.Severity || g.Recommendation != want.Recommendation || g.ConsoleURL != want.ConsoleURL {
		t.Fatalf("pulled %+v\nwant %+v", g, want)
	}
	// The same finding read from the queue or pulled hashes alike, so a
	// pull after EventBridge delivery is an echo, not an update.
	if g.ContentHash != want.ContentHash {
		t.Errorf("content hash pulled=%s, from EventBridge=%s", g.ContentHash, want.ContentHash)
	}
}

// TestPullFansOutOverAccountsAndRegions: without a queue, one puller per
// account (through its role) and region, named like every AWS source.
func TestPullFansOutOverAccountsAndRegions(t *testing.T) {
	awstest.Credentials(t)
	o := Options{Options: awssrc.Options{Regions: []string{"eu-west-1", "us-east-1"}, Accounts: []awssrc.Account{
		{ID: "111122223333", RoleARN: "arn:aws:iam::111122223333:role/trailhound-reader"},
		{ID: "444455556666", RoleARN: "arn:aws:iam::444455556666:role/trailhound-reader"},
	}}}
	srcs, err := Build(context.Background(), "hub", o, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range srcs {
		if _, ok := s.(*Pull); !ok {
			t.Fatalf("%s is a %T, want a puller", s.Name(), s)
		}
		names = append(names, s.Name())
	}
	if got := fmt.Sprint(names); got != "[hub/111122223333/eu-west-1 hub/111122223333/us-east-1 hub/444455556666/eu-west-1 hub/444455556666/us-east-1]" {
		t.Fatalf("sources=%s", got)
	}
}
