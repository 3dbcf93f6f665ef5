package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/slack-go/slack/slacktest"

	"github.com/trailhound/trailhound/internal/moto"
	"github.com/trailhound/trailhound/workflows/securityhub/shtest"
)

// The end-to-end tests of issue 13's write-back: an EventBridge message
// on an SQS queue (moto) becomes one alert and one card; a responder
// resolves it with a signed chat request; BatchUpdateFindings (the fake
// Security Hub) carries RESOLVED and the note; the echo of that write
// arrives on the queue and nothing is posted. Everything runs in a real
// `trailhound run` process.

const e2eSigningSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// e2eFixture reads one of the aws-findings source's EventBridge fixtures.
func e2eFixture(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(repoFile(t, "sources/awsfindings/testdata/"+name))
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// echoOf returns the event Security Hub sends after BatchUpdateFindings
// set a finding's workflow status and note: the same finding with the
// customer fields changed, a later UpdatedAt, and a new event id.
func echoOf(ev map[string]any, status, note, updatedBy string, at time.Time) map[string]any {
	b, _ := json.Marshal(ev)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	out["id"] = "echo-" + fmt.Sprint(out["id"])
	out["time"] = at.Format(time.RFC3339)
	for _, f := range out["detail"].(map[string]any)["findings"].([]any) {
		f := f.(map[string]any)
		f["Workflow"] = map[string]any{"Status": status}
		f["WorkflowState"] = map[string]string{"NEW": "NEW", "NOTIFIED": "ASSIGNED", "RESOLVED": "RESOLVED", "SUPPRESSED": "DEFERRED"}[status]
		f["Note"] = map[string]any{"Text": note, "UpdatedBy": updatedBy, "UpdatedAt": at.Format("2006-01-02T15:04:05.000Z")}
		f["UpdatedAt"] = at.Format("2006-01-02T15:04:05.000Z")
	}
	return out
}

// e2eQueue is an SQS queue in moto.
type e2eQueue struct {
	client   *sqs.Client
	url      string
	endpoint string
}

// newE2EQueue starts moto, sets the AWS test credentials for the test and
// its children, and creates the queue.
func newE2EQueue(t *testing.T) *e2eQueue {
	t.Helper()
	endpoint, stop, err := moto.Start()
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("moto_server is required under CI: %v", err)
		}
		t.Skipf("skipping: moto_server unavailable: %v", err)
	}
	t.Cleanup(stop)
	// After moto started: moto_server reads the AWS variables too, and an
	// empty AWS_PROFILE breaks it.
	awsEnv(t)
	cfg, err := awsconfig.LoadDefaultConfig(context.Background(), awsconfig.WithRegion("us-east-1"), awsconfig.WithBaseEndpoint(endpoint))
	if err != nil {
		t.Fatal(err)
	}
	q := &e2eQueue{client: sqs.NewFromConfig(cfg), endpoint: endpoint}
	out, err := q.client.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("trailhound-findings")})
	if err != nil {
		t.Fatal(err)
	}
	q.url = aws.ToString(out.QueueUrl)
	return q
}

func (q *e2eQueue) send(t *testing.T, ev map[string]any) {
	t.Helper()
	b, _ := json.Marshal(ev)
	if _, err := q.client.SendMessage(context.Background(), &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(b))}); err != nil {
		t.Fatal(err)
	}
}

// drained reports whether every message sent was received and deleted.
func (q *e2eQueue) drained(t *testing.T) bool {
	t.Helper()
	out, err := q.client.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.url),
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages, sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	return out.Attributes["ApproximateNumberOfMessages"] == "0" && out.Attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
}

// startE2EBot runs `trailhound run` with an aws-findings source on the
// queue, the write-back to the fake Security Hub, and the notify section
// given, and waits until its chat listener listens.
func startE2EBot(t *testing.T, q *e2eQueue, awsURL, notify string) *runningBot {
	t.Helper()
	dir := t.TempDir()
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: info}
http: {listen: "127.0.0.1:0", admin_listen: "off"}
dispatch_schedule: "@every 1s"
sources:
  - name: findings
    type: aws-findings
    schedule: "@every 1s"
    options:
      regions: [us-east-1]
      queue_url: %s
      endpoint_url: %s
