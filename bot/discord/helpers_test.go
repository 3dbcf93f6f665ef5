package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/bot"
	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// Ids used throughout the tests, shaped like Discord snowflakes.
const (
	testToken     = "MTMwMDAwMDAwMDAwMDAwMDAwMg.GhYx1a.test-token-not-real-0123456789abcdef"
	testBotUser   = "1300000000000000002" // the user id the token's first part encodes
	testChannel   = "1100000000000000001"
	testGuild     = "1200000000000000001"
	testApp       = "1300000000000000001"
	viewerUser    = "1400000000000000001"
	responderUser = "1400000000000000002"
	analystUser   = "1400000000000000003"
	assigneeUser  = "1400000000000000009"
	analystRole   = "1500000000000000003"
	responderRole = "1500000000000000002"
)

// now is the fixed clock of the tests.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

// golden compares v, as indented JSON, with testdata/name.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file (run go test -update after checking):\n got: %s\nwant: %s", path, got, want)
	}
}

// stratusFinding runs the built-in console-login-without-MFA rule over the
// bundled Stratus Red Team detonation log.
func stratusFinding(t testing.TB) detectors.Finding {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "configs", "samples", "stratus-console-login-without-mfa.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pack, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rule, ok := pack.Rule("aws-console-login-without-mfa")
	if !ok {
		t.Fatal("no built-in rule aws-console-login-without-mfa")
	}
	var findings []detectors.Finding
	sink := sinkFunc(func(ev *sources.Event) error {
		fs, err := rule.Detect(context.Background(), ev)
		findings = append(findings, fs...)
		return err
	})
	if _, err := sources.Decode(context.Background(), f, "stratus", "samples", sink); err != nil {
		t.Fatal(err)
	}
	if len(findings) != 1 {
		t.Fatalf("findings=%d, want 1", len(findings))
	}
	return findings[0]
}

type sinkFunc func(ev *sources.Event) error

func (f sinkFunc) Event(_ context.Context, ev *sources.Event) error { return f(ev) }
func (sinkFunc) Malformed(sources.Malformed)                        {}

