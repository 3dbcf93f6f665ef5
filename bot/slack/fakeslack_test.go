package slack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	slackapi "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
)

// fakeSlack is a Slack workspace for tests: slack-go's slacktest server
// with the Web API methods Trailhound uses implemented over an in-memory
// channel history, so posts, updates, thread replies, metadata lookups,
// modals and files can be checked. Any method can be scripted to fail.
type fakeSlack struct {
	t   testing.TB
	srv *slacktest.Server
	// now stamps messages; the harness sets it to its clock.
	now func() time.Time

	mu         sync.Mutex
	seq        int
	msgs       []*fakeMsg
	updates    []fakeUpdate
	ephemerals []url.Values
	views      []slackapi.ModalViewRequest
	responses  []fakeResponse
	files      []fakeFile
	groups     []slackapi.UserGroup
	calls      map[string]int
	script     map[string][]func(w http.ResponseWriter, r *http.Request) bool
	// block, when set for a method, is waited on before answering it.
	block map[string]chan struct{}

	// Socket Mode: the open connection and the acknowledgements read.
	sock     *websocket.Conn
	sockMu   sync.Mutex
	sockOpen chan struct{}
	acks     chan socketAck
}

type fakeMsg struct {
	Channel, TS, Thread, Text string
	Blocks, Attachments       json.RawMessage
	Metadata                  *slackapi.SlackMetadata
}

type fakeUpdate struct {
	Channel, TS, Text   string
	Blocks, Attachments json.RawMessage
}

type fakeResponse struct {
	Path string
	Body map[string]any
}

type fakeFile struct {
	ID, Name, Channel string
	Data              []byte
}

type socketAck struct {
	EnvelopeID string          `json:"envelope_id"`
	Payload    json.RawMessage `json:"payload"`
}

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{
		t:        t,
		now:      time.Now,
		calls:    map[string]int{},
		script:   map[string][]func(http.ResponseWriter, *http.Request) bool{},
		block:    map[string]chan struct{}{},
		sockOpen: make(chan struct{}),
		acks:     make(chan socketAck, 16),
	}
	handlers := map[string]http.HandlerFunc{
		"/chat.postMessage":             f.postMessage,
		"/chat.update":                  f.update,
		"/chat.postEphemeral":           f.postEphemeral,
		"/conversations.history":        f.history,
		"/conversations.replies":        f.replies,
		"/conversations.open":           f.openConversation,
		"/usergroups.list":              f.userGroups,
		"/views.open":                   f.openView,
		"/files.getUploadURLExternal":   f.uploadURL,
		"/upload/":                      f.uploadFile,
		"/files.completeUploadExternal": f.completeUpload,
		"/response/":                    f.response,
		"/apps.connections.open":        f.connectionsOpen,
		"/socket":                       f.socket,
		"/auth.test":                    f.authTest,
		"/users.lookupByEmail":          f.lookupByEmail,
	}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		for path, h := range handlers {
			name := strings.Trim(strings.TrimPrefix(path, "/"), "/")
			c.Handle(path, f.wrap(name, h))
		}
	})
	f.srv.Start()
	t.Cleanup(func() {
		f.mu.Lock()
		for _, ch := range f.block {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
		f.mu.Unlock()
		f.sockMu.Lock()
		if f.sock != nil {
			f.sock.Close()
		}
		f.sockMu.Unlock()
		f.srv.Stop()
	})
	return f
}

// url returns the API URL to configure.
func (f *fakeSlack) url() string { return f.srv.GetAPIURL() }

// fail scripts the next call of method: h writes the response, and when it
// returns true the real handler is skipped.
func (f *fakeSlack) fail(method string, h func(w http.ResponseWriter, r *http.Request) bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script[method] = append(f.script[method], h)
}

// hold makes method wait until the returned function is called.
func (f *fakeSlack) hold(method string) (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.block[method] = ch
	f.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

func (f *fakeSlack) wrap(method string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.calls[method]++
		var scripted func(http.ResponseWriter, *http.Request) bool
		if s := f.script[method]; len(s) > 0 {
			scripted, f.script[method] = s[0], s[1:]
		}
		wait := f.block[method]
		f.mu.Unlock()
		if wait != nil {
			<-wait
		}
		if scripted != nil && scripted(w, r) {
			return
		}
		h(w, r)
	}
}

func (f *fakeSlack) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func form(r *http.Request) url.Values {
	b, _ := io.ReadAll(r.Body)
	v, _ := url.ParseQuery(string(b))
	return v
}

