package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/workflows"
)

// childArgsEnv makes the test binary act as the trailhound binary, so the
// crash test can run and SIGKILL real processes without building one.
const childArgsEnv = "TRAILHOUND_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Exit(realMain(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, strings.Split(args, "\x1f")))
	}
	os.Exit(m.Run())
}

// crashDiscord is a Discord REST API as far as the notifier uses it:
// messages are created (deduplicated by nonce with enforce_nonce, as
// Discord does), edited, listed newest first, and threads started. It can
// hold the response to the n-th message it creates until the test has
// killed the client, so the message exists but the client never learns it.
type crashDiscord struct {
	srv *httptest.Server

	mu       sync.Mutex
	nextID   int64
	nonces   map[string]string
	messages map[string][]map[string]any // channel -> messages, newest first
	cards    map[string]int              // alert id -> card messages created
	creates  int
	// log lists the creates: time, card marker, held or not, for
	// failure messages.
	log []string

	// holdAt, when > 0, holds the response of the holdAt-th create.
	holdAt int
	held   chan struct{} // closed when the held create has been stored
	resume chan struct{} // closed by the test after the kill
}

var cardMarkerRe = regexp.MustCompile(`TH-\d+`)

func newCrashDiscord(t *testing.T) *crashDiscord {
	f := &crashDiscord{nextID: 1700000000000000000, nonces: map[string]string{}, messages: map[string][]map[string]any{}, cards: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *crashDiscord) serve(w http.ResponseWriter, r *http.Request) {
	path := strings.TrimPrefix(r.URL.Path, "/api/v10")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(v)
	}
	body, _ := io.ReadAll(r.Body)
	switch {
	case r.Method == http.MethodPost && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
			http.Error(w, `{"message":"attachments not expected in this test","code":0}`, http.StatusBadRequest)
			return
		}
		var m struct {
			Nonce        string `json:"nonce"`
			EnforceNonce bool   `json:"enforce_nonce"`
			Embeds       []struct {
				Footer struct {
					Text string `json:"text"`
				} `json:"footer"`
			} `json:"embeds"`
			Content string `json:"content"`
		}
		if err := json.Unmarshal(body, &m); err != nil {
			http.Error(w, `{"message":"bad json","code":50109}`, http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		if id, ok := f.nonces[m.Nonce]; ok && m.EnforceNonce && m.Nonce != "" {
			f.mu.Unlock()
			reply(map[string]any{"id": id, "channel_id": parts[1], "nonce": m.Nonce})
			return
		}
		f.nextID++
		id := fmt.Sprint(f.nextID)
		if m.Nonce != "" {
			f.nonces[m.Nonce] = id
		}
		msg := map[string]any{"id": id, "channel_id": parts[1], "nonce": m.Nonce, "content": m.Content, "timestamp": time.Now().UTC().Format(time.RFC3339),
			"author": map[string]any{"id": "1300000000000000002", "username": "Trailhound", "bot": true}, "embeds": json.RawMessage(mustJSON(m.Embeds))}
		f.messages[parts[1]] = append([]map[string]any{msg}, f.messages[parts[1]]...)
		for _, e := range m.Embeds {
			if alert := cardMarkerRe.FindString(e.Footer.Text); alert != "" {
				f.cards[alert]++
			}
		}
		f.creates++
		hold := f.holdAt > 0 && f.creates == f.holdAt
		marker := ""
		for _, e := range m.Embeds {
			marker += cardMarkerRe.FindString(e.Footer.Text)
		}
		f.log = append(f.log, fmt.Sprintf("%s create %d (%s) from %s held=%v", time.Now().Format("15:04:05.000"), f.creates, marker, r.RemoteAddr, hold))
		held, resume := f.held, f.resume
		f.mu.Unlock()
		if hold {
			close(held)
			<-resume // the client is dead by now: it never sees this answer
		}
		reply(msg)
	case r.Method == http.MethodGet && len(parts) == 3 && parts[0] == "channels" && parts[2] == "messages":
		f.mu.Lock()
		msgs := f.messages[parts[1]]
		if len(msgs) > 100 {
			msgs = msgs[:100]
		}
		out := mustJSON(msgs)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	case r.Method == http.MethodPatch && len(parts) == 4 && parts[0] == "channels" && parts[2] == "messages":
		reply(map[string]any{"id": parts[3], "channel_id": parts[1]})
	case r.Method == http.MethodPost && len(parts) == 5 && parts[4] == "threads":
		reply(map[string]any{"id": parts[3], "type": 11, "parent_id": parts[1]})
	default:
		http.Error(w, `{"message":"404: Not Found","code":0}`, http.StatusNotFound)
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *crashDiscord) arm(n int) (held, resume chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdAt, f.held, f.resume = f.creates+n, make(chan struct{}), make(chan struct{})
	return f.held, f.resume
}

// createLog returns the log of creates, a line each.
func (f *crashDiscord) createLog() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.log, "\n")
}

func (f *crashDiscord) disarm() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holdAt = 0
}