// newStore returns a workflow store on a real bbolt file holding one alert
// made from the Stratus finding.
func newStore(t testing.TB) (*workflows.Store, workflows.Alert) {
	t.Helper()
	st, err := workflows.NewStore(testdb.Open(t))
	if err != nil {
		t.Fatal(err)
	}
	st.Now = func() time.Time { return now }
	var a workflows.Alert
	err = st.DB().Update(func(tx *bolt.Tx) error {
		// The detonation, replayed as if it happened an hour ago.
		f := stratusFinding(t)
		f.Time = now.Add(-time.Hour)
		res, err := st.Ingest(tx, []detectors.Finding{f})
		if err == nil {
			a = res.New[0]
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, a
}

// request is one call the fake Discord API received.
type request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// JSON decodes the request body into a generic map.
func (r request) JSON(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s %s: body is not JSON: %v: %s", r.Method, r.Path, err, r.Body)
	}
	return m
}

// fakeDiscord is an httptest server that answers Discord's REST API the
// way Discord documents it, for discordgo pointed at it with api_url: it
// creates messages (deduplicating by nonce when enforce_nonce is set),
// edits them, starts threads (with the message's id), opens direct
// message channels, takes command registrations and interaction
// callbacks and webhooks, and answers 404 Unknown Channel for channels it
// does not know.
type fakeDiscord struct {
	srv *httptest.Server

	mu       sync.Mutex
	reqs     []request
	changed  chan struct{}
	channels map[string]bool
	nonces   map[string]string
	messages map[string]string // message id -> channel id
	// posted keeps each created message as Discord lists it in history.
	posted   map[string][]map[string]any // channel id -> messages, newest first
	override map[string]http.HandlerFunc
	nextID   atomic.Int64
}

func newFakeDiscord(t testing.TB) *fakeDiscord {
	t.Helper()
	f := &fakeDiscord{
		changed:  make(chan struct{}),
		channels: map[string]bool{testChannel: true},
		nonces:   map[string]string{},
		messages: map[string]string{},
		posted:   map[string][]map[string]any{},
		override: map[string]http.HandlerFunc{},
	}
	f.nextID.Store(1600000000000000000)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// apiURL is the api_url that points discordgo at the fake.
func (f *fakeDiscord) apiURL() string { return f.srv.URL + "/api/v10/" }

// on overrides the answer to "METHOD /path".
func (f *fakeDiscord) on(route string, h http.HandlerFunc) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.override[route] = h
}

func (f *fakeDiscord) id() string { return fmt.Sprint(f.nextID.Add(1)) }

func (f *fakeDiscord) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, "/api/v10")
	f.mu.Lock()
	f.reqs = append(f.reqs, request{Method: r.Method, Path: path, Header: r.Header.Clone(), Body: body})
	close(f.changed)
	f.changed = make(chan struct{})
	h := f.override[r.Method+" "+path]
	f.mu.Unlock()
	if h != nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		h(w, r)
		return
	}
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	switch {
	case r.Method == "POST" && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		ch := parts[1]
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.channels[ch] {
			reply(404, map[string]any{"message": "Unknown Channel", "code": 10003})
			return
		}
		var m struct {
			Nonce        string `json:"nonce"`
			EnforceNonce bool   `json:"enforce_nonce"`
			Embeds       []any  `json:"embeds"`
		}
		payload := body
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			payload = multipartJSON(r.Header.Get("Content-Type"), body)
		}
		_ = json.Unmarshal(payload, &m)
		if m.EnforceNonce && m.Nonce != "" {
			if id, ok := f.nonces[m.Nonce]; ok {
				reply(200, map[string]any{"id": id, "channel_id": f.messages[id], "nonce": m.Nonce})
				return
			}
		}
		id := f.id()
		f.messages[id] = ch
		if m.Nonce != "" {
			f.nonces[m.Nonce] = id
		}
		msg := map[string]any{"id": id, "channel_id": ch, "nonce": m.Nonce, "timestamp": now.Format(time.RFC3339),
			"author": map[string]any{"id": testBotUser, "username": "Trailhound", "bot": true}, "embeds": m.Embeds}
		f.posted[ch] = append([]map[string]any{msg}, f.posted[ch]...)
		reply(200, msg)
	case r.Method == "GET" && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		f.mu.Lock()
		defer f.mu.Unlock()
		list := f.posted[parts[1]]
		if list == nil {
			list = []map[string]any{}
		}
		reply(200, list)
	case r.Method == "PATCH" && len(parts) == 4 && parts[0] == "channels" && parts[2] == "messages":
		reply(200, map[string]any{"id": parts[3], "channel_id": parts[1]})
	case r.Method == "POST" && len(parts) == 5 && parts[0] == "channels" && parts[4] == "threads":
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.channels[parts[3]] {
			reply(400, map[string]any{"message": "A thread has already been created for this message", "code": 160004})
			return
		}
		f.channels[parts[3]] = true
		reply(201, map[string]any{"id": parts[3], "type": 11, "parent_id": parts[1], "name": "thread"})
	case r.Method == "POST" && path == "/users/@me/channels":
		var m struct {
			RecipientID string `json:"recipient_id"`
		}
		_ = json.Unmarshal(body, &m)
		ch := "17" + m.RecipientID[2:]
		f.mu.Lock()
		f.channels[ch] = true
		f.mu.Unlock()
		reply(200, map[string]any{"id": ch, "type": 1})
	case r.Method == "GET" && path == "/oauth2/applications/@me":
		reply(200, map[string]any{"id": testApp, "name": "Trailhound"})
	case r.Method == "PUT" && len(parts) >= 3 && parts[0] == "applications":
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("[" + string(body[1:len(body)-1]) + "]"))
	case r.Method == "POST" && parts[0] == "interactions":
		w.WriteHeader(204)
	case parts[0] == "webhooks" && r.Method == "DELETE":
		w.WriteHeader(204)
	case parts[0] == "webhooks":
		reply(200, map[string]any{"id": f.id(), "channel_id": testChannel})
	default:
		reply(404, map[string]any{"message": "404: Not Found", "code": 0})
	}
}

