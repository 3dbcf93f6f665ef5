package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/workflows"
	"github.com/trailhound/trailhound/workflows/securityhub/shtest"
)

// crashWriteBackConfig is the crash config with the write-back on,
// pointed at the fake Security Hub.
func crashWriteBackConfig(t *testing.T, dataDir, input, discordURL, awsURL string) string {
	t.Helper()
	b, err := os.ReadFile(crashConfig(t, dataDir, input, discordURL))
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b) + fmt.Sprintf(`securityhub:
  write_back: true
  regions: [eu-west-1]
  endpoint_url: %s
  max_attempts: 1
`, awsURL)
	path := filepath.Join(t.TempDir(), "crash-writeback.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// seedAWSFindings stores alerts for n Security Hub findings in a fresh
// data directory, queued for posting, as an aws-findings poll would.
func seedAWSFindings(t *testing.T, dataDir string, n int) []detectors.External {
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
	var out []detectors.External
	var fs []detectors.Finding
	for i := 0; i < n; i++ {
		x := detectors.External{Product: "guardduty", ID: fmt.Sprintf("arn:aws:guardduty:eu-west-1:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0/finding/crash%02d", i),
			ProductArn: "arn:aws:securityhub:eu-west-1::product/aws/guardduty", DetectorID: "12abc34d567e8fa901bc2d34e56789f0",
			Account: "111122223333", Region: "eu-west-1", Type: "Recon:IAMUser/MaliciousIPCaller", Workflow: "NEW"}
		out = append(out, x)
		fs = append(fs, detectors.Finding{RuleID: "guardduty/" + x.Type, Title: fmt.Sprintf("GuardDuty finding %d", i), Severity: detectors.High,
			Time: time.Now().Add(-time.Minute), Fingerprint: "guardduty|" + x.ID, GroupKey: "guardduty|" + x.ID, Account: x.Account, Region: x.Region, External: &x})
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := st.Ingest(tx, fs)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrashWriteBack kills `trailhound run --once` with SIGKILL between
// posting a card and writing NOTIFIED back to Security Hub, twice: once
// after Discord stored the card but before the bot heard back (so the
// write was never queued), once after Security Hub applied the write but
// before the bot heard back (so the write is still queued). After
// restarts, every finding was written NOTIFIED, every card posted once,
// and the only repeated write is the one AWS applied unbeknown to the
// bot, with the same status and note: at-least-once with idempotent
// content, never a lost write or a second state change.
func TestCrashWriteBack(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs child processes")
	}
	awsEnv(t)
	const n = 3
	data, input := t.TempDir(), t.TempDir()
	findings := seedAWSFindings(t, data, n)
	chat := newCrashDiscord(t)
	aws := shtest.New(t)
	cfg := crashWriteBackConfig(t, data, input, chat.srv.URL, aws.URL)
	ctx := context.Background()

	// Run 1: Discord stores the second card; the bot dies before it hears
	// back.
	held, resume := chat.arm(2)
	killWhen(t, child(ctx, "run", "--once", "--config", cfg), held)
	close(resume)
	chat.disarm()
	if got := len(aws.Updates()); got != 0 {
		t.Fatalf("%d writes before any tick", got)
	}

	// Run 2: Security Hub applies the first write; the bot dies before it
	// hears back.
	awsHeld, awsResume := make(chan struct{}), make(chan struct{})
	first := true
	aws.OnUpdate(func(shtest.Update) {
		if first {
			first = false
			close(awsHeld)
			<-awsResume
		}
	})
	killWhen(t, child(ctx, "run", "--once", "--config", cfg), awsHeld)
	close(awsResume)
	aws.OnUpdate(nil)

	// Runs 3 and 4: finish; the last changes nothing.
	for i := 0; i < 2; i++ {
		if out, err := child(ctx, "run", "--once", "--config", cfg).CombinedOutput(); err != nil {
			t.Fatalf("final run: %v\n%s", err, out)
		}
	}
	chat.mu.Lock()
	for alert, c := range chat.cards {
		if c != 1 {
			t.Errorf("alert %s posted %d times", alert, c)
		}
	}
	if len(chat.cards) != n {
		t.Errorf("cards for %d alerts, want %d", len(chat.cards), n)
	}
	chat.mu.Unlock()

	notes := map[string][]string{}
	for _, u := range aws.Updates() {
		if u.Status != workflows.WorkflowNotified {
			t.Errorf("status %s written, want only NOTIFIED", u.Status)
		}
		for _, id := range u.Identifiers {
			notes[id.ID] = append(notes[id.ID], u.NoteText)
		}
	}
	repeated := 0
	for _, x := range findings {
		got := notes[x.ID]
		if len(got) == 0 {
			t.Errorf("finding %s never written NOTIFIED (a lost write)", x.ID)
			continue
		}
		if !strings.HasPrefix(got[0], "posted to discord #") {
			t.Errorf("note %q", got[0])
		}
		for _, nt := range got[1:] {
			if nt != got[0] {
				t.Errorf("finding %s written with notes %q: a second state change", x.ID, got)
			}
		}
		if len(got) > 1 {
			repeated++
		}
	}
	// Only the write AWS applied while the bot died is repeated.
	if repeated != 1 {
		t.Errorf("%d findings written more than once, want 1 (the one in flight at the kill): %v", repeated, notes)
	}
	if _, err := os.Stat(filepath.Join(data, "trailhound.db")); err != nil {
		t.Fatal(err)
	}
	h := writeBackHealthOf(t, data)
	if h.Pending != 0 || h.Failed != 0 {
		t.Fatalf("write-back health %+v, want nothing pending or failed", h)
	}
}

// killWhen starts cmd, waits for held and kills it with SIGKILL. The
// test fails if the run ends first.
func killWhen(t *testing.T, cmd *exec.Cmd, held <-chan struct{}) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-held:
		_ = cmd.Process.Kill()
		<-done
	case err := <-done:
		t.Fatalf("the run ended (%v) before the point where it was to be killed", err)
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatal("the run never reached the point where it was to be killed")
	}
}

