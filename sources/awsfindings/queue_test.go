package awsfindings

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/external"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
	"github.com/trailhound/trailhound/workflows"
)

func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }

// queueEnv is an SQS queue in moto behind a recording proxy.
type queueEnv struct {
	rec   *awstest.Recorder
	sqs   *sqs.Client
	queue string
	opts  Options
}

var queueSeq int

func newQueueEnv(t *testing.T, mod func(o *Options)) *queueEnv {
	t.Helper()
	moto := awstest.Moto(t)
	awstest.Credentials(t)
	queueSeq++
	e := &queueEnv{rec: awstest.NewRecorder(t, moto)}
	targets, err := (&awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: moto}).Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.sqs = sqs.NewFromConfig(targets[0].Config)
	q, err := e.sqs.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: sdkaws.String(fmt.Sprintf("findings-%d", queueSeq))})
	if err != nil {
		t.Fatalf("create queue: %v", err)
	}
	e.queue = *q.QueueUrl
	e.opts = Options{Options: awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: e.rec.URL, MaxAttempts: 2,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}, QueueURL: e.queue}
	if mod != nil {
		mod(&e.opts)
	}
	if err := e.opts.Validate(configs.Section{}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	return e
}

func (e *queueEnv) source(t *testing.T) *Queue {
	t.Helper()
	srcs, err := Build(context.Background(), "aws-findings", e.opts, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	q := srcs[0].(*Queue)
	q.waitSeconds = 0
	return q
}

func (e *queueEnv) send(t *testing.T, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if _, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &e.queue, MessageBody: sdkaws.String(b)}); err != nil {
			t.Fatal(err)
		}
	}
}

func (e *queueEnv) inFlight(t *testing.T) (visible, hidden string) {
	t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &e.queue,
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

var findingFixtures = []string{
	"gd-iam-console-login-success.json", "gd-iam-credential-exfiltration.json", "gd-iam-anomalous-behavior.json",
	"gd-ec2-port-probe.json", "gd-ec2-bitcoin-dns.json", "gd-ec2-c2-activity.json",
	"gd-s3-block-public-access-disabled.json", "gd-s3-exfiltration-anomalous.json",
	"gd-eks-anonymous-access.json", "gd-eks-privileged-container.json",
	"gd-runtime-new-binary.json", "gd-runtime-bitcoin-tool.json", "gd-attack-sequence-iam.json",
	"sh-fsbp-iam6.json", "sh-fsbp-s3-8.json", "sh-inspector-cve.json", "sh-macie-personal.json",
	"native-inspector2.json", "native-macie.json", "access-analyzer-public-bucket.json",
}

func harness(t *testing.T) *awstest.Harness {
	h := awstest.NewHarness(t)
	h.Extra = []detectors.Detector{external.New(), awstest.Rule(t, "aws-cloudtrail-logging-stopped")}
	return h
}

func alertRules(t *testing.T, h *awstest.Harness) []string {
	t.Helper()
	as, err := h.Alerts.List(workflows.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		if a.Finding.RuleID != h.Log.ID() {
			out = append(out, a.Finding.RuleID)
		}
	}
	sort.Strings(out)
	return out
}

// TestQueueFindingsDeletedAfterCommit: every fixture on the queue becomes
// one alert (the CloudTrail event one of the rule pack's), poison
// messages are named, and messages are deleted only once the findings and
// the checkpoint are committed.
func TestQueueFindingsDeletedAfterCommit(t *testing.T) {
	e := newQueueEnv(t, nil)
	var bodies []string
	for _, f := range append(append([]string(nil), findingFixtures...), "cloudtrail-api-call.json", "cloudtrail-console-signin.json", "sh-fsbp-s3-8-passed.json") {
		bodies = append(bodies, string(fixture(t, f)))
	}
	bodies = append(bodies, "not json at all", `{"version":"0","id":"ev-9","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}`)
	e.send(t, bodies...)
	h := harness(t)
	src := e.source(t)
	var atDelete []string
	e.rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "DeleteMessageBatch" {
			cp, _ := h.Sources.Checkpoint(src.Name())
			atDelete = append(atDelete, fmt.Sprintf("alerts=%d checkpoint=%v", len(alertRules(t, h)), cp != nil))
		}
		return 0, ""
	})
	res, err := h.Poll(src)
	if err != nil {
		t.Fatal(err)
	}
	rules := alertRules(t, h)
	if len(rules) != len(findingFixtures)+1 {
		t.Fatalf("alerts=%d %v, want %d (one per finding, one for StopLogging; the passed control opens none)", len(rules), rules, len(findingFixtures)+1)
	}
	for _, want := range []string{"guardduty/UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", "securityhub/security-control/IAM.6", "aws-cloudtrail-logging-stopped", "access-analyzer/ExternalAccess/AWS::S3::Bucket"} {
		if !contains(rules, want) {
			t.Errorf("no alert of %s in %v", want, rules)
		}
	}
	if res.MalformedCount != 2 {
		t.Fatalf("malformed=%+v, want the two poison messages", res.Malformed)
	}
	reasons := res.Malformed[0].Reason + " | " + res.Malformed[1].Reason
	if !strings.Contains(reasons, "not an EventBridge event: invalid JSON") || !strings.Contains(reasons, `unknown detail-type "EC2 Instance State-change Notification"`) {
		t.Fatalf("reasons=%s, want each naming what was wrong", reasons)
	}
	if !strings.HasPrefix(res.Malformed[0].Where, "queue message ") {
		t.Fatalf("where=%q, want the message id", res.Malformed[0].Where)
	}
	if len(atDelete) == 0 {
		t.Fatal("no messages deleted")
	}
	for _, d := range atDelete {
		if d != fmt.Sprintf("alerts=%d checkpoint=true", len(findingFixtures)+1) {
			t.Fatalf("at delete: %v, want every delete after all alerts and the checkpoint were stored", atDelete)
		}
	}
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want empty", v, hid)
	}
	if hl := h.Health(src.Name()); hl.Malformed != 2 || hl.LastSuccess.IsZero() {
		t.Fatalf("health=%+v, want 2 malformed and a success", hl)
	}
}

