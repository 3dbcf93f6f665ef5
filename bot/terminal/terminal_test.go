package terminal

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/workflows"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func alert() workflows.Alert {
	at := time.Date(2023, 7, 10, 3, 12, 9, 0, time.UTC)
	f := detectors.Finding{
		RuleID: "aws-root-account-use", Title: "Root user activity", Severity: detectors.High, Technique: "T1078.004",
		Reason:         "root user called ConsoleLogin from 198.51.100.23",
		Recommendation: "Confirm with the account owner that this was planned.",
		Time:           at, Account: "111122223333", Region: "us-east-1", Service: "signin.amazonaws.com", Action: "ConsoleLogin",
		SourceIP: "198.51.100.23", UserAgent: "Mozilla/5.0", EventIDs: []string{"3b5d8f1c-0e2a-4b71-9d0c-5c2b0e6f7a01"}, EventCount: 1,
		Principal: sources.Principal{Type: "Root", Name: "root", ARN: "arn:aws:iam::111122223333:root"},
	}
	return workflows.Alert{ID: "TH-2", State: workflows.StateNew, Severity: f.Severity, Finding: f, Count: 2, FirstSeen: at, LastSeen: at.Add(2 * time.Minute)}
}

// TestNotify compares what the terminal prints for each notification kind
// with testdata/notify.golden.
func TestNotify(t *testing.T) {
	var out bytes.Buffer
	n := New(&out, false)
	a := alert()
	acked := a
	acked.State, acked.LastActor = workflows.StateAcknowledged, "slack:U0RESP"
	for _, note := range []workflows.Notification{
		{Kind: workflows.NotifyNew, Alert: a},
		{Kind: workflows.NotifyRepeat, Alert: a},
		{Kind: workflows.NotifyUpdate, Alert: acked},
		{Kind: workflows.NotifyEscalate, Alert: a},
		{Kind: workflows.NotifyDigest, Text: "Weekly digest\n", Attachment: &workflows.Attachment{Name: "chart.png", Data: []byte("png")}},
	} {
		if _, retry, err := n.Notify(context.Background(), note); err != nil || retry {
			t.Fatalf("%s: err=%v retry=%v", note.Kind, err, retry)
		}
	}
	path := filepath.Join("testdata", "notify.golden")
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("output differs from %s (run go test -update after checking):\n%s", path, out.String())
	}
}

func TestColour(t *testing.T) {
	var out bytes.Buffer
	if _, _, err := New(&out, true).Notify(context.Background(), workflows.Notification{Kind: workflows.NotifyNew, Alert: alert()}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out.Bytes(), []byte("\x1b[31m[HIGH] Root user activity\x1b[0m")) {
		t.Fatalf("no colour on a high alert: %q", out.String()[:40])
	}
}