// writeBackHealthOf reads the write-back health of a data directory.
func writeBackHealthOf(t *testing.T, dataDir string) workflows.WriteBackHealth {
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
	h, err := st.WriteBackHealth()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestWriteBackFailureShows: when Security Hub denies the write, `trailhound
// sources` reports the write-back as a permanent problem (text and JSON),
// and the alert's audit trail (`findings show`) names the finding and the
// error.
func TestWriteBackFailureShows(t *testing.T) {
	awsEnv(t)
	data, input := t.TempDir(), t.TempDir()
	x := seedAWSFindings(t, data, 1)[0]
	chat := newCrashDiscord(t)
	aws := shtest.New(t)
	aws.Fail(shtest.AccessDenied)
	cfg := crashWriteBackConfig(t, data, input, chat.srv.URL, aws.URL)
	if code, out, errOut := runCLI(t, "run", "--once", "--config", cfg); code != exitOK {
		t.Fatalf("run: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, "sources", "--config", cfg)
	if code != exitOK {
		t.Fatalf("sources: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"securityhub-writeback: 0 decisions waiting, 0 findings written (last success never), 1 given up; last error: securityhub: BatchUpdateFindings in eu-west-1: AccessDeniedException",
		"permanent-error: securityhub-writeback: write-back to AWS fails and retrying will not help"} {
		if !strings.Contains(out, want) {
			t.Errorf("sources output lacks %q:\n%s", want, out)
		}
	}
	_, js, _ := runCLI(t, "sources", "--config", cfg, "--format", "json")
	var rep struct {
		Problems  []struct{ Source, Kind string }
		WriteBack *workflows.WriteBackHealth `json:"writeback"`
	}
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("sources json: %v\n%s", err, js)
	}
	if rep.WriteBack == nil || !rep.WriteBack.Permanent || rep.WriteBack.Failed != 1 || len(rep.Problems) == 0 || rep.Problems[len(rep.Problems)-1].Source != writeBackName {
		t.Fatalf("sources json %s", js)
	}
	t.Logf("sources:\n%s", out)
	code, out, errOut = runCLI(t, "findings", "show", "--config", cfg, "TH-1")
	t.Logf("findings show:\n%s", out)
	if code != exitOK || !strings.Contains(out, "aws_write_failed") || !strings.Contains(out, x.ID) || !strings.Contains(out, "AccessDeniedException") {
		t.Fatalf("findings show: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestWriteBackConfigErrors: mistakes in the securityhub section name the
// key and what was wrong.
func TestWriteBackConfigErrors(t *testing.T) {
	awsEnv(t)
	for _, tc := range []struct{ name, section, want string }{
		{"no regions", "securityhub: {write_back: true}", "securityhub.regions: at least one region is required"},
		{"batch too large", "securityhub: {write_back: true, regions: [eu-west-1], batch_size: 101}", "securityhub.batch_size: must be between 1 and 100, not 101"},
		{"archive without write-back", "securityhub: {archive_false_positives: true}", "securityhub.archive_false_positives: needs write_back: true"},
		{"unknown key", "securityhub: {write_back: true, region: [eu-west-1]}", `securityhub.region: unknown key (did you mean "regions"?)`},
		{"bad region", "securityhub: {write_back: true, regions: [Ireland]}", `securityhub.regions[0]: "Ireland" is not an AWS region name`},
		{"unknown profile", "securityhub: {write_back: true, regions: [eu-west-1], profile: no-such-profile}", `securityhub: aws: load credentials of profile "no-such-profile"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte("data_dir: "+t.TempDir()+"\n"+tc.section+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, errOut := runCLI(t, "validate", path)
			if code == exitOK || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want it to contain %q", code, errOut, tc.want)
			}
		})
	}
}
