package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/slack-go/slack/slacktest"
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot/slack"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/external"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/internal/moto"
	"github.com/trailhound/trailhound/sources"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/sources/awsfindings"
	"github.com/trailhound/trailhound/workflows"
)

// latencyRig is the pipeline of the aws-findings source in one process:
// an SQS queue in moto, the real queue source, the detectors, a real
// bbolt store, and the real Slack notifier posting to slacktest, which
// notes when each card arrives.
type latencyRig struct {
	queue    *sqs.Client
	url      string
	endpoint string
	src      *awsfindings.Queue
	job      *workflows.Job
	disp     *workflows.Dispatcher
	posted   map[string]time.Time // alert id -> card posted
	recv     map[string]time.Time // event id -> message received
	mu       sync.Mutex
}

func newLatencyRig(t *testing.T, now func() time.Time) *latencyRig {
	t.Helper()
	endpoint, stop, err := moto.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", err)
		}
		t.Skipf("skipping: moto_server unavailable: %v", err)
	}
	t.Cleanup(stop)
	moto.Credentials(t)
	r := &latencyRig{posted: map[string]time.Time{}, recv: map[string]time.Time{}, endpoint: endpoint}
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion(moto.Region), awsconfig.WithBaseEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	r.queue = sqs.NewFromConfig(cfg)
	q, err := r.queue.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("latency")})
	if err != nil {
		t.Fatal(err)
	}
	r.url = aws.ToString(q.QueueUrl)
	opts := awsfindings.Options{Options: awssrc.Options{Regions: []string{moto.Region}, EndpointURL: endpoint, RequestsPerSecond: 1000}, QueueURL: r.url}
	srcs, err := awsfindings.Build(context.Background(), "aws-findings", opts, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	r.src = srcs[0].(*awsfindings.Queue)
	r.src.Now = time.Now
	r.src.Received = func(ids []string, at time.Time) {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, id := range ids {
			r.recv[id] = at
		}
	}
	srv := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, req *http.Request) {
			req.ParseForm()
			at := time.Now()
			r.mu.Lock()
			if id := cardID(req.Form.Get("metadata")); id != "" {
				r.posted[id] = at
			}
			n := len(r.posted)
			r.mu.Unlock()
			fmt.Fprintf(w, `{"ok":true,"channel":"C0SEC","ts":"1700000000.%06d"}`, n)
		})
	})
	srv.Start()
	t.Cleanup(srv.Stop)
	db, err := bolt.Open(filepath.Join(t.TempDir(), "trailhound.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	store, err := workflows.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	store.Now = now
	srcStore, err := sources.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	n, err := slack.New(slack.Config{BotToken: configs.NewSecret(slackTestToken), Channel: "C0SEC", APIURL: srv.GetAPIURL()}, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	pack, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ds := append([]detectors.Detector{external.New()}, pack.Detectors()...)
	r.job = &workflows.Job{Source: r.src, Detectors: detectors.NewEngine(ds...), Alerts: store, Sources: srcStore, Stateful: true}
	r.disp = &workflows.Dispatcher{Store: store, Notifiers: []workflows.Notifier{n}}
	return r
}

// cardID returns the alert id in a post's Slack metadata.
func cardID(meta string) string {
	var m struct {
		Payload struct {
			AlertID string `json:"alert_id"`
		} `json:"event_payload"`
	}
	if json.Unmarshal([]byte(meta), &m) != nil {
		return ""
	}
	return m.Payload.AlertID
}

func (r *latencyRig) send(t *testing.T, body []byte) {
	t.Helper()
	if _, err := r.queue.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(r.url), MessageBody: aws.String(string(body))}); err != nil {
		t.Fatal(err)
	}
}

// cycle runs one poll and one dispatch, as `trailhound run` does on
// its schedules.
func (r *latencyRig) cycle(t *testing.T) *workflows.Result {
	t.Helper()
	res, err := r.job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.disp.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	return res
}

// TestAWSFindingEventTimeToCard: with a fixed clock 4 seconds after a
// CloudTrail event's eventTime, the event delivered by EventBridge
// becomes one card, whose alert is dated by the event (not by its
// delivery), and the source's lag is exactly those 4 seconds.
func TestAWSFindingEventTimeToCard(t *testing.T) {
	fixture, err := os.ReadFile(repoFile(t, "sources/awsfindings/testdata/cloudtrail-api-call.json"))
	if err != nil {
		t.Fatal(err)
	}
	eventTime := time.Date(2026, 12, 6, 10, 2, 0, 0, time.UTC)
	now := eventTime.Add(4 * time.Second)
	r := newLatencyRig(t, func() time.Time { return now })
	r.send(t, fixture)
	res := r.cycle(t)
	if len(res.Ingest.New) != 1 || res.Ingest.New[0].Finding.RuleID != "aws-cloudtrail-logging-stopped" {
		t.Fatalf("new alerts=%+v, want the StopLogging alert", res.Ingest.New)
	}
	a := res.Ingest.New[0]
	if !a.FirstSeen.Equal(eventTime) || !a.CreatedAt.Equal(now) {
		t.Fatalf("first seen=%v created=%v, want %v and %v", a.FirstSeen, a.CreatedAt, eventTime, now)
	}
	if _, ok := r.posted[a.ID]; !ok {
		t.Fatalf("no card posted for %s (posted %v)", a.ID, r.posted)
	}
	hs, err := r.job.Sources.Health()
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != 1 || hs[0].Lag != 4*time.Second {
		t.Fatalf("health=%+v, want a lag of 4s from eventTime to the poll that posted the card", hs)
	}
}