// crashBatches returns the crash test's input in batches: the bundled
// samples and, when present, the real datasets (the invictus records split
// into chunks), spread over n batches. Each file is named so that batches
// sort in order, so reading batch by batch reads events in the same order
// as reading them all at once.
func crashBatches(t *testing.T, n int) [][]crashFile {
	t.Helper()
	var files []crashFile
	add := func(pattern string) {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if strings.HasSuffix(p, ".jsonl") && len(b) > 64<<10 {
				lines := strings.SplitAfter(string(b), "\n")
				per := (len(lines) + n - 1) / n
				for i := 0; i*per < len(lines); i++ {
					chunk := strings.Join(lines[i*per:min(len(lines), (i+1)*per)], "")
					files = append(files, crashFile{fmt.Sprintf("%s.%02d.jsonl", filepath.Base(p), i), []byte(chunk)})
				}
				continue
			}
			files = append(files, crashFile{filepath.Base(p), b})
		}
	}
	add(repoFile(t, "configs/samples/*.json*"))
	add(filepath.Join(repoRoot, "..", "shared", "data", "stratus_red_team_detonation_logs", "*.json"))
	add(filepath.Join(repoRoot, "..", "shared", "data", "invictus_sigma_aws_stratus", "invictus_sigma_aws_stratus.jsonl"))
	batches := make([][]crashFile, n)
	for i, f := range files {
		b := i * n / len(files)
		f.name = fmt.Sprintf("b%02d-%s", b, f.name)
		batches[b] = append(batches[b], f)
	}
	return batches
}

type crashFile struct {
	name string
	data []byte
}

func writeBatch(t *testing.T, dir string, batch []crashFile) {
	t.Helper()
	for _, f := range batch {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func crashConfig(t *testing.T, dataDir, input, apiURL string) string {
	t.Helper()
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: error}
http: {listen: "127.0.0.1:0"}
sources:
  - name: logs
    type: file
    options: {paths: [%s]}
detectors:
  # Whether a source counts as silent depends on the wall clock, not on
  # the logs, so runs at different moments legitimately differ.
  disable: [trailhound-source-silent]
notify:
  terminal: "false"
  discord:
    bot_token: MTMwMDAwMDAwMDAwMDAwMDAwMg.GhYx1a.test-token-not-real-0123456789abcdef
    application_id: "1300000000000000001"
    channel_id: "1100000000000000001"
    public_key: "%s"
    mode: http
    register_commands: false
    api_url: %s/api/v10/
`, dataDir, input, strings.Repeat("ab", 32), apiURL)
	path := filepath.Join(t.TempDir(), "crash.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func child(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

// storedAlerts reads the alerts a data directory holds: group key -> count.
func storedAlerts(t *testing.T, dataDir string) (map[string]int, int) {
	t.Helper()
	db, err := bolt.Open(filepath.Join(dataDir, "trailhound.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := workflows.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	alerts, err := st.List(workflows.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	groups := map[string]int{}
	posted := 0
	for _, a := range alerts {
		if _, dup := groups[a.Finding.GroupKey+"|"+a.FirstSeen.String()]; dup {
			t.Fatalf("two alerts for group %s", a.Finding.GroupKey)
		}
		groups[a.Finding.GroupKey+"|"+a.FirstSeen.String()] = a.Count
		if a.State != workflows.StateSuppressed {
			posted++
		}
	}
	return groups, posted
}

// TestCrashSafety kills `trailhound run --once` with SIGKILL 20 times, at
// random points while it scans and while it posts (after Discord stored a
// message but before the bot heard back), restarts it each time, and then
// checks that the findings stored and the cards posted are exactly those
// of a run that was never interrupted: every finding once, every alert
// posted once.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs 20+ processes")
	}
	const runs = 20
	batches := crashBatches(t, runs)
	ctx := context.Background()

	// The reference: one uninterrupted run over every batch.
	refInput := t.TempDir()
	for _, b := range batches {
		writeBatch(t, refInput, b)
	}
	refServer := newCrashDiscord(t)
	refData := t.TempDir()
	start := time.Now()
	if out, err := child(ctx, "run", "--once", "--config", crashConfig(t, refData, refInput, refServer.srv.URL)).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	perBatch := time.Since(start) / runs * 2
	wantGroups, wantPosted := storedAlerts(t, refData)
	if wantPosted == 0 || len(refServer.cards) != wantPosted {
		t.Fatalf("reference run posted %d cards for %d alerts", len(refServer.cards), wantPosted)
	}
	t.Logf("reference: %d alerts, %d posted, %d messages", len(wantGroups), wantPosted, refServer.creates)

	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	server := newCrashDiscord(t)
	data, input := t.TempDir(), t.TempDir()
	cfg := crashConfig(t, data, input, server.srv.URL)
	kills, postKills := 0, 0
	for i := 0; i < runs; i++ {
		// Each run has new logs to read, and the backlog of killed runs.
		writeBatch(t, input, batches[i])
		cmd := child(ctx, "run", "--once", "--config", cfg)
		done := make(chan error, 1)
		var held, resume chan struct{}
		if i%2 == 1 {
			// While posting: Discord stores the n-th message of this run,
			// then the bot dies before it hears back.
			held, resume = server.arm(1 + rng.IntN(3))
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { done <- cmd.Wait() }()
		var kill <-chan time.Time
		if held == nil {
			// While scanning, or wherever it is: a random moment.
			kill = time.After(time.Duration(rng.Int64N(int64(perBatch) + 1)))
		}
		select {
		case <-kill:
			_ = cmd.Process.Kill()
			<-done
			kills++
		case <-held:
			_ = cmd.Process.Kill()
			<-done
			kills++
			postKills++
		case <-done:
		}
		if resume != nil {
			close(resume)
		}
		server.disarm()
	}
	// Let it finish, twice: the second run must change nothing.
	for i := 0; i < 2; i++ {
		if out, err := child(ctx, "run", "--once", "--config", cfg).CombinedOutput(); err != nil {
			t.Fatalf("final run: %v\n%s", err, out)
		}
	}
	t.Logf("%d of %d runs killed, %d of them after Discord stored a message the bot never heard back about", kills, runs, postKills)
	if kills < 10 {
		t.Fatalf("only %d runs were killed; the test did not exercise crashes", kills)
	}
	checkAgainst(t, data, server, wantGroups, wantPosted)
}