func (f *fakeSlack) nextTS() string {
	f.seq++
	return fmt.Sprintf("%d.%06d", f.now().Unix(), f.seq)
}

func (f *fakeSlack) postMessage(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	m := &fakeMsg{Channel: v.Get("channel"), Thread: v.Get("thread_ts"), Text: v.Get("text"), Blocks: raw(v.Get("blocks")), Attachments: raw(v.Get("attachments"))}
	if md := v.Get("metadata"); md != "" {
		m.Metadata = &slackapi.SlackMetadata{}
		if err := json.Unmarshal([]byte(md), m.Metadata); err != nil {
			f.t.Errorf("chat.postMessage: bad metadata %q: %v", md, err)
		}
	}
	if !strings.HasPrefix(m.Channel, "C") && !strings.HasPrefix(m.Channel, "D") {
		writeJSON(w, map[string]any{"ok": false, "error": "channel_not_found"})
		return
	}
	f.mu.Lock()
	m.TS = f.nextTS()
	f.msgs = append(f.msgs, m)
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "channel": m.Channel, "ts": m.TS})
}

// raw keeps posted JSON as Slack would read it, with the HTML escapes of
// Go's encoder undone so tests can look for <@U..> and <!..> as written.
func raw(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(strings.NewReplacer(`\u003c`, "<", `\u003e`, ">", `\u0026`, "&").Replace(s))
}

func (f *fakeSlack) update(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	u := fakeUpdate{Channel: v.Get("channel"), TS: v.Get("ts"), Text: v.Get("text"), Blocks: raw(v.Get("blocks")), Attachments: raw(v.Get("attachments"))}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.msgs {
		if m.Channel == u.Channel && m.TS == u.TS {
			m.Text, m.Blocks, m.Attachments = u.Text, u.Blocks, u.Attachments
			f.updates = append(f.updates, u)
			writeJSON(w, map[string]any{"ok": true, "channel": u.Channel, "ts": u.TS, "text": u.Text})
			return
		}
	}
	writeJSON(w, map[string]any{"ok": false, "error": "message_not_found"})
}

func (f *fakeSlack) postEphemeral(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	f.mu.Lock()
	f.ephemerals = append(f.ephemerals, v)
	ts := f.nextTS()
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "message_ts": ts})
}

// history returns a channel's top-level messages, newest first, with
// metadata only when asked for, like Slack.
func (f *fakeSlack) history(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	f.writeMessages(w, v, func(m *fakeMsg) bool { return m.Channel == v.Get("channel") && m.Thread == "" })
}

func (f *fakeSlack) replies(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	f.writeMessages(w, v, func(m *fakeMsg) bool {
		return m.Channel == v.Get("channel") && (m.TS == v.Get("ts") || m.Thread == v.Get("ts"))
	})
}

func (f *fakeSlack) writeMessages(w http.ResponseWriter, v url.Values, match func(*fakeMsg) bool) {
	oldest, _ := strconv.ParseFloat(v.Get("oldest"), 64)
	limit, _ := strconv.Atoi(v.Get("limit"))
	f.mu.Lock()
	var out []map[string]any
	for _, m := range f.msgs {
		ts, _ := strconv.ParseFloat(m.TS, 64)
		if !match(m) || ts < oldest {
			continue
		}
		msg := map[string]any{"type": "message", "ts": m.TS, "text": m.Text}
		if m.Thread != "" {
			msg["thread_ts"] = m.Thread
		}
		if m.Metadata != nil && v.Get("include_all_metadata") == "1" {
			msg["metadata"] = m.Metadata
		}
		out = append(out, msg)
	}
	f.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i]["ts"].(string) > out[j]["ts"].(string) })
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	writeJSON(w, map[string]any{"ok": true, "messages": out, "has_more": false})
}

func (f *fakeSlack) openConversation(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	writeJSON(w, map[string]any{"ok": true, "channel": map[string]any{"id": "D" + strings.TrimPrefix(v.Get("users"), "U")}})
}

func (f *fakeSlack) userGroups(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "usergroups": f.groups})
}

