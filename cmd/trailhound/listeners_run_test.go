package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// runningBot is `trailhound run` in a child process, with the addresses
// its listeners bound.
type runningBot struct {
	chat, admin string
	config      string // the config file it runs on

	mu     sync.Mutex
	stderr strings.Builder
	exited chan struct{}
}

func (b *runningBot) log() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stderr.String()
}

var listeningRe = regexp.MustCompile(`msg="(chat|admin) http listening" addr=(\S+)`)

// startBot runs `trailhound run` on a config with both listeners on
// loopback ports of their own, and waits until both listen. The bot is
// stopped with SIGTERM when the test ends.
func startBot(t *testing.T, notify string) *runningBot {
	t.Helper()
	dir := t.TempDir()
	input := filepath.Join(dir, "logs")
	if err := os.Mkdir(input, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`data_dir: %s
log: {level: info}
http: {listen: "127.0.0.1:0", admin_listen: "127.0.0.1:0"}
sources:
  - name: logs
    type: file
    options: {paths: [%s]}
notify:
  terminal: "false"
%s`, filepath.Join(dir, "data"), input, notify)
	return runBot(t, dir, cfg, "chat", "admin")
}

// runBot writes cfg into dir and runs `trailhound run` on it in a child
// process, then waits until each named listener ("chat", "admin") has
// logged its address. The bot is stopped with SIGTERM when the test ends.
func runBot(t *testing.T, dir, cfg string, listeners ...string) *runningBot {
	t.Helper()
	path := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := child(context.Background(), "run", "--config", path)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &runningBot{config: path, exited: make(chan struct{})}
	listening := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pipe)
		var once sync.Once
		addrs := map[string]string{}
		for sc.Scan() {
			b.mu.Lock()
			b.stderr.WriteString(sc.Text() + "\n")
			if m := listeningRe.FindStringSubmatch(sc.Text()); m != nil {
				addrs[m[1]] = m[2]
				b.chat, b.admin = addrs["chat"], addrs["admin"]
				all := true
				for _, l := range listeners {
					all = all && addrs[l] != ""
				}
				if all {
					once.Do(func() { close(listening) })
				}
			}
			b.mu.Unlock()
		}
		_ = cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the bot did not stop within 30s")
		}
	})
	select {
	case <-listening:
	case <-b.exited:
		t.Fatalf("the bot exited:\n%s", b.log())
	case <-time.After(30 * time.Second):
		t.Fatalf("the listeners %v did not start within 30s:\n%s", listeners, b.log())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitReady polls /readyz until it answers 200, and returns the not-ready
// answers seen before.
func waitReady(t *testing.T, b *runningBot, within time.Duration) []string {
	t.Helper()
	var notReady []string
	deadline := time.Now().Add(within)
	for {
		code, body := get(t, "http://"+b.admin+"/readyz")
		if code == http.StatusOK {
			return notReady
		}
		notReady = append(notReady, body)
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d after %v: %s\n%s", code, within, body, b.log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func discordSection(apiURL string, extra string) string {
	return fmt.Sprintf(`  discord:
    bot_token: MTMwMDAwMDAwMDAwMDAwMDAwMg.GhYx1a.test-token-not-real-0123456789abcdef
    channel_id: "1100000000000000001"
    public_key: "%s"
    mode: http
    api_url: %s/api/v10/
%s`, strings.Repeat("ab", 32), apiURL, extra)
}

// TestListenersSplit runs the bot with Discord in http mode: the admin
// listener serves /healthz, /readyz and /metrics (with the chat budget
// metrics); the chat listener, which the internet reaches, serves the
// signed interactions endpoint and nothing else. Before the fix one
// listener served all of them.
func TestListenersSplit(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	discord := newCrashDiscord(t)
	b := startBot(t, discordSection(discord.srv.URL, `    application_id: "1300000000000000001"
    register_commands: false
`))
	if code, body := get(t, "http://"+b.admin+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("admin /healthz: %d %q", code, body)
	}
	waitReady(t, b, 10*time.Second)
	code, metrics := get(t, "http://"+b.admin+"/metrics")
	if code != 200 {
		t.Fatalf("admin /metrics: %d", code)
	}
	for _, name := range []string{`trailhound_chat_api_queued{platform="discord"} 0`, `trailhound_chat_updates_coalesced_total{platform="discord"} 0`, "trailhound_chat_requests_busy_total 0", "trailhound_outbox_pending"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("admin /metrics lacks %s", name)
		}
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		if code, _ := get(t, "http://"+b.chat+path); code != http.StatusNotFound {
			t.Errorf("chat listener GET %s: %d, want 404", path, code)
		}
	}
	res, err := http.Post("http://"+b.chat+"/discord/interactions", "application/json", strings.NewReader(`{"type":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("chat listener unsigned interaction: %d, want 401", res.StatusCode)
	}
}

// TestRunWaitsForDiscord starts the bot while Discord's API drops every
// connection for its first two start-up calls: the bot keeps running,
// /readyz answers 503 naming Discord and the URL actually called (the
// api_url, not https://discord.com/api/v9/...), and once the API answers
// the bot registers its command and becomes ready. Before the fix `run`
// exited at once with "discord: look up the application ... discord.com".
func TestRunWaitsForDiscord(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	var calls, registered atomic.Int32
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case calls.Add(1) <= 2:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		case r.Method == "GET" && r.URL.Path == "/api/v10/oauth2/applications/@me":
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"1300000000000000001","name":"Trailhound"}`)
		case r.Method == "PUT" && strings.HasSuffix(r.URL.Path, "/commands"):
			registered.Add(1)
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, "[]")
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	b := startBot(t, discordSection(api.URL, ""))
	notReady := waitReady(t, b, 20*time.Second)
	if len(notReady) == 0 {
		t.Fatal("ready before Discord answered")
	}
	want := api.URL + "/api/v10/oauth2/applications/@me"
	named := ""
	for _, body := range notReady {
		if strings.Contains(body, "discord: ") && strings.Contains(body, want) {
			named = body
		}
	}
	if named == "" {
		t.Errorf("/readyz while Discord is down: %q, want an answer naming discord and %s", notReady, want)
	}
	t.Logf("/readyz while Discord is down: %s", named)
	if strings.Contains(b.log(), "discord.com/api") {
		t.Errorf("the log names discord.com instead of the URL called:\n%s", b.log())
	}
	if registered.Load() != 1 {
		t.Errorf("/trailhound registered %d times, want 1", registered.Load())
	}
	select {
	case <-b.exited:
		t.Fatalf("the bot exited:\n%s", b.log())
	default:
	}
}