// TestAWSFindingQueueToCardLatency measures the pipeline's added latency,
// from a message's receipt to its card's arrival at the (fake) Slack API,
// over 40 findings, and logs p50 and p99 (go test -v -run
// TestAWSFindingQueueToCardLatency ./cmd/trailhound/). It asserts only
// that every finding made one card.
func TestAWSFindingQueueToCardLatency(t *testing.T) {
	r := newLatencyRig(t, time.Now)
	base, err := os.ReadFile(repoFile(t, "sources/awsfindings/testdata/gd-ec2-c2-activity.json"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	var lat, stored []time.Duration
	var storedAt time.Time
	r.job.OnStored = func([]detectors.Finding, workflows.IngestResult) { storedAt = time.Now() }
	for i := range n {
		body := strings.ReplaceAll(string(base), "f4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9", fmt.Sprintf("f4a5b6c7d8e9f0a1b2c3d4e5f6a7%04d", i))
		body = strings.ReplaceAll(body, "i-99999999", fmt.Sprintf("i-%08d", i))
		r.send(t, []byte(body))
		res := r.cycle(t)
		if len(res.Ingest.New) != 1 {
			t.Fatalf("finding %d: new alerts=%d, want 1", i, len(res.Ingest.New))
		}
		id := res.Ingest.New[0].ID
		r.mu.Lock()
		posted, ok := r.posted[id]
		recv := r.recv[res.Ingest.New[0].Finding.EventIDs[0]]
		r.mu.Unlock()
		if !ok || recv.IsZero() {
			t.Fatalf("finding %d: posted=%v received=%v", i, ok, recv)
		}
		lat = append(lat, posted.Sub(recv))
		stored = append(stored, storedAt.Sub(recv))
	}
	pct := func(ds []time.Duration, q float64) time.Duration {
		ds = append([]time.Duration(nil), ds...)
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return ds[min(len(ds)-1, int(q*float64(len(ds))))]
	}
	t.Logf("queue receive -> alert committed over %d findings: p50=%v p99=%v", n, pct(stored, 0.50), pct(stored, 0.99))
	t.Logf("queue receive -> card posted over %d findings: p50=%v p99=%v (cards back to back in one channel are paced at 1/s, Slack's limit)", n, pct(lat, 0.50), pct(lat, 0.99))
}

// TestAWSFindingsSourceCLI: an aws-findings entry reading a queue turns a
// GuardDuty finding into an alert (`run --once`), and `trailhound
// sources` shows the queue's health: the finding read, the poison
// message counted as malformed.
func TestAWSFindingsSourceCLI(t *testing.T) {
	r := newLatencyRig(t, time.Now)
	gd, err := os.ReadFile(repoFile(t, "sources/awsfindings/testdata/gd-ec2-c2-activity.json"))
	if err != nil {
		t.Fatal(err)
	}
	r.send(t, gd)
	r.send(t, []byte("not an EventBridge event"))
	dir := t.TempDir()
	cfg := fmt.Sprintf(`data_dir: %s
notify: {terminal: "true"}
sources:
  - name: findings
    type: aws-findings
    schedule: "@every 10s"
    options:
      endpoint_url: %s
      regions: [%s]
      queue_url: %s
      filter: {min_severity: medium}
`, filepath.Join(dir, "data"), r.endpoint, moto.Region, r.url)
	path := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "run", "--once", "--config", path)
	if code != exitOK || !strings.Contains(out, "EC2 instance i-99999999 is communicating with a Command & Control server.") {
		t.Fatalf("run --once exit=%d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "sources", "--config", path, "--format", "json")
	var rep struct {
		Sources []struct {
			Source    string `json:"source"`
			Type      string `json:"type"`
			Events    int    `json:"events"`
			Malformed int    `json:"malformed"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitOK {
		t.Fatalf("sources exit=%d: %v\n%s\n%s", code, err, out, errOut)
	}
	if len(rep.Sources) != 1 || rep.Sources[0].Source != "findings/"+moto.Region || rep.Sources[0].Type != "aws-findings" || rep.Sources[0].Events != 1 || rep.Sources[0].Malformed != 1 {
		t.Fatalf("sources=%+v, want findings/%s with 1 event and 1 malformed", rep.Sources, moto.Region)
	}
}