// TestQueueCrashBeforeCommitRedelivers: a process that reads the queue
// and dies before storing deletes nothing; after the restart the messages
// come back and each finding makes one alert.
func TestQueueCrashBeforeCommitRedelivers(t *testing.T) {
	e := newQueueEnv(t, func(o *Options) { o.VisibilityTimeout = configs.Duration(time.Second) })
	e.send(t, string(fixture(t, "gd-iam-console-login-success.json")), string(fixture(t, "sh-fsbp-iam6.json")))
	n := 0
	if _, err := e.source(t).Fetch(context.Background(), nil, sources.FuncSink{OnEvent: func(context.Context, *sources.Event) error { n++; return nil }}); err != nil || n != 2 {
		t.Fatalf("fetch read %d events (%v), want 2", n, err)
	}
	if len(e.rec.Calls("DeleteMessageBatch")) != 0 {
		t.Fatal("messages deleted without a committed poll")
	}
	h := harness(t)
	src := e.source(t)
	deadline := time.Now().Add(15 * time.Second)
	for len(alertRules(t, h)) < 2 && time.Now().Before(deadline) {
		if _, err := h.Poll(src); err != nil {
			t.Fatal(err)
		}
	}
	// The same messages delivered once more (SQS is at-least-once) make
	// nothing new.
	e.send(t, string(fixture(t, "gd-iam-console-login-success.json")))
	h.Restart()
	if _, err := h.Poll(e.source(t)); err != nil {
		t.Fatal(err)
	}
	if rules := alertRules(t, h); len(rules) != 2 {
		t.Fatalf("alerts=%v, want exactly 2", rules)
	}
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want empty", v, hid)
	}
}

// TestCloudTrailJudgedOnceAcrossSources: a CloudTrail event read from
// the queue and again from another source (S3, CloudWatch) gives one
// alert: the rule's fingerprint is rule + account + event id, whatever
// the source.
func TestCloudTrailJudgedOnceAcrossSources(t *testing.T) {
	e := newQueueEnv(t, nil)
	e.send(t, string(fixture(t, "cloudtrail-api-call.json")))
	h := harness(t)
	if _, err := h.Poll(e.source(t)); err != nil {
		t.Fatal(err)
	}
	evs, err := Parse(fixture(t, "cloudtrail-api-call.json"), "org-trail/eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	other := sourceFunc{name: "org-trail/eu-west-1", fetch: func(ctx context.Context, sink sources.Sink) error { return sink.Event(ctx, &evs[0]) }}
	res, err := h.Poll(other)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 1 || len(res.Ingest.New) != 0 || res.Ingest.Duplicates == 0 {
		t.Fatalf("second source: events=%d new=%d duplicates=%d, want the event read and its finding a duplicate", res.Events, len(res.Ingest.New), res.Ingest.Duplicates)
	}
	if rules := alertRules(t, h); len(rules) != 1 || rules[0] != "aws-cloudtrail-logging-stopped" {
		t.Fatalf("alerts=%v, want one StopLogging alert", rules)
	}
}

// TestFilter: products, type globs, accounts and the severity floor.
func TestFilter(t *testing.T) {
	evs, err := Parse(fixture(t, "gd-iam-console-login-success.json"), "q")
	if err != nil {
		t.Fatal(err)
	}
	x := evs[0].Finding
	for _, tc := range []struct {
		name      string
		f         Filter
		keep, low bool
	}{
		{"default", Filter{}, true, false},
		{"product", Filter{Products: []string{"securityhub"}}, false, false},
		{"type glob crosses /", Filter{Types: []string{"UnauthorizedAccess:*"}}, true, false},
		{"type glob misses", Filter{Types: []string{"Recon:*"}}, false, false},
		{"account", Filter{Accounts: []string{"111122223333"}}, false, false},
		{"floor", Filter{MinSeverity: "high"}, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.f.validate(configs.Section{}); err != nil {
				t.Fatal(err)
			}
			y := *x
			keep := tc.f.Keep(&y)
			if keep != tc.keep || keep && y.BelowFloor != tc.low {
				t.Fatalf("keep=%v belowFloor=%v, want %v %v", keep, y.BelowFloor, tc.keep, tc.low)
			}
		})
	}
}