detectors:
  disable: [trailhound-source-silent]
workflows:
  tick_schedule: "@every 1s"
securityhub:
  write_back: true
  regions: [us-east-1]
  endpoint_url: %s
notify:
  terminal: "false"
%s`, filepath.Join(dir, "data"), q.url, q.endpoint, awsURL, notify)
	return runBot(t, dir, cfg, "chat")
}

// waitUntil polls cond until it holds, failing the test after a minute.
func waitUntil(t *testing.T, b *runningBot, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s\nbot log:\n%s", what, b.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// e2eSlack is a Slack workspace on slack-go's slacktest server with the Web
// API methods the notifier calls, recording the messages posted.
type e2eSlack struct {
	srv   *slacktest.Server
	mu    sync.Mutex
	posts []url.Values
	seq   int
}

func newE2ESlack(t *testing.T) *e2eSlack {
	f := &e2eSlack{}
	reply := func(w http.ResponseWriter, v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/auth.test", func(w http.ResponseWriter, _ *http.Request) {
			reply(w, map[string]any{"ok": true, "user_id": "U0BOT", "bot_id": "B0BOT", "team_id": "T1", "user": "trailhound", "team": "example", "url": "https://example.slack.com/"})
		})
		c.Handle("/chat.postMessage", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			f.mu.Lock()
			f.seq++
			ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), f.seq)
			f.posts = append(f.posts, v)
			f.mu.Unlock()
			reply(w, map[string]any{"ok": true, "channel": v.Get("channel"), "ts": ts, "message": map[string]any{"type": "message", "ts": ts, "text": v.Get("text")}})
		})
		c.Handle("/chat.update", func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			v, _ := url.ParseQuery(string(body))
			reply(w, map[string]any{"ok": true, "channel": v.Get("channel"), "ts": v.Get("ts"), "text": v.Get("text")})
		})
		c.Handle("/chat.postEphemeral", func(w http.ResponseWriter, _ *http.Request) {
			reply(w, map[string]any{"ok": true, "message_ts": "1.1"})
		})
		for _, m := range []string{"/conversations.history", "/conversations.replies"} {
			c.Handle(m, func(w http.ResponseWriter, _ *http.Request) {
				reply(w, map[string]any{"ok": true, "messages": []any{}, "has_more": false})
			})
		}
		c.Handle("/usergroups.list", func(w http.ResponseWriter, _ *http.Request) {
			reply(w, map[string]any{"ok": true, "usergroups": []any{}})
		})
		c.Handle("/response/", func(w http.ResponseWriter, _ *http.Request) {
			reply(w, map[string]any{"ok": true})
		})
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

// cards returns the top-level messages posted (thread replies aside) and
// every message posted.
func (f *e2eSlack) cards() (cards, all int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.posts {
		if p.Get("thread_ts") == "" {
			cards++
		}
	}
	return cards, len(f.posts)
}

// signedSlack posts body to the bot's Slack endpoint, signed with the
// signing secret as Slack signs requests.
func signedSlack(t *testing.T, b *runningBot, path, body string) (int, string) {
	t.Helper()
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(e2eSigningSecret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	req, err := http.NewRequest(http.MethodPost, "http://"+b.chat+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", stamp)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(out)
}

// iam6ID is the Security Hub id of the finding in sh-fsbp-iam6.json.
const iam6ID = "arn:aws:securityhub:us-east-1:123456789012:security-control/IAM.6/finding/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d"

// written returns the BatchUpdateFindings writes as "STATUS note" lines.
func written(s *shtest.Server) []string {
	var out []string
	for _, u := range s.Updates() {
		out = append(out, u.Status+" "+u.NoteText)
	}
	return out
}

// TestWriteBackSlackEndToEnd: queue -> card -> signed /trailhound resolve
// -> RESOLVED with the note in Security Hub -> the echo posts nothing.
func TestWriteBackSlackEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test runs the bot and moto")
	}
	q := newE2EQueue(t)
	hub := shtest.New(t)
	chat := newE2ESlack(t)
	b := startE2EBot(t, q, hub.URL, fmt.Sprintf(`  slack:
    bot_token: xoxb-1-e2e-test
    signing_secret: %s
    mode: http
    channel: C0SEC
    api_url: %s
    roles:
      analyst: [U0ALICE]
      viewer: ["*"]
