package s3

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	sdkaws "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/internal/awstest"
)

func TestMain(m *testing.M) { os.Exit(awstest.MotoMain(m)) }

// env is a bucket, optionally notifying a queue, in moto behind a
// recording proxy.
type env struct {
	rec    *awstest.Recorder
	opts   Options
	s3     *s3.Client
	sqs    *sqs.Client
	queue  string
	bucket string
}

var seq int

func newEnv(t *testing.T, withQueue bool, mod func(o *Options)) *env {
	t.Helper()
	moto := awstest.Moto(t)
	awstest.Credentials(t)
	seq++
	e := &env{rec: awstest.NewRecorder(t, moto), bucket: fmt.Sprintf("trail-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:min(20, len(t.Name()))], seq)}
	e.bucket = strings.Trim(strings.ReplaceAll(e.bucket, "_", "-"), "-")
	o := Options{Options: awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: e.rec.URL, MaxAttempts: 2,
		MaxBackoff: configs.Duration(5 * time.Millisecond), RequestsPerSecond: 1000}, Bucket: e.bucket}
	cfgs, err := (&awssrc.Options{Regions: []string{awstest.Region}, EndpointURL: moto}).Targets(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.s3 = s3.NewFromConfig(cfgs[0].Config, func(o *s3.Options) { o.UsePathStyle = true })
	e.sqs = sqs.NewFromConfig(cfgs[0].Config)
	ctx := context.Background()
	if _, err := e.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &e.bucket,
		CreateBucketConfiguration: &s3types.CreateBucketConfiguration{LocationConstraint: s3types.BucketLocationConstraint(awstest.Region)}}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	if withQueue {
		q, err := e.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: sdkaws.String(e.bucket + "-q")})
		if err != nil {
			t.Fatalf("create queue: %v", err)
		}
		e.queue = *q.QueueUrl
		arn := fmt.Sprintf("arn:aws:sqs:%s:123456789012:%s-q", awstest.Region, e.bucket)
		if _, err := e.s3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{Bucket: &e.bucket,
			NotificationConfiguration: &s3types.NotificationConfiguration{QueueConfigurations: []s3types.QueueConfiguration{
				{QueueArn: &arn, Events: []s3types.Event{"s3:ObjectCreated:*"}}}}}); err != nil {
			t.Fatalf("put notification: %v", err)
		}
		o.QueueURL = e.queue
	}
	if mod != nil {
		mod(&o)
	}
	if err := o.Validate(configs.Section{}); err != nil {
		t.Fatalf("validate: %v", err)
	}
	e.opts = o
	return e
}

func (e *env) source(t *testing.T, now time.Time) *Source {
	t.Helper()
	srcs, err := Build(context.Background(), "org-trail", e.opts, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	s := srcs[0].(*Source)
	s.waitSeconds = 0
	s.Now = func() time.Time { return now }
	return s
}

// put uploads a CloudTrail delivery file holding records with the ids,
// gzip-compressed when the key ends in .gz, and returns the ids.
func (e *env) put(t *testing.T, key string, at time.Time, root bool, ids ...string) []string {
	t.Helper()
	var recs []json.RawMessage
	for i, id := range ids {
		recs = append(recs, awstest.Record(id, at.Add(time.Duration(i)*time.Second), "CreateUser", root))
	}
	body, _ := json.Marshal(map[string]any{"Records": recs})
	if strings.HasSuffix(key, ".gz") {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	if _, err := e.s3.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return ids
}

// inFlight returns the queue's visible and in-flight message counts.
func (e *env) inFlight(t *testing.T) (visible, hidden string) {
	t.Helper()
	out, err := e.sqs.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: &e.queue,
		AttributeNames: []sqstypes.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes["ApproximateNumberOfMessages"], out.Attributes["ApproximateNumberOfMessagesNotVisible"]
}

func key(day string, n int) string {
	return fmt.Sprintf("AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/%s/111122223333_CloudTrail_eu-west-1_%sT1200Z_%04d.json.gz", day, strings.ReplaceAll(day, "/", ""), n)
}

const prefix = "AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/"

func TestQueueReadsObjectsDeletesAfterCommit(t *testing.T) {
	e := newEnv(t, true, func(o *Options) { o.Prefixes = []string{prefix} })
	now := time.Now().UTC()
	var want []string
	want = append(want, e.put(t, key("2026/01/10", 1), now.Add(-10*time.Minute), true, "a1", "a2")...)
	want = append(want, e.put(t, strings.TrimSuffix(key("2026/01/10", 2), ".gz"), now.Add(-9*time.Minute), false, "b1", "b2", "b3")...)
	e.put(t, "AWSLogs/o-abc123/111122223333/CloudTrail-Digest/eu-west-1/2026/01/10/digest.json.gz", now, false, "digest")
	e.put(t, "elsewhere/other.json", now, false, "other")

	h := awstest.NewHarness(t)
	h.Extra = []detectors.Detector{awstest.Rule(t, "aws-root-account-use")}
	src := e.source(t, now)
	// When the messages are deleted, the findings and the checkpoint
	// must already be committed.
	var atDelete []string
	e.rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "DeleteMessageBatch" {
			n := len(h.StoredEventIDs())
			cp, _ := h.Sources.Checkpoint(src.Name())
			atDelete = append(atDelete, fmt.Sprintf("stored=%d checkpoint=%v", n, cp != nil))
		}
		return 0, ""
	})
	res, err := h.Poll(src)
	if err != nil {
		t.Fatal(err)
	}
	h.ExactlyOnce(want)
	root := 0
	for _, f := range res.Findings {
		if f.RuleID == "aws-root-account-use" {
			root++
		}
	}
	if root != 2 {
		t.Fatalf("root findings=%d, want 2 from the first file", root)
	}
	if len(atDelete) == 0 {
		t.Fatal("no messages deleted")
	}
	for _, d := range atDelete {
		if d != "stored=5 checkpoint=true" {
			t.Fatalf("at delete: %v, want every delete after the 5 findings and checkpoint were stored", atDelete)
		}
	}
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want empty (test event, 2 files, digest, other)", v, hid)
	}
	if n := len(e.rec.Calls("GET /" + e.bucket + "/" + key("2026/01/10", 1))); n == 0 {
		t.Fatal("first file never read")
	}
	for _, c := range e.rec.Calls("") {
		if strings.Contains(c.Op, "Digest") || strings.Contains(c.Op, "elsewhere") {
			t.Fatalf("read %s, want digests and other prefixes skipped", c.Op)
		}
	}
}