func (f *fakeSlack) openView(w http.ResponseWriter, r *http.Request) {
	var req struct {
		TriggerID string                    `json:"trigger_id"`
		View      slackapi.ModalViewRequest `json:"view"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		f.t.Errorf("views.open: %v", err)
	}
	f.mu.Lock()
	f.views = append(f.views, req.View)
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "view": map[string]any{"id": "V1", "type": "modal"}})
}

func (f *fakeSlack) uploadURL(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	f.mu.Lock()
	id := fmt.Sprintf("F%d", len(f.files)+1)
	f.files = append(f.files, fakeFile{ID: id, Name: v.Get("filename")})
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "upload_url": f.srv.GetAPIURL() + "upload/" + id, "file_id": id})
}

func (f *fakeSlack) uploadFile(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(r.URL.Path, "/upload/")
	file, _, err := r.FormFile("file")
	if err != nil {
		f.t.Errorf("upload: %v", err)
		http.Error(w, "bad upload", http.StatusBadRequest)
		return
	}
	data, _ := io.ReadAll(file)
	f.mu.Lock()
	for i := range f.files {
		if f.files[i].ID == id {
			f.files[i].Data = data
		}
	}
	f.mu.Unlock()
	io.WriteString(w, "OK - "+strconv.Itoa(len(data)))
}

func (f *fakeSlack) completeUpload(w http.ResponseWriter, r *http.Request) {
	v := form(r)
	var files []slackapi.FileSummary
	json.Unmarshal([]byte(v.Get("files")), &files)
	f.mu.Lock()
	for i := range f.files {
		for _, fs := range files {
			if f.files[i].ID == fs.ID {
				f.files[i].Channel = v.Get("channel_id")
			}
		}
	}
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true, "files": files})
}

func (f *fakeSlack) response(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.t.Errorf("response url: %v", err)
	}
	f.mu.Lock()
	f.responses = append(f.responses, fakeResponse{Path: r.URL.Path, Body: body})
	f.mu.Unlock()
	writeJSON(w, map[string]any{"ok": true})
}

func (f *fakeSlack) lookupByEmail(w http.ResponseWriter, r *http.Request) {
	if form(r).Get("email") != "bob@example.com" {
		writeJSON(w, map[string]any{"ok": false, "error": "users_not_found"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "user": map[string]any{"id": "U0BOB", "name": "bob"}})
}

func (f *fakeSlack) authTest(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{"ok": true, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1"})
}

func (f *fakeSlack) connectionsOpen(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer xapp-") {
		writeJSON(w, map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	writeJSON(w, map[string]any{"ok": true, "url": f.srv.GetWSURL()[:len(f.srv.GetWSURL())-len("/ws")] + "/socket"})
}

// socket speaks Slack's Socket Mode: hello, then envelopes sent by the
// test; acknowledgements are passed to f.acks.
func (f *fakeSlack) socket(w http.ResponseWriter, r *http.Request) {
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	c, err := up.Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("socket upgrade: %v", err)
		return
	}
	f.sockMu.Lock()
	f.sock = c
	c.WriteJSON(map[string]any{"type": "hello", "num_connections": 1})
	c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second))
	f.sockMu.Unlock()
	close(f.sockOpen)
	for {
		var a socketAck
		if err := c.ReadJSON(&a); err != nil {
			return
		}
		f.acks <- a
	}
}

// sendEnvelope sends a Socket Mode request.
func (f *fakeSlack) sendEnvelope(t *testing.T, typ, envelopeID string, payload any) {
	t.Helper()
	select {
	case <-f.sockOpen:
	case <-time.After(10 * time.Second):
		t.Fatal("socket mode client did not connect")
	}
	f.sockMu.Lock()
	defer f.sockMu.Unlock()
	err := f.sock.WriteJSON(map[string]any{"type": typ, "envelope_id": envelopeID, "payload": payload, "accepts_response_payload": typ != "events_api"})
	if err != nil {
		t.Fatalf("send envelope: %v", err)
	}
}

// awaitAck returns the next acknowledgement.
func (f *fakeSlack) awaitAck(t *testing.T) socketAck {
	t.Helper()
	select {
	case a := <-f.acks:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no socket mode acknowledgement")
	}
	return socketAck{}
}

// messages returns a copy of the channel history.
func (f *fakeSlack) messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]fakeMsg, len(f.msgs))
	for i, m := range f.msgs {
		out[i] = *m
	}
	return out
}

func (f *fakeSlack) updatesOf(ts string) []fakeUpdate {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeUpdate
	for _, u := range f.updates {
		if u.TS == ts {
			out = append(out, u)
		}
	}
	return out
}

func (f *fakeSlack) responsesCopy() []fakeResponse {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeResponse(nil), f.responses...)
}

func (f *fakeSlack) ephemeralsCopy() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]url.Values(nil), f.ephemerals...)
}

func (f *fakeSlack) viewsCopy() []slackapi.ModalViewRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackapi.ModalViewRequest(nil), f.views...)
}