// TestOptionErrors: config errors name the key and what was wrong.
func TestOptionErrors(t *testing.T) {
	base := func() Options {
		return Options{Options: awssrc.Options{Regions: []string{"eu-west-1"}}, QueueURL: "https://sqs.eu-west-1.amazonaws.com/123456789012/q"}
	}
	for _, tc := range []struct {
		name string
		mod  func(o *Options)
		want string
	}{
		{"two regions with a queue", func(o *Options) { o.Regions = append(o.Regions, "us-east-1") }, "regions: give exactly one region with queue_url"},
		{"bad queue", func(o *Options) { o.QueueURL = "sqs://nope" }, "queue_url: \"sqs://nope\" is not an SQS queue URL"},
		{"bad severity", func(o *Options) { o.Filter.MinSeverity = "urgent" }, "filter.min_severity: \"urgent\" is not a severity"},
		{"bad account", func(o *Options) { o.Filter.Accounts = []string{"12345"} }, "filter.accounts[0]: \"12345\" is not a 12-digit AWS account id"},
		{"empty type", func(o *Options) { o.Filter.Types = []string{""} }, "filter.types[0]: is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			tc.mod(&o)
			err := o.Validate(configs.Section{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want %q", err, tc.want)
			}
		})
	}
}

// sourceFunc is a source whose reading is a function.
type sourceFunc struct {
	name  string
	fetch func(ctx context.Context, sink sources.Sink) error
}

func (s sourceFunc) Name() string { return s.name }

func (s sourceFunc) Fetch(ctx context.Context, _ []byte, sink sources.Sink) ([]byte, error) {
	return []byte("{}"), s.fetch(ctx, sink)
}

// TestQueueReceiveFailsPartway: when receiving fails after some messages
// were read (AWS 5xx past the retries), those messages' findings are
// stored and the messages deleted; the poll reports the error, and the
// source's health records it.
func TestQueueReceiveFailsPartway(t *testing.T) {
	e := newQueueEnv(t, nil)
	var bodies []string
	for _, f := range findingFixtures[:12] {
		bodies = append(bodies, string(fixture(t, f)))
	}
	e.send(t, bodies...)
	receives := 0
	e.rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "ReceiveMessage" {
			if receives++; receives > 1 {
				return 500, `{"__type":"com.amazonaws.sqs#InternalError","message":"injected"}`
			}
		}
		return 0, ""
	})
	h := harness(t)
	src := e.source(t)
	res, err := h.Poll(src)
	if err == nil || !strings.Contains(err.Error(), "aws-findings: receive from queue") {
		t.Fatalf("err=%v, want the receive failure", err)
	}
	if got := len(alertRules(t, h)); got != 10 || res.Events != 10 {
		t.Fatalf("alerts=%d events=%d, want the first 10 messages' findings stored", got, res.Events)
	}
	if len(e.rec.Calls("DeleteMessageBatch")) == 0 {
		t.Fatal("the stored messages were not deleted")
	}
	if hl := h.Health(src.Name()); hl.LastError == "" || hl.Permanent {
		t.Fatalf("health=%+v, want a transient error recorded", hl)
	}
	// The next poll reads the rest.
	e.rec.Before(nil)
	if _, err := h.Poll(e.source(t)); err != nil {
		t.Fatal(err)
	}
	if got := len(alertRules(t, h)); got != 12 {
		t.Fatalf("alerts=%d, want 12", got)
	}
}
