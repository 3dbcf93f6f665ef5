package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/trailhound/trailhound/sources"
	bolt "go.etcd.io/bbolt"
)

// TestGracefulShutdown sends SIGTERM to `trailhound run` while its first
// poll is reading, and checks that the poll still finishes its window: the
// process exits cleanly with every alert stored and the checkpoint saved.
func TestGracefulShutdown(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	input := t.TempDir()
	for _, b := range crashBatches(t, 1) {
		writeBatch(t, input, b)
	}
	// The reference: the same input polled once, to completion.
	refServer := newCrashDiscord(t)
	refData := t.TempDir()
	if out, err := child(context.Background(), "run", "--once", "--config", crashConfig(t, refData, input, refServer.srv.URL)).CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	wantGroups, _ := storedAlerts(t, refData)

	server := newCrashDiscord(t)
	data := t.TempDir()
	cfgPath := crashConfig(t, data, input, server.srv.URL)
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(b, []byte("level: error"), []byte("level: info"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := child(context.Background(), "run", "--config", cfgPath)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// "trailhound running" is logged once the first polls have started;
	// stop the bot then, while it reads.
	var stderr strings.Builder
	running := make(chan struct{})
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "trailhound running") {
				close(running)
			}
		}
	}()
	select {
	case <-running:
	case <-time.After(30 * time.Second):
		t.Fatal("the bot did not start within 30s")
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-scanned
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "level=INFO msg=polled") && strings.Index(stderr.String(), "msg=polled") < strings.Index(stderr.String(), "trailhound running") {
		t.Log("the first poll ended before the signal; the test still checks a clean stop")
	}
	t.Logf("bot log:\n%s", stderr.String())
	if !strings.Contains(stderr.String(), "trailhound: stopped") {
		t.Fatalf("no clean stop:\n%s", stderr.String())
	}
	gotGroups, _ := storedAlerts(t, data)
	if len(gotGroups) != len(wantGroups) {
		t.Fatalf("alerts=%d after SIGTERM, want %d: the window was not finished", len(gotGroups), len(wantGroups))
	}
	db, err := bolt.Open(data+"/trailhound.db", 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := sources.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	if cp, err := st.Checkpoint("logs"); err != nil || cp == nil {
		t.Fatalf("checkpoint=%q err=%v: the poll did not commit its window", cp, err)
	}
}