`, e2eSigningSecret, chat.srv.GetAPIURL()))

	finding := e2eFixture(t, "sh-fsbp-iam6.json")
	q.send(t, finding)
	waitUntil(t, b, "the card and the NOTIFIED write", func() bool {
		c, _ := chat.cards()
		return c == 1 && len(hub.Updates()) == 1
	})
	if w := written(hub); w[0] != "NOTIFIED posted to slack #C0SEC as TH-1" {
		t.Fatalf("first write %q", w[0])
	}

	const note = "enabled a hardware MFA device on the root user"
	cmd := url.Values{"token": {"unused"}, "team_id": {"T1"}, "team_domain": {"example"}, "channel_id": {"C0SEC"},
		"channel_name": {"security"}, "user_id": {"U0ALICE"}, "user_name": {"alice"}, "command": {"/trailhound"},
		"text": {"resolve TH-1 " + note}, "api_app_id": {"A1"}, "response_url": {chat.srv.GetAPIURL() + "response/1"}, "trigger_id": {"1.2.trigger"}}
	if code, body := signedSlack(t, b, "/slack/commands", cmd.Encode()); code != http.StatusOK {
		t.Fatalf("slash command answered %d: %s", code, body)
	}
	waitUntil(t, b, "the RESOLVED write", func() bool { return len(hub.Updates()) == 2 })
	u := hub.Updates()[1]
	if u.Status != "RESOLVED" || u.NoteText != "TH-1 resolved by slack:U0ALICE in Trailhound: "+note || u.Region != "us-east-1" || u.UpdatedBy != "Trailhound (slack:U0ALICE)" {
		t.Fatalf("resolve wrote %+v", u)
	}

	// The echo of the write, then a sentinel finding: once the sentinel's
	// card is posted, anything the echo caused was posted before it.
	q.send(t, echoOf(finding, u.Status, u.NoteText, u.UpdatedBy, time.Now().UTC()))
	waitUntil(t, b, "the echo read and deleted", func() bool { return q.drained(t) })
	q.send(t, e2eFixture(t, "gd-iam-console-login-success.json"))
	waitUntil(t, b, "the sentinel's card", func() bool { c, _ := chat.cards(); return c == 2 })
	if c, all := chat.cards(); c != 2 || all != 2 {
		t.Fatalf("%d cards and %d messages posted, want 2 and 2: the echo posted something", c, all)
	}
	if w := hub.Written()[iam6ID]; len(w) != 2 {
		t.Fatalf("writes %q: the echo caused a write", w)
	}
	stillResolved(t, b)
}

// stillResolved checks, through the running bot, that TH-1 is still
// resolved and its audit trail records nothing after the write-back: the
// echo neither reopened it nor counted as activity.
func stillResolved(t *testing.T, b *runningBot) {
	t.Helper()
	code, out, errOut := runCLI(t, "findings", "show", "--config", b.config, "TH-1")
	if code != exitOK {
		t.Fatalf("findings show: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "status: resolved") {
		t.Errorf("TH-1 is no longer resolved:\n%s", out)
	}
	trail, _, _ := strings.Cut(out[strings.Index(out, "Audit trail:"):], "\n\n")
	lines := strings.Split(strings.TrimSpace(trail), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "aws_written") || !strings.Contains(last, "RESOLVED") {
		t.Errorf("the audit trail goes on after the RESOLVED write:\n%s", trail)
	}
}

// TestWriteBackDiscordEndToEnd is the same flow through Discord: the
// responder resolves with a signed /trailhound resolve interaction.
func TestWriteBackDiscordEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test runs the bot and moto")
	}
	q := newE2EQueue(t)
	hub := shtest.New(t)
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	chat := &crashDiscord{nextID: 1700000000000000000, nonces: map[string]string{}, messages: map[string][]map[string]any{}, cards: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/api/v10/webhooks/") || strings.HasPrefix(r.URL.Path, "/api/v10/interactions/") {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"id":"1999999999999999999","channel_id":"1100000000000000001"}`))
			return
		}
		chat.serve(w, r)
	}))
	t.Cleanup(srv.Close)
	const analyst = "1500000000000000003"
	b := startE2EBot(t, q, hub.URL, fmt.Sprintf(`  discord:
    bot_token: MTMwMDAwMDAwMDAwMDAwMDAwMg.GhYx1a.test-token-not-real-0123456789abcdef
    application_id: "1300000000000000001"
    channel_id: "1100000000000000001"
    guild_id: "1200000000000000001"
    public_key: "%s"
    mode: http
    register_commands: false
    api_url: %s/api/v10/
    roles:
      analyst: ["%s"]
      viewer: ["*"]
`, hex.EncodeToString(pub), srv.URL, analyst))
	counts := func() (cards, creates int) {
		chat.mu.Lock()
		defer chat.mu.Unlock()
		return len(chat.cards), chat.creates
	}

	finding := e2eFixture(t, "sh-fsbp-iam6.json")
	q.send(t, finding)
	waitUntil(t, b, "the card and the NOTIFIED write", func() bool {
		c, _ := counts()
		return c == 1 && len(hub.Updates()) == 1
	})
	if w := written(hub); w[0] != "NOTIFIED posted to discord #1100000000000000001 as TH-1" {
		t.Fatalf("first write %q", w[0])
	}

	const note = "enabled a hardware MFA device on the root user"
	interaction := map[string]any{
		"id": "1800000000000000001", "application_id": "1300000000000000001", "type": 2, "guild_id": "1200000000000000001",
		"channel_id": "1100000000000000001", "token": "interaction-token-1", "version": 1,
		"member": map[string]any{"user": map[string]any{"id": "1600000000000000001", "username": "alice", "global_name": "Alice"}, "roles": []string{analyst}, "nick": ""},
		"data": map[string]any{"id": "1900000000000000001", "name": "trailhound", "type": 1, "options": []any{map[string]any{
			"name": "resolve", "type": 1, "options": []any{
				map[string]any{"name": "id", "type": 3, "value": "TH-1"},
				map[string]any{"name": "note", "type": 3, "value": note},
			}}}},
	}
	body, _ := json.Marshal(interaction)
	stamp := strconv.FormatInt(time.Now().Unix(), 10)
	req, _ := http.NewRequest(http.MethodPost, "http://"+b.chat+"/discord/interactions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Timestamp", stamp)
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, append([]byte(stamp), body...))))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("interaction answered %d: %s", res.StatusCode, answer)
	}
	waitUntil(t, b, "the RESOLVED write", func() bool { return len(hub.Updates()) == 2 })
	u := hub.Updates()[1]
	if u.Status != "RESOLVED" || u.NoteText != "TH-1 resolved by discord:1600000000000000001 in Trailhound: "+note || u.Region != "us-east-1" {
		t.Fatalf("resolve wrote %+v", u)
	}

	q.send(t, echoOf(finding, u.Status, u.NoteText, u.UpdatedBy, time.Now().UTC()))
	waitUntil(t, b, "the echo read and deleted", func() bool { return q.drained(t) })
	q.send(t, e2eFixture(t, "gd-iam-console-login-success.json"))
	waitUntil(t, b, "the sentinel's card", func() bool { c, _ := counts(); return c == 2 })
	if c, creates := counts(); c != 2 || creates != 2 {
		t.Fatalf("%d cards and %d messages created, want 2 and 2: the echo posted something", c, creates)
	}
	if w := hub.Written()[iam6ID]; len(w) != 2 {
		t.Fatalf("writes %q: the echo caused a write", w)
	}
	stillResolved(t, b)
}
