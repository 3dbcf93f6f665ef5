package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/workflows"
)

const testSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// clock is a settable test clock.
type clock struct {
	mu     sync.Mutex
	t      time.Time
	slept  []time.Duration
	sleeps chan time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleep records the wait and moves the clock instead of waiting.
func (c *clock) sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return ctx.Err()
}

func (c *clock) sleptFor() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

// harness is a Slack notifier on a fake workspace, with a real workflow
// store in a bbolt file.
type harness struct {
	t      testing.TB
	fake   *fakeSlack
	dbPath string
	db     *bolt.DB
	store  *workflows.Store
	n      *Notifier
	clock  *clock
	cfg    Config
	srv    *httptest.Server
	svc    *bot.Service
}

func testConfig(apiURL string) Config {
	return Config{
		BotToken:      configs.NewSecret("xoxb-test-token"),
		SigningSecret: configs.NewSecret(testSecret),
		Mode:          ModeHTTP,
		Channel:       "C0SECURITY",
		APIURL:        apiURL,
		Command:       DefaultCommand,
		RawEventURL:   DefaultRawEventURL,
		Policy: bot.Policy{
			Analysts:   []string{"U0ANALYST"},
			Responders: []string{"U0RESP", "S0ONCALL"},
			Viewers:    []string{"U0VIEWER"},
		},
		GroupCacheTTL:    DefaultGroupCacheTTL,
		MaxRateLimitWait: DefaultMaxRateLimitWait,
	}
}

func newHarness(t testing.TB, mod ...func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, fake: newFakeSlack(t), clock: &clock{t: testNow}}
	h.fake.now = h.clock.now
	h.cfg = testConfig(h.fake.url())
	for _, m := range mod {
		m(&h.cfg)
	}
	h.dbPath = filepath.Join(t.TempDir(), "trailhound.db")
	h.open()
	return h
}

// open opens (or, after a simulated crash, reopens) the database and
// builds a fresh store and notifier on it.
func (h *harness) open() {
	h.t.Helper()
	h.db = testdb.OpenAt(h.t, h.dbPath)
	var err error
	if h.store, err = workflows.NewStore(h.db); err != nil {
		h.t.Fatal(err)
	}
	h.store.Now = h.clock.now
	if h.n, err = New(h.cfg, h.db, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		h.t.Fatal(err)
	}
	h.n.now, h.n.sleep = h.clock.now, h.clock.sleep
	// Tests make many changes in a row: a short redraw window and a large
	// channel budget keep them fast. TestEscalateBurst uses the defaults.
	h.n.redraws = bot.NewRedrawer(Name, time.Millisecond)
	h.n.budget = bot.NewBudget(Name, time.Millisecond, 1000)
	h.svc = &bot.Service{Store: h.store, Now: h.clock.now, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// crash closes the database the way a killed process leaves it and opens
// everything again: nothing in memory survives.
func (h *harness) crash() {
	h.t.Helper()
	testdb.Close(h.t, h.db)
	h.open()
}

// start starts the adapter and serves its HTTP endpoints.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mux := http.NewServeMux()
	if err := h.n.Start(ctx, h.svc, mux); err != nil {
		h.t.Fatal(err)
	}
	h.srv = httptest.NewServer(mux)
	h.t.Cleanup(func() {
		h.srv.Close()
		cancel()
		h.n.Wait()
	})
}

// finding returns the test finding as the n-th similar one: same group,
// its own fingerprint, an hour apart.
func finding(t testing.TB, n int) detectors.Finding {
	f := testFinding(t)
	// As if the detonation happened just before the test's now.
	f.Time = testNow.Add(-2 * time.Hour)
	if n > 0 {
		f.Fingerprint = fmt.Sprintf("%s-%d", f.Fingerprint, n)
		f.Time = f.Time.Add(time.Duration(n) * time.Hour)
		f.EventIDs = []string{fmt.Sprintf("similar-event-%d", n)}
	}
	return f
}

func (h *harness) ingest(fs ...detectors.Finding) workflows.IngestResult {
	h.t.Helper()
	var res workflows.IngestResult
	err := h.db.Update(func(tx *bolt.Tx) error {
		var err error
		res, err = h.store.Ingest(tx, fs)
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

func (h *harness) dispatch(ns ...workflows.Notifier) int {
	h.t.Helper()
	if len(ns) == 0 {
		ns = []workflows.Notifier{h.n}
	}
	d := &workflows.Dispatcher{Store: h.store, Notifiers: ns, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	n, err := d.Dispatch(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *harness) alert(id string) workflows.Alert {
	h.t.Helper()
	a, err := h.store.Get(id)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// posted creates an alert and delivers it, returning the alert and the
// Slack message it was posted as.
func (h *harness) posted() (workflows.Alert, workflows.MessageRef) {
	h.t.Helper()
	res := h.ingest(finding(h.t, 0))
	h.dispatch()
	a := h.alert(res.New[0].ID)
	ref, ok := a.Message(Name)
	if !ok {
		h.t.Fatalf("alert %s was not posted to slack", a.ID)
	}
	return a, ref
}

// sign returns Slack's signature headers for body at time ts.
func sign(secret string, ts time.Time, body string) http.Header {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", stamp, body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", stamp)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	return h
}

// do sends a request to the adapter and returns the status and body.
func (h *harness) do(path string, hdr http.Header, body string) (int, string) {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header = hdr
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// signedPost signs body now and posts it.
func (h *harness) signedPost(path, body string) (int, string) {
	return h.do(path, sign(testSecret, h.clock.now(), body), body)
}

var triggerSeq int

func nextTrigger() string {
	triggerSeq++
	return fmt.Sprintf("%d.%d.trigger%d", 1000+triggerSeq, 2000+triggerSeq, triggerSeq)
}

// buttonPayload is a block_actions payload as Slack sends it when user
// presses the button of op on the alert's message.
func (h *harness) buttonPayload(user string, op bot.Op, alertID string, ref workflows.MessageRef) map[string]any {
	return map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "name": strings.ToLower(user), "team_id": "T1"},
		"api_app_id":   "A1",
		"token":        "unused",
		"container":    map[string]any{"type": "message", "message_ts": ref.MessageID, "channel_id": ref.Channel, "is_ephemeral": false},
		"trigger_id":   nextTrigger(),
		"team":         map[string]any{"id": "T1", "domain": "example"},
		"channel":      map[string]any{"id": ref.Channel, "name": "security"},
		"message":      map[string]any{"type": "message", "ts": ref.MessageID, "text": "alert"},
		"response_url": h.fake.url() + "response/" + user,
		"actions": []map[string]any{{
			"action_id": bot.ActionID(op, alertID), "block_id": "trailhound:actions:" + alertID,
			"text": map[string]any{"type": "plain_text", "text": "x"}, "value": alertID, "type": "button",
			"action_ts": fmt.Sprintf("%d.%06d", h.clock.now().Unix(), triggerSeq),
		}},
	}
}

func interactionBody(payload any) string {
	b, _ := json.Marshal(payload)
	return url.Values{"payload": {string(b)}}.Encode()
}

func commandBody(h *harness, user, text string) string {
	return url.Values{
		"token": {"unused"}, "team_id": {"T1"}, "team_domain": {"example"}, "channel_id": {"C0SECURITY"},
		"channel_name": {"security"}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"command": {"/trailhound"}, "text": {text}, "api_app_id": {"A1"},
		"response_url": {h.fake.url() + "response/cmd-" + user}, "trigger_id": {nextTrigger()},
	}.Encode()
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