func TestCrashBeforeCommitRedelivers(t *testing.T) {
	e := newEnv(t, true, func(o *Options) { o.VisibilityTimeout = configs.Duration(time.Second) })
	now := time.Now().UTC()
	want := e.put(t, key("2026/01/10", 1), now, false, "c1", "c2")
	src := e.source(t, now)
	// The process reads the queue and dies before storing anything.
	n := 0
	if _, err := src.Fetch(context.Background(), nil, sources.FuncSink{OnEvent: func(context.Context, *sources.Event) error { n++; return nil }}); err != nil || n != 2 {
		t.Fatalf("fetch read %d events (%v), want 2", n, err)
	}
	if len(e.rec.Calls("DeleteMessageBatch")) != 0 {
		t.Fatal("messages deleted without a committed poll")
	}
	// After a restart the messages come back once their visibility
	// timeout passes, and the events are processed once.
	h := awstest.NewHarness(t)
	src2 := e.source(t, now)
	deadline := time.Now().Add(15 * time.Second)
	for len(h.Log.IDs()) < 2 && time.Now().Before(deadline) {
		if _, err := h.Poll(src2); err != nil {
			t.Fatal(err)
		}
	}
	h.ExactlyOnce(want)
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want empty", v, hid)
	}
}

func TestAckFailureDeletedOnNextPoll(t *testing.T) {
	e := newEnv(t, true, nil)
	now := time.Now().UTC()
	want := e.put(t, key("2026/01/10", 1), now, false, "d1")
	h := awstest.NewHarness(t)
	e.rec.Before(func(c awstest.Call) (int, string) {
		if c.Op == "DeleteMessageBatch" {
			return 500, `{"__type":"InternalError","message":"injected"}`
		}
		return 0, ""
	})
	if _, err := h.Poll(e.source(t, now)); err != nil {
		t.Fatalf("poll: %v (a failed delete must not fail the stored poll)", err)
	}
	if _, hid := e.inFlight(t); hid == "0" {
		t.Fatal("messages deleted despite the injected failure")
	}
	// Restart: the new source deletes what the committed poll left.
	e.rec.Before(nil)
	h.Restart()
	if _, err := h.Poll(e.source(t, now)); err != nil {
		t.Fatal(err)
	}
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want empty", v, hid)
	}
	h.ExactlyOnce(want)
}

func TestMissingObjectAndPoisonMessage(t *testing.T) {
	e := newEnv(t, true, nil)
	now := time.Now().UTC()
	gone := key("2026/01/10", 9)
	e.put(t, gone, now, false, "gone")
	if _, err := e.s3.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &e.bucket, Key: &gone}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.sqs.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: &e.queue, MessageBody: sdkaws.String("hello, not a notification")}); err != nil {
		t.Fatal(err)
	}
	want := e.put(t, key("2026/01/10", 10), now, false, "kept")
	h := awstest.NewHarness(t)
	res, err := h.Poll(e.source(t, now))
	if err != nil {
		t.Fatal(err)
	}
	if res.MalformedCount != 2 {
		t.Fatalf("malformed=%v, want the missing object and the poison message", res.Malformed)
	}
	h.ExactlyOnce(want)
	if v, hid := e.inFlight(t); v != "0" || hid != "0" {
		t.Fatalf("queue visible=%s in flight=%s, want all deleted", v, hid)
	}
}

