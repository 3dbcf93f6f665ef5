package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// syncBuffer is a bytes.Buffer safe for the bot's goroutines.
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

// TestCLIWhileBotRuns: while a bot holds the database, the commands that
// read or change alerts and tasks go through its admin socket; changes
// leave the same audit entries as a button press and are delivered at
// once; commands that need the database alone say the bot holds it.
func TestCLIWhileBotRuns(t *testing.T) {
	dir := inTempDir(t)
	if code, out, errOut := runCLI(t, "scan", "--no-notify"); code != exitOK {
		t.Fatalf("scan: exit=%d\n%s\n%s", code, out, errOut)
	}
	// The bot, as `trailhound run` starts it.
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	var botOut, botLog syncBuffer
	a, err := openApp(&env{stdout: &botOut, stderr: &botLog, getenv: func(string) string { return "" }}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			a.Close()
		}
	}()
	notifiers, err := a.buildNotifiers(&botOut)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.serveAdmin(ctx, notifiers); err != nil {
		t.Fatal(err)
	}
	a.dispatch(ctx, notifiers) // what the scan left in the outbox
	sock := filepath.Join(dir, "trailhound-data", "trailhound.sock")
	if fi, err := os.Stat(sock); err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("admin socket %s: %v, mode %v; want a socket of mode 0600", sock, err, fi.Mode())
	}

	start := time.Now()
	code, out, errOut := runCLI(t, "findings", "--severity", "high")
	if code != exitOK || !strings.Contains(out, "aws-root-account-use") {
		t.Fatalf("findings while the bot runs: exit=%d\n%s\n%s", code, out, errOut)
	}
	if took := time.Since(start); took > 1500*time.Millisecond {
		t.Fatalf("findings took %v: it waited for the database lock", took)
	}
	id := regexp.MustCompile(`TH-\d+`).FindString(out)
	reads := [][]string{
		{"findings", "show", id},
		{"sources", "--format", "json"},
		{"tasks", "--state", "all"},
		{"digest", "--since", "7d"},
	}
	for _, args := range reads {
		if code, out, errOut := runCLI(t, args...); code != exitOK || out == "" {
			t.Fatalf("%v while the bot runs: exit=%d\n%s\n%s", args, code, out, errOut)
		}
	}
	// The chart comes back to the caller's file.
	chart := filepath.Join(t.TempDir(), "week.png")
	if code, _, errOut := runCLI(t, "digest", "--chart", chart); code != exitOK {
		t.Fatalf("digest --chart: exit=%d\n%s", code, errOut)
	}
	if b, err := os.ReadFile(chart); err != nil {
		t.Fatalf("chart not written: %v", err)
	} else if _, err := png.Decode(bytes.NewReader(b)); err != nil {
		t.Fatalf("chart: %v", err)
	}

	// Changes go through the bot: audited as from the command line, and
	// delivered (the terminal shows the redrawn card) before the command
	// returns.
	before := len(botOut.String())
	writes := []struct {
		args []string
		want string
	}{
		{[]string{"ack", id, "--as", "alice", "--note", "on it"}, id + " is now acknowledged"},
		{[]string{"task", "open", id, "--assignee", "slack:U0DEV", "--due", "3d", "--as", "alice"}, "T-1 opened for " + id},
		{[]string{"task", "set", "T-1", "done", "--note", "fixed", "--as", "alice"}, "T-1 is now done"},
		{[]string{"resolve", id, "--false-positive", "--as", "alice"}, id + " is now resolved"},
		{[]string{"silence", "aws-ssm-start-session", "2h", "maintenance", "--as", "alice"}, "cli:alice silenced"},
	}
	for _, w := range writes {
		code, out, errOut := runCLI(t, w.args...)
		if code != exitOK || !strings.Contains(out, w.want) {
			t.Fatalf("%v: exit=%d, want %q\n%s\n%s", w.args, code, w.want, out, errOut)
		}
		if n, err := a.alerts.Pending(); err != nil || n != 0 {
			t.Fatalf("%v: %d outbox items left (err %v): the change was not delivered", w.args, n, err)
		}
	}
	if len(botOut.String()) == before {
		t.Fatalf("the bot redrew no card")
	}
	audit, err := a.alerts.AuditLog(id)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range audit {
		if en.Actor == "cli:alice" {
			actions = append(actions, en.Action)
		}
	}
	if got := strings.Join(actions, ","); got != "acknowledge,task_opened,task_status,false_positive" {
		t.Fatalf("audit by cli:alice=%s", got)
	}

	// A command that needs the database alone says who holds it.
	code, _, errOut = runCLI(t, "scan", "--no-notify")
	if code != exitError || !strings.Contains(errOut, "is held by the running bot (trailhound run)") {
		t.Fatalf("scan while the bot runs: exit=%d\n%s", code, errOut)
	}

	// Once the bot stops, the socket is gone and commands open the file.
	closed = true
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	if code, out, errOut = runCLI(t, "findings", "show", id); code != exitOK || !strings.Contains(out, "cli:alice") {
		t.Fatalf("findings show after the bot stopped: exit=%d\n%s\n%s", code, out, errOut)
	}
}