// multipartJSON returns the payload_json part of a multipart body.
func multipartJSON(contentType string, body []byte) []byte {
	_, params, _ := strings.Cut(contentType, "boundary=")
	for _, part := range strings.Split(string(body), "--"+params) {
		if strings.Contains(part, `name="payload_json"`) {
			_, rest, _ := strings.Cut(part, "\r\n\r\n")
			return []byte(strings.TrimSpace(rest))
		}
	}
	return nil
}

// forgetNonces makes the fake behave as Discord does once a nonce is more
// than a few minutes old: a post with it creates a new message.
func (f *fakeDiscord) forgetNonces() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nonces = map[string]string{}
}

// requests returns the calls received so far.
func (f *fakeDiscord) requests() []request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]request(nil), f.reqs...)
}

// matching returns the calls to method and path so far.
func (f *fakeDiscord) matching(method, path string) []request {
	var out []request
	for _, r := range f.requests() {
		if r.Method == method && r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// wait returns the n-th (1-based) call to method and path, waiting for it
// up to a deadline.
func (f *fakeDiscord) wait(t *testing.T, n int, method, path string) request {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		f.mu.Lock()
		ch := f.changed
		f.mu.Unlock()
		if got := f.matching(method, path); len(got) >= n {
			return got[n-1]
		}
		select {
		case <-ch:
		case <-deadline:
			var seen []string
			for _, r := range f.requests() {
				seen = append(seen, r.Method+" "+r.Path)
			}
			t.Fatalf("no call %d to %s %s; calls: %v", n, method, path, seen)
		}
	}
}

// testConfig is a valid configuration aimed at the fake.
func testConfig(f *fakeDiscord, pub ed25519.PublicKey) Config {
	return Config{
		Token:         configs.NewSecret(testToken),
		ApplicationID: testApp,
		PublicKey:     pub,
		ChannelID:     testChannel,
		GuildID:       testGuild,
		Mode:          ModeHTTP,
		APIURL:        f.apiURL(),
		Roles: bot.Policy{
			Analysts:   []string{analystRole},
			Responders: []string{responderRole},
			Viewers:    []string{"*"},
		},
		RawEventURL:      DefaultRawEventURL,
		RegisterCommands: true,
	}
}

// harness is a started notifier with its store, fake API and signing key.
type harness struct {
	n     *Notifier
	f     *fakeDiscord
	st    *workflows.Store
	svc   *bot.Service
	alert workflows.Alert
	priv  ed25519.PrivateKey
	mux   *http.ServeMux
	logs  *syncBuffer
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newHarness starts a notifier in http mode against the fake, with the
// alert already posted (its message recorded as the Dispatcher would).
func newHarness(t testing.TB) *harness {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	f := newFakeDiscord(t)
	st, a := newStore(t)
	logs := &syncBuffer{}
	n, err := New(testConfig(f, pub), st.DB(), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	n.now = func() time.Time { return now }
	fastRedraws(n)
	svc := &bot.Service{Store: st, Now: func() time.Time { return now }, Log: slog.New(slog.NewTextHandler(logs, nil))}
	mux := http.NewServeMux()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); n.Wait() })
	if err := n.Start(ctx, svc, mux); err != nil {
		t.Fatal(err)
	}
	h := &harness{n: n, f: f, st: st, svc: svc, priv: priv, mux: mux, logs: logs}
	// Deliver the new alert, so it has a message on Discord.
	d := &workflows.Dispatcher{Store: st, Notifiers: []workflows.Notifier{n}, Log: svc.Log}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if h.alert, err = st.Get(a.ID); err != nil {
		t.Fatal(err)
	}
	if _, ok := h.alert.Message(Name); !ok {
		t.Fatalf("alert %s has no Discord message after dispatch", a.ID)
	}
	t.Cleanup(func() {
		if strings.Contains(logs.String(), testToken) {
			t.Errorf("the bot token appears in the logs")
		}
	})
	return h
}

