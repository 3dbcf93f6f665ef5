// Package activitytest answers activity lookups for the chat adapters'
// tests the way production does: cloudtrail.Source's real SDK client
// calls LookupEvents on an httptest server speaking CloudTrail's JSON 1.1
// protocol (sources/internal/awstest), behind an activity.Chain.
package activitytest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/sources/activity"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/cloudtrail"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

// CloudTrail is a fake CloudTrail holding the calls a test adds.
type CloudTrail struct {
	// Chain answers lookups through LookupEvents on the fake.
	Chain *activity.Chain
	fake  *awstest.CloudTrail
}

// NewCloudTrail starts a fake CloudTrail for one region; now is the clock
// that decides what LookupEvents' 90 days cover.
func NewCloudTrail(t *testing.T, region string, now func() time.Time) *CloudTrail {
	t.Helper()
	fake := awstest.NewCloudTrail(t)
	awstest.Credentials(t)
	opts := cloudtrail.Options{Options: awssrc.Options{Regions: []string{region}, EndpointURL: fake.URL, MaxAttempts: 3,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}}
	if err := opts.Validate(configs.Section{}); err != nil {
		t.Fatalf("activitytest: %v", err)
	}
	targets, err := opts.Targets(context.Background())
	if err != nil {
		t.Fatalf("activitytest: %v", err)
	}
	src := cloudtrail.New("ct/"+region, targets[0], opts)
	src.Now = now
	return &CloudTrail{Chain: &activity.Chain{Readers: []activity.Reader{src}, Now: now}, fake: fake}
}

// Call is one API call of a principal, stored as a CloudTrail record
// shaped like AWS's documented examples.
type Call struct {
	ID       string
	Time     time.Time
	User     string // userName (IAM user)
	ARN      string
	Service  string // eventSource, "s3.amazonaws.com"
	Name     string // eventName
	SourceIP string
	Error    string
	Params   map[string]any
}

// Add stores calls.
func (c *CloudTrail) Add(t testing.TB, calls ...Call) {
	t.Helper()
	for _, k := range calls {
		r := map[string]any{
			"eventVersion": "1.08",
			"userIdentity": map[string]any{"type": "IAMUser", "arn": k.ARN, "userName": k.User, "accountId": "111122223333"},
			"eventTime":    k.Time.UTC().Format(time.RFC3339), "eventSource": k.Service, "eventName": k.Name,
			"sourceIPAddress": k.SourceIP, "userAgent": "aws-cli/2.13.0", "requestParameters": k.Params, "eventID": k.ID,
			"readOnly": false, "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
		}
		if k.Error != "" {
			r["errorCode"] = k.Error
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.fake.Add(b); err != nil {
			t.Fatal(err)
		}
	}
}

// Lookups returns how many LookupEvents requests the fake received.
func (c *CloudTrail) Lookups() int { return len(c.fake.Requests()) }

// Reader answers activity lookups; *activity.Chain is one.
type Reader interface {
	Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error)
}

// Gated holds every lookup until Gate is closed, so a test can see what
// a chat adapter shows before the answer.
type Gated struct {
	R    Reader
	Gate chan struct{}
}

// Activity implements Reader: it waits for Gate (or ctx), then asks R.
func (g Gated) Activity(ctx context.Context, q activity.Query, limit int) (activity.Result, error) {
	select {
	case <-g.Gate:
	case <-ctx.Done():
		return activity.Result{}, ctx.Err()
	}
	return g.R.Activity(ctx, q, limit)
}