// TestReadersShareTheDatabase: commands that only read open the database
// read-only, so they run beside another reader.
func TestReadersShareTheDatabase(t *testing.T) {
	dir := inTempDir(t)
	runCLI(t, "scan", "--no-notify")
	db, err := bolt.Open(filepath.Join(dir, "trailhound-data", "trailhound.db"), 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, args := range [][]string{{"findings"}, {"sources"}, {"tasks"}, {"digest"}, {"task", "show", "T-1"}} {
		code, out, errOut := runCLI(t, args...)
		if strings.Contains(errOut, "in use") || code != exitOK && !strings.Contains(errOut, "no task T-1") {
			t.Fatalf("%v beside a reader: exit=%d\n%s\n%s", args, code, out, errOut)
		}
	}
	// A command that writes still needs the database alone.
	if code, _, errOut := runCLI(t, "ack", "TH-1"); code != exitError || !strings.Contains(errOut, "in use by another trailhound process") {
		t.Fatalf("ack beside a reader: exit=%d\n%s", code, errOut)
	}
}

// TestAdminSocketLongPath: a data directory too deep for a socket address
// still gets its admin socket.
func TestAdminSocketLongPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), strings.Repeat("d", 60), strings.Repeat("e", 60))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "trailhound.yaml")
	if err := os.WriteFile(cfg, []byte("data_dir: ./data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(&env{stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}, getenv: func(string) string { return "" }}, c)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.serveAdmin(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if !botAnswers(c) {
		t.Fatal("no answer on the admin socket")
	}
	if code, out, errOut := runCLI(t, "findings", "--config", cfg); code != exitOK || !strings.Contains(out, "no alerts match") {
		t.Fatalf("findings: exit=%d\n%s\n%s", code, out, errOut)
	}
}

// TestRunServesAdminSocket: `trailhound run` opens the admin socket, so
// `trailhound findings` works beside it, and removes it when it stops.
func TestRunServesAdminSocket(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "trailhound.yaml")
	body := "data_dir: ./data\nlog: {level: info}\nnotify: {terminal: \"false\"}\nsources:\n  - name: samples\n    type: file\n    options: {paths: [" + repoFile(t, "configs/samples") + "]}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := child(context.Background(), "run", "--config", cfg)
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sock := filepath.Join(dir, "data", "trailhound.sock")
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "trailhound running") {
		if time.Now().After(deadline) {
			t.Fatalf("the bot did not start:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := os.Stat(sock); err != nil {
		t.Fatalf("no admin socket while the bot runs: %v\n%s", err, stderr.String())
	}
	// The first poll may still be storing: the command waits its turn.
	code, out, errOut := runCLI(t, "sources", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "samples") {
		t.Fatalf("sources while the bot runs: exit=%d\n%s\n%s", code, out, errOut)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("admin socket left behind: %v", err)
	}
}