func TestListModeLateObjectAndSettle(t *testing.T) {
	e := newEnv(t, false, func(o *Options) { o.Prefixes = []string{prefix} })
	now := time.Now().UTC()
	day := now.Format("2006/01/02")
	first := e.put(t, key(day, 5), now, false, "l1", "l2")
	h := awstest.NewHarness(t)
	if _, err := h.Poll(e.source(t, now)); err != nil {
		t.Fatal(err)
	}
	// A file whose key sorts before the one already read appears late.
	late := e.put(t, key(day, 3), now, false, "late")
	res, err := h.Poll(e.source(t, now.Add(5*time.Minute)))
	if err != nil || res.Events != 1 {
		t.Fatalf("second poll events=%d err=%v, want the late file's event", res.Events, err)
	}
	// An hour on, the files have settled: the position moves past them
	// and the recent set empties.
	h.Restart()
	if _, err := h.Poll(e.source(t, now.Add(time.Hour))); err != nil {
		t.Fatal(err)
	}
	cp, _ := h.Sources.Checkpoint("org-trail/" + awstest.Region)
	_, st, err := parse(cp)
	if err != nil {
		t.Fatal(err)
	}
	l := st.Lists[prefix]
	if l == nil || l.After != key(day, 5) || len(l.Recent) != 0 {
		t.Fatalf("listing=%+v, want after %s with nothing recent", l, key(day, 5))
	}
	h.ExactlyOnce(append(first, late...))
}

func TestFetchRangeByDay(t *testing.T) {
	e := newEnv(t, false, func(o *Options) { o.Prefixes = []string{prefix} })
	day9 := time.Date(2026, 1, 9, 12, 0, 0, 0, time.UTC)
	day10 := day9.Add(24 * time.Hour)
	e.put(t, key("2026/01/08", 1), day9.Add(-24*time.Hour), false, "d8")
	e.put(t, key("2026/01/09", 1), day9, false, "d9a", "d9b")
	e.put(t, key("2026/01/10", 1), day10, false, "d10")
	src := e.source(t, day10.Add(time.Hour))
	var got []string
	err := src.FetchRange(context.Background(), sources.Window{Start: day9.Add(-time.Hour), End: day9.Add(time.Second)},
		sources.FuncSink{OnEvent: func(_ context.Context, ev *sources.Event) error { got = append(got, ev.ID); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[d9a]" {
		t.Fatalf("events=%v, want only d9a within the window", got)
	}
	lists := e.rec.Calls("GET /" + e.bucket)
	if len(lists) != 1 || len(e.rec.Calls("GET /"+e.bucket+"/"+key("2026/01/08", 1))) != 0 {
		t.Fatalf("listings=%d, want one listing starting at the window's day and no read of day 8", len(lists))
	}
}

func TestMissingBucketIsPermanent(t *testing.T) {
	e := newEnv(t, false, func(o *Options) { o.Bucket = "no-such-bucket-here" })
	h := awstest.NewHarness(t)
	src := e.source(t, time.Now())
	_, err := h.Poll(src)
	if !sources.IsPermanent(err) || sources.Classify(err) != sources.ClassNotFound {
		t.Fatalf("err=%v (class %v), want permanent not found", err, sources.Classify(err))
	}
	if hl := h.Health(src.Name()); !hl.Permanent || !strings.Contains(hl.LastError, "NoSuchBucket") {
		t.Fatalf("health=%+v, want permanent NoSuchBucket", hl)
	}
}

func TestNotification(t *testing.T) {
	s3event := `{"Records":[{"eventSource":"aws:s3","eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},"object":{"key":"AWSLogs/a+b%3Dc.json.gz"}}},` +
		`{"eventSource":"aws:s3","eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"x"}}}]}`
	snsWrapped, _ := json.Marshal(map[string]string{"Type": "Notification", "Message": s3event})
	for _, tc := range []struct{ name, body, want string }{
		{"s3 event", s3event, "[{b AWSLogs/a b=c.json.gz}]"},
		{"through sns", string(snsWrapped), "[{b AWSLogs/a b=c.json.gz}]"},
		{"test event", `{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}`, "[]"},
		{"cloudtrail sns", `{"s3Bucket":"b","s3ObjectKey":["k1","k 2"]}`, "[{b k1} {b k 2}]"},
		{"eventbridge", `{"detail-type":"Object Created","source":"aws.s3","detail":{"bucket":{"name":"b"},"object":{"key":"k"}}}`, "[{b k}]"},
		{"not json", `hello`, "error: not a JSON notification"},
		{"other json", `{"foo":1}`, "error: not an S3 or CloudTrail notification"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Notification([]byte(tc.body))
			got := fmt.Sprint(objs)
			if objs == nil {
				got = "[]"
			}
			if err != nil {
				got = "error: " + err.Error()
			}
			if !strings.HasPrefix(got, tc.want) {
				t.Fatalf("objects=%s, want %s", got, tc.want)
			}
		})
	}
}
