package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/bot"
)

// TestActivityWiredToAWSSources: `trailhound run` gives the chat core an
// activity lookup through the configured AWS sources, answered by the
// real LookupEvents client of the cloudtrail source in the right region;
// without an AWS source the answer says no engine is configured.
func TestActivityWiredToAWSSources(t *testing.T) {
	awsEnv(t)
	srv := lookupServer(t, "us-east-1")
	dir := t.TempDir()
	cfg, err := loadConfig(writeAWSConfig(t, dir, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srcs, err := a.buildSources(nil)
	if err != nil {
		t.Fatal(err)
	}
	svc := a.botService()
	svc.Activity = a.activityLookup(srcs)
	if svc.Activity.Reader == nil || svc.Activity.Options.MaxRows != 50 {
		t.Fatalf("activity=%+v, want a reader and the config's bounds", svc.Activity)
	}
	who := bot.Identity{Platform: "slack", UserID: "UVIEW"}
	r := svc.Run(context.Background(), who, bot.Viewer, bot.Command{Name: "activity", Principal: "root", Since: 3600e9})
	if !strings.Contains(r.Text, "`signin:ConsoleLogin` from `198.51.100.23`") || !strings.Contains(r.Text, "from CloudTrail LookupEvents") ||
		!strings.Contains(r.Text, "could not read 111111111111/us-east-1, 222222222222/us-east-1") {
		t.Fatalf("answer=%s", r.Text)
	}

	// Only a file source: nothing to read activity from, and it says so.
	path := filepath.Join(dir, "files.yaml")
	body := fmt.Sprintf("data_dir: %s\nnotify: {terminal: \"true\"}\nsources:\n  - {name: local, type: file, options: {paths: [%s]}}\n", filepath.Join(dir, "data2"), dir)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg2, err := loadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := openApp(&env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, cfg2)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	srcs, err = b.buildSources(nil)
	if err != nil {
		t.Fatal(err)
	}
	svc = b.botService()
	svc.Activity = b.activityLookup(srcs)
	r = svc.Run(context.Background(), who, bot.Viewer, bot.Command{Name: "activity", Principal: "root", Since: 3600e9})
	if !strings.Contains(r.Text, "No activity engine is configured") {
		t.Fatalf("answer without an AWS source=%s", r.Text)
	}
}