// sign returns a request to the interactions endpoint signed with priv at
// time ts.
func sign(priv ed25519.PrivateKey, ts time.Time, body []byte) *http.Request {
	stamp := fmt.Sprint(ts.Unix())
	sig := ed25519.Sign(priv, append([]byte(stamp), body...))
	r := httptest.NewRequest(http.MethodPost, InteractionsPath, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	r.Header.Set("X-Signature-Timestamp", stamp)
	return r
}

// post sends a signed interaction through the mux and decodes the answer.
func (h *harness) post(t *testing.T, interaction map[string]any) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(interaction)
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.mux.ServeHTTP(w, sign(h.priv, now, body))
	var resp map[string]any
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil {
			t.Fatalf("answer is not JSON: %s", w.Body)
		}
	}
	return w.Code, resp
}

var interactionSeq atomic.Int64

// interaction builds an interaction payload as Discord sends it, from a
// guild member with the given roles.
func interaction(typ int, data map[string]any, user string, roles []string, message map[string]any) map[string]any {
	id := fmt.Sprint(1800000000000000000 + interactionSeq.Add(1))
	m := map[string]any{
		"id":             id,
		"application_id": testApp,
		"type":           typ,
		"guild_id":       testGuild,
		"channel_id":     testChannel,
		"token":          "interaction-token-" + id,
		"version":        1,
		"member": map[string]any{
			"user":  map[string]any{"id": user, "username": "user" + user[len(user)-1:], "global_name": "User " + user[len(user)-1:]},
			"roles": roles,
			"nick":  "",
		},
	}
	if data != nil {
		m["data"] = data
	}
	if message != nil {
		m["message"] = message
	}
	return m
}

// cardMessage is the alert's message as Discord includes it in a button
// interaction.
func (h *harness) cardMessage() map[string]any {
	ref, _ := h.alert.Message(Name)
	return map[string]any{"id": ref.MessageID, "channel_id": ref.Channel, "embeds": []any{map[string]any{"title": "card"}}}
}

// press is a button press on the alert's message.
func (h *harness) press(op bot.Op, user string, roles []string) map[string]any {
	return interaction(3, map[string]any{"custom_id": bot.ActionID(op, h.alert.ID), "component_type": 2}, user, roles, h.cardMessage())
}

// slash is /trailhound SUB with options.
func slash(user string, roles []string, sub string, opts map[string]string) map[string]any {
	var options []any
	for k, v := range opts {
		options = append(options, map[string]any{"name": k, "type": 3, "value": v})
	}
	data := map[string]any{"id": "1900000000000000001", "name": commandName, "type": 1,
		"options": []any{map[string]any{"name": sub, "type": 1, "options": options}}}
	return interaction(2, data, user, roles, nil)
}

// webhook paths of an interaction.
func originalPath(i map[string]any) string {
	return "/webhooks/" + testApp + "/" + i["token"].(string) + "/messages/@original"
}

func followupPath(i map[string]any) string {
	return "/webhooks/" + testApp + "/" + i["token"].(string)
}

// fastRedraws gives a notifier a short redraw window and a large channel
// budget: tests make many changes in a row. TestEscalateBurst keeps the
// defaults.
func fastRedraws(n *Notifier) {
	n.redraws = bot.NewRedrawer(Name, time.Millisecond)
	n.budget = bot.NewBudget(Name, time.Millisecond, 1000)
}

// shown is text as Discord shows it: the markdown escapes of a rendered
// message removed.
func shown(s string) string {
	return markdownUnescaper.Replace(s)
}

var markdownUnescaper = strings.NewReplacer(`\\`, `\`, `\*`, "*", `\_`, "_", `\~`, "~", "\\`", "`", `\|`, "|", `\[`, "[", `\]`, "]",
	`\(`, "(", `\)`, ")", `\<`, "<", `\>`, ">", `\#`, "#", `\-`, "-", `\+`, "+", "\u200b", "")
