package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	awssrc "github.com/trailhound/trailhound/sources/aws"
	"github.com/trailhound/trailhound/workflows"
	"github.com/trailhound/trailhound/workflows/securityhub"
	"github.com/trailhound/trailhound/workflows/securityhub/shtest"
)

// wbEnv is a real store on a bbolt file, a fixed clock, the real Security
// Hub and GuardDuty clients, and the fake AWS server they talk to.
type wbEnv struct {
	store  *workflows.Store
	aws    *shtest.Server
	sender *workflows.WriteBackSender
	now    time.Time
}

// newWBEnv starts the fake and builds the sender. sdkAttempts is how many
// times the SDK's retryer tries one call before our queue takes over.
func newWBEnv(t *testing.T, settings workflows.WriteBackSettings, sdkAttempts int) *wbEnv {
	t.Helper()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	db, err := bolt.Open(filepath.Join(t.TempDir(), "wb.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := workflows.NewStore(db)
	if err != nil {
		t.Fatal(err)
	}
	e := &wbEnv{store: s, aws: shtest.New(t), now: time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)}
	s.Now = func() time.Time { return e.now }
	s.WriteBack = settings
	opts := securityhub.Options{WriteBack: true, BatchSize: 100, Options: awssrc.Options{
		Regions: []string{"eu-west-1", "us-east-1"}, EndpointURL: e.aws.URL, MaxAttempts: sdkAttempts, MaxBackoff: configs.Duration(time.Millisecond)}}
	w, err := securityhub.New(context.Background(), opts, configs.Section{})
	if err != nil {
		t.Fatal(err)
	}
	e.sender = &workflows.WriteBackSender{Store: s, Writer: w, BatchSize: opts.BatchSize, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	return e
}

// ext returns a Security Hub finding homed in a region.
func ext(id, region string) detectors.External {
	return detectors.External{Product: "securityhub", ID: "arn:aws:securityhub:" + region + ":111122223333:subscription/aws-foundational-security-best-practices/v/1.0.0/IAM.6/finding/" + id,
		ProductArn: "arn:aws:securityhub:" + region + "::product/aws/securityhub", Account: "111122223333", Region: region, Workflow: "NEW"}
}

// gdExt returns a GuardDuty finding as Security Hub names it.
func gdExt(id string) detectors.External {
	return detectors.External{Product: "guardduty", ID: "arn:aws:guardduty:eu-west-1:111122223333:detector/12abc34d567e8fa901bc2d34e56789f0/finding/" + id,
		ProductArn: "arn:aws:securityhub:eu-west-1::product/aws/guardduty", Account: "111122223333", Region: "eu-west-1",
		DetectorID: "12abc34d567e8fa901bc2d34e56789f0", Type: "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"}
}

// ingest stores one finding made from an AWS finding and returns its
// alert.
func (e *wbEnv) ingest(t *testing.T, x detectors.External) workflows.Alert {
	t.Helper()
	f := detectors.Finding{RuleID: x.Product + "/" + x.Type, Title: "AWS finding " + x.ID, Severity: detectors.High,
		Time: e.now, Fingerprint: x.Product + "|" + x.ID, GroupKey: x.Product + "|" + x.ID, Account: x.Account, Region: x.Region, External: &x}
	var res workflows.IngestResult
	err := e.store.DB().Update(func(tx *bolt.Tx) error {
		var err error
		res, err = e.store.Ingest(tx, []detectors.Finding{f})
		return err
	})
	if err != nil || len(res.New) != 1 {
		t.Fatalf("ingest: %v (%d new)", err, len(res.New))
	}
	return res.New[0]
}

// send runs the sender once, then moves the clock past any backoff.
func (e *wbEnv) send(t *testing.T) int {
	t.Helper()
	n, err := e.sender.Send(context.Background())
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	e.now = e.now.Add(time.Hour)
	return n
}

func (e *wbEnv) apply(t *testing.T, c workflows.Change) {
	t.Helper()
	if _, err := e.store.Apply(c); err != nil {
		t.Fatalf("apply %s: %v", c.Action, err)
	}
}

func auditActions(t *testing.T, s *workflows.Store, id string) map[string][]workflows.AuditEntry {
	t.Helper()
	log, err := s.AuditLog(id)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]workflows.AuditEntry{}
	for _, e := range log {
		out[e.Action] = append(out[e.Action], e)
	}
	return out
}

// postNotifier posts every new card as a message of its own.
type postNotifier struct {
	name  string
	posts int
}

func (p *postNotifier) Name() string { return p.name }

func (p *postNotifier) Notify(_ context.Context, n workflows.Notification) (workflows.MessageRef, bool, error) {
	if n.Kind != workflows.NotifyNew {
		return n.Ref, false, nil
	}
	p.posts++
	return workflows.MessageRef{Channel: "C0SEC", MessageID: fmt.Sprintf("%s-%d", p.name, p.posts)}, false, nil
}

// TestWriteBackLifecycle: each row of the table writes its
// workflow status and note to the alert's findings, in order.
func TestWriteBackLifecycle(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	x := ext("a1", "eu-west-1")
	a := e.ingest(t, x)
	// Two chat platforms post the card: AWS hears of it once.
	d := &workflows.Dispatcher{Store: e.store, Notifiers: []workflows.Notifier{&postNotifier{name: "slack"}, &postNotifier{name: "discord"}}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		change *workflows.Change
		status string
		note   string
	}{
		{"card posted", nil, "NOTIFIED", "posted to slack #C0SEC as " + a.ID},
		{"acknowledge", &workflows.Change{Action: workflows.ActionAcknowledge, Actor: "slack:U01ALICE"}, "NOTIFIED", a.ID + " acknowledged by slack:U01ALICE in Trailhound"},
		{"resolve", &workflows.Change{Action: workflows.ActionResolve, Actor: "slack:U01ALICE", Note: "rotated the key"}, "RESOLVED", a.ID + " resolved by slack:U01ALICE in Trailhound: rotated the key"},
		{"reopen", &workflows.Change{Action: workflows.ActionReopen, Actor: "discord:42"}, "NEW", a.ID + " reopened by discord:42 in Trailhound"},
		{"false positive", &workflows.Change{Action: workflows.ActionFalsePositive, Actor: "discord:42", Note: "pen test"}, "SUPPRESSED", a.ID + " marked a false positive by discord:42 in Trailhound: pen test"},
		{"reopen again", &workflows.Change{Action: workflows.ActionReopen, Actor: "discord:42"}, "NEW", a.ID + " reopened by discord:42 in Trailhound"},
		{"suppress", &workflows.Change{Action: workflows.ActionSuppress, Actor: "cli:bob", Note: "known scanner", Until: e.now.Add(48 * time.Hour)}, "SUPPRESSED", a.ID + " suppressed by cli:bob in Trailhound: known scanner (until 2026-12-08T10:00:00Z)"},
	}
	for i, st := range steps {
		if st.change != nil {
			st.change.AlertID = a.ID
			e.apply(t, *st.change)
		}
		if n := e.send(t); n != 1 {
			t.Fatalf("%s: wrote %d findings, want 1", st.name, n)
		}
		ups := e.aws.Updates()
		if len(ups) != i+1 {
			t.Fatalf("%s: %d updates, want %d", st.name, len(ups), i+1)
		}
		u := ups[i]
		if u.Status != st.status || u.NoteText != st.note || u.Region != "eu-west-1" {
			t.Errorf("%s: status=%q note=%q region=%q, want %q %q eu-west-1", st.name, u.Status, u.NoteText, u.Region, st.status, st.note)
		}
		if len(u.Identifiers) != 1 || u.Identifiers[0].ID != x.ID || u.Identifiers[0].ProductArn != x.ProductArn {
			t.Errorf("%s: identifiers=%+v, want the finding", st.name, u.Identifiers)
		}
		if st.change != nil && u.UpdatedBy != "Trailhound ("+st.change.Actor+")" {
			t.Errorf("%s: updated by %q", st.name, u.UpdatedBy)
		}
	}
	// Escalation is not a Security Hub status: nothing is written.
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionReopen, Actor: "cli:bob"})
	e.send(t)
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionEscalate, Actor: "cli:bob"})
	before := len(e.aws.Updates())
	e.send(t)
	if got := len(e.aws.Updates()); got != before {
		t.Fatalf("escalate wrote %d updates", got-before)
	}
	if got := len(auditActions(t, e.store, a.ID)["aws_written"]); got != len(steps)+1 {
		t.Fatalf("aws_written audit entries=%d, want %d", got, len(steps)+1)
	}
}

// TestWriteBackOff: without the setting, and for alerts of our own
// findings, nothing is queued.
func TestWriteBackOff(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{}, 1)
	a := e.ingest(t, ext("off", "eu-west-1"))
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	e.store.WriteBack.Enabled = true
	own := detectors.Finding{RuleID: "trailhound-root-use", Title: "root", Severity: detectors.High, Time: e.now, Fingerprint: "own", GroupKey: "own"}
	_ = e.store.DB().Update(func(tx *bolt.Tx) error { _, err := e.store.Ingest(tx, []detectors.Finding{own}); return err })
	b, err := e.store.FindByFingerprint("own")
	if err != nil {
		t.Fatal(err)
	}
	e.apply(t, workflows.Change{AlertID: b.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	if h, _ := e.store.WriteBackHealth(); h.Pending != 0 {
		t.Fatalf("pending=%d, want 0", h.Pending)
	}
	e.send(t)
	if e.aws.Requests() != 0 {
		t.Fatalf("%d requests to AWS", e.aws.Requests())
	}
}

// TestWriteBackBatchesByRegion: an alert holding 250 findings in two
// regions is written in calls of at most 100, each to its region.
func TestWriteBackBatchesByRegion(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("f000", "eu-west-1"))
	for i := 1; i < 250; i++ {
		region := "eu-west-1"
		if i%10 == 0 {
			region = "us-east-1"
		}
		a.External = append(a.External, ext(fmt.Sprintf("f%03d", i), region))
	}
	if err := workflows.PutAlertForTest(e.store, &a); err != nil {
		t.Fatal(err)
	}
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob", Note: "fixed"})
	if n := e.send(t); n != 250 {
		t.Fatalf("wrote %d, want 250", n)
	}
	var got []string
	seen := map[string]int{}
	for _, u := range e.aws.Updates() {
		got = append(got, fmt.Sprintf("%s:%d", u.Region, len(u.Identifiers)))
		for _, id := range u.Identifiers {
			seen[id.ID]++
			if !strings.Contains(id.ID, ":"+u.Region+":") {
				t.Errorf("finding %s written in %s", id.ID, u.Region)
			}
		}
	}
	if want := "eu-west-1:100 eu-west-1:100 eu-west-1:26 us-east-1:24"; strings.Join(got, " ") != want {
		t.Fatalf("calls %s, want %s", strings.Join(got, " "), want)
	}
	if len(seen) != 250 {
		t.Fatalf("%d distinct findings written, want 250", len(seen))
	}
}

// TestWriteBackRetries: throttling and server errors are retried by the
// SDK within a call, and what still fails stays queued with a backoff
// until it succeeds.
func TestWriteBackRetries(t *testing.T) {
	t.Run("sdk retryer", func(t *testing.T) {
		e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 3)
		a := e.ingest(t, ext("r1", "eu-west-1"))
		e.aws.Fail(shtest.Throttle, shtest.ServerError)
		e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
		if n := e.send(t); n != 1 {
			t.Fatalf("wrote %d, want 1", n)
		}
		if got := e.aws.Requests(); got != 3 {
			t.Fatalf("requests=%d, want 3 (throttled, 500, ok)", got)
		}
	})
	t.Run("persisted queue", func(t *testing.T) {
		e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
		a := e.ingest(t, ext("r2", "eu-west-1"))
		e.aws.Fail(shtest.Throttle, shtest.ServerError)
		e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
		// A later decision about the same alert waits for the first.
		e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionReopen, Actor: "cli:bob"})
		saved := e.now
		if n, err := e.sender.Send(context.Background()); n != 0 || err != nil {
			t.Fatalf("throttled send wrote %d (%v)", n, err)
		}
		// Not due yet: nothing is tried.
		if n, _ := e.sender.Send(context.Background()); n != 0 || e.aws.Requests() != 1 {
			t.Fatalf("retried before its backoff: wrote %d, %d requests", n, e.aws.Requests())
		}
		e.now = saved.Add(time.Hour)
		if n := e.send(t); n != 0 {
			t.Fatalf("500 send wrote %d", n)
		}
		if h, _ := e.store.WriteBackHealth(); h.Pending != 2 || h.LastError == "" || h.Permanent {
			t.Fatalf("health=%+v, want 2 pending and a passing error", h)
		}
		if n := e.send(t); n != 2 {
			t.Fatalf("wrote %d, want 2", n)
		}
		var order []string
		for _, u := range e.aws.Updates() {
			order = append(order, u.Status)
		}
		if strings.Join(order, ",") != "RESOLVED,NEW" {
			t.Fatalf("order %v, want RESOLVED then NEW", order)
		}
		if h, _ := e.store.WriteBackHealth(); h.Pending != 0 || h.LastError != "" || h.Written != 2 {
			t.Fatalf("health=%+v", h)
		}
	})
}

// TestWriteBackPartialFailure: of one call's findings, only the
// unprocessed retryable one is sent again; the permanent one is given up
// with an audit entry and counted in the health record.
func TestWriteBackPartialFailure(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	busy, gone, fine := ext("busy", "eu-west-1"), ext("gone", "eu-west-1"), ext("fine", "eu-west-1")
	a := e.ingest(t, fine)
	a.External = []detectors.External{fine, busy, gone}
	if err := workflows.PutAlertForTest(e.store, &a); err != nil {
		t.Fatal(err)
	}
	e.aws.Unprocess(busy.ID, "ConcurrentUpdateError")
	e.aws.Unprocess(gone.ID, "FindingNotFound!")
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	if n := e.send(t); n != 1 {
		t.Fatalf("first send wrote %d, want 1", n)
	}
	if n := e.send(t); n != 1 {
		t.Fatalf("second send wrote %d, want 1", n)
	}
	ups := e.aws.Updates()
	if len(ups) != 2 || len(ups[1].Identifiers) != 1 || ups[1].Identifiers[0].ID != busy.ID {
		t.Fatalf("updates=%+v, want the second to retry only %s", ups, busy.ID)
	}
	if w := e.aws.Written(); len(w[fine.ID]) != 1 || len(w[busy.ID]) != 1 || len(w[gone.ID]) != 0 {
		t.Fatalf("written=%v", w)
	}
	failed := auditActions(t, e.store, a.ID)["aws_write_failed"]
	if len(failed) != 1 || !strings.Contains(failed[0].Note, gone.ID+": FindingNotFound: Finding Not Found") {
		t.Fatalf("aws_write_failed=%+v, want one naming %s and FindingNotFound", failed, gone.ID)
	}
	h, err := e.store.WriteBackHealth()
	if err != nil {
		t.Fatal(err)
	}
	if h.Failed != 1 || h.Pending != 0 || h.Written != 2 {
		t.Fatalf("health=%+v, want 1 failed, 2 written", h)
	}
	// The last success came after the failure: no standing problem.
	if p, bad := h.Problem(); bad {
		t.Fatalf("problem %q after a later success", p)
	}
}

// TestWriteBackPermanentFailure: access denied is not retried; the alert's
// audit trail and the health record say so.
func TestWriteBackPermanentFailure(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 5)
	a := e.ingest(t, ext("denied", "eu-west-1"))
	e.aws.Fail(shtest.AccessDenied)
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	if n := e.send(t); n != 0 {
		t.Fatalf("wrote %d", n)
	}
	if e.aws.Requests() != 1 {
		t.Fatalf("requests=%d, want 1: access denied is not retried", e.aws.Requests())
	}
	failed := auditActions(t, e.store, a.ID)["aws_write_failed"]
	if len(failed) != 1 || !strings.Contains(failed[0].Note, "AccessDeniedException") {
		t.Fatalf("aws_write_failed=%+v", failed)
	}
	h, _ := e.store.WriteBackHealth()
	p, bad := h.Problem()
	if !bad || !h.Permanent || h.Pending != 0 || !strings.Contains(p, "AccessDeniedException") {
		t.Fatalf("health=%+v problem=%q, want a permanent problem", h, p)
	}
	e.send(t)
	if e.aws.Requests() != 1 {
		t.Fatal("a given-up write was tried again")
	}
}

// TestWriteBackGivesUp: a write still failing after MaxAttempts passes is
// given up, with an audit entry.
func TestWriteBackGivesUp(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("slow", "eu-west-1"))
	for i := 0; i < workflows.MaxAttempts; i++ {
		e.aws.Fail(shtest.ServerError)
	}
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	for i := 0; i < workflows.MaxAttempts+2; i++ {
		e.send(t)
	}
	if e.aws.Requests() != workflows.MaxAttempts {
		t.Fatalf("requests=%d, want %d", e.aws.Requests(), workflows.MaxAttempts)
	}
	failed := auditActions(t, e.store, a.ID)["aws_write_failed"]
	if len(failed) != 1 || !strings.Contains(failed[0].Note, fmt.Sprintf("gave up after %d attempts", workflows.MaxAttempts)) {
		t.Fatalf("aws_write_failed=%+v", failed)
	}
}

// TestWriteBackNoteBounded: the note fits Security Hub's 512 characters
// and masks what looks like a credential.
func TestWriteBackNoteBounded(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("long", "eu-west-1"))
	note := "leaked AKIAIOSFODNN7EXAMPLE and xoxb-1234-5678-abcdef; password: hunter2\n" + strings.Repeat("é", 1000)
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: strings.Repeat("u", 600), Note: note})
	e.send(t)
	ups := e.aws.Updates()
	if len(ups) != 1 {
		t.Fatalf("%d updates: the fake refuses notes over 512 characters", len(ups))
	}
	u := ups[0]
	if n := utf8.RuneCountInString(u.NoteText); n != workflows.MaxNoteText || !strings.HasSuffix(u.NoteText, "…") {
		t.Fatalf("note has %d characters, want %d ending in an ellipsis", n, workflows.MaxNoteText)
	}
	if utf8.RuneCountInString(u.UpdatedBy) > workflows.MaxNoteText {
		t.Fatalf("updated by has %d characters", utf8.RuneCountInString(u.UpdatedBy))
	}
	for _, secret := range []string{"AKIAIOSFODNN7EXAMPLE", "xoxb-", "hunter2", "\n"} {
		if strings.Contains(u.NoteText, secret) {
			t.Errorf("note holds %q", secret)
		}
	}
}

// TestWriteBackArchivesFalsePositives: with archive_false_positives, a
// GuardDuty finding marked a false positive is archived in its detector
// too; other findings and other actions are not.
func TestWriteBackArchivesFalsePositives(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true, ArchiveFalsePositives: true}, 2)
	g := gdExt("5ab8d9d2b4c1f6e0a9b8c7d6e5f4a3b2")
	a := e.ingest(t, g)
	a.External = []detectors.External{g, ext("other", "eu-west-1")}
	if err := workflows.PutAlertForTest(e.store, &a); err != nil {
		t.Fatal(err)
	}
	e.aws.Fail(shtest.Throttle) // the first call is throttled; the SDK retries it
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionFalsePositive, Actor: "slack:U01ALICE", Note: "red team"})
	if n := e.send(t); n != 3 {
		t.Fatalf("wrote %d, want 2 updated and 1 archived", n)
	}
	arcs := e.aws.Archives()
	if len(arcs) != 1 || arcs[0].DetectorID != g.DetectorID || len(arcs[0].FindingIDs) != 1 || arcs[0].FindingIDs[0] != "5ab8d9d2b4c1f6e0a9b8c7d6e5f4a3b2" || arcs[0].Region != "eu-west-1" {
		t.Fatalf("archives=%+v", arcs)
	}
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionReopen, Actor: "slack:U01ALICE"})
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "slack:U01ALICE"})
	e.send(t)
	if len(e.aws.Archives()) != 1 {
		t.Fatal("a resolve archived the finding")
	}
}

// TestWriteBackUnknownRegion: a finding homed in a region with no
// credentials configured is given up with a sentence saying what to add.
func TestWriteBackUnknownRegion(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("far", "ap-southeast-2"))
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	e.send(t)
	failed := auditActions(t, e.store, a.ID)["aws_write_failed"]
	if len(failed) != 1 || !strings.Contains(failed[0].Note, "add the region to securityhub.regions") {
		t.Fatalf("aws_write_failed=%+v", failed)
	}
}

// TestWriteBackNativeGuardDuty: a finding read from GuardDuty's own event
// (short id, detector, no ProductArn) is written to Security Hub under the
// name Security Hub gives it, and archived in GuardDuty by its short id;
// the same finding also read through Security Hub is written once.
func TestWriteBackNativeGuardDuty(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true, ArchiveFalsePositives: true}, 1)
	native := detectors.External{Product: "guardduty", ID: "e2b6bde0c5d6a1c4e28b0c1f3e4d5a6b", DetectorID: "12abc34d567e8fa901bc2d34e56789f0",
		Account: "123456789012", Region: "us-east-1", Type: "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B"}
	viaHub := native
	viaHub.ID = "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/e2b6bde0c5d6a1c4e28b0c1f3e4d5a6b"
	viaHub.ProductArn = "arn:aws:securityhub:us-east-1::product/aws/guardduty"
	a := e.ingest(t, native)
	a.External = []detectors.External{native, viaHub}
	if err := workflows.PutAlertForTest(e.store, &a); err != nil {
		t.Fatal(err)
	}
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionFalsePositive, Actor: "slack:U01ALICE", Note: "our red team"})
	if n := e.send(t); n != 2 {
		t.Fatalf("wrote %d, want 1 updated and 1 archived", n)
	}
	ups := e.aws.Updates()
	if len(ups) != 1 || len(ups[0].Identifiers) != 1 || ups[0].Identifiers[0].ID != viaHub.ID || ups[0].Identifiers[0].ProductArn != viaHub.ProductArn || ups[0].Status != "SUPPRESSED" || ups[0].Region != "us-east-1" {
		t.Fatalf("updates=%+v, want one SUPPRESSED of %s", ups, viaHub.ID)
	}
	arcs := e.aws.Archives()
	if len(arcs) != 1 || arcs[0].DetectorID != native.DetectorID || len(arcs[0].FindingIDs) != 1 || arcs[0].FindingIDs[0] != native.ID || arcs[0].Region != "us-east-1" {
		t.Fatalf("archives=%+v", arcs)
	}
}

// TestWriteBackShutdown: a send cut short by shutdown keeps the decision
// without counting an attempt or a backoff, and the next start writes it.
func TestWriteBackShutdown(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("stop", "eu-west-1"))
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	ctx, cancel := context.WithCancel(context.Background())
	// AWS applies the write, but the bot is stopping before it hears back.
	e.aws.OnUpdate(func(shtest.Update) { cancel() })
	if n, _ := e.sender.Send(ctx); n != 0 {
		t.Fatalf("cut-short send wrote %d, want 0", n)
	}
	e.aws.OnUpdate(nil)
	h, _ := e.store.WriteBackHealth()
	if h.Pending != 1 || h.LastError != "" {
		t.Fatalf("health after shutdown %+v, want 1 pending and no error", h)
	}
	// The clock has not moved: no backoff holds it back.
	if n, err := e.sender.Send(context.Background()); n != 1 || err != nil {
		t.Fatalf("next start wrote %d (%v), want 1", n, err)
	}
	if w := e.aws.Written()[a.Finding.External.ID]; len(w) != 2 || w[0] != w[1] {
		t.Fatalf("written %v, want the same status twice (at-least-once, same content)", w)
	}
}

// TestWriteBackSilenced: an AWS finding muted by a silence on arrival is
// never posted, and Security Hub hears that it was suppressed, and why.
func TestWriteBackSilenced(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	if _, err := e.store.CreateSilence(workflows.Silence{RuleID: "securityhub/", Reason: "accepted risk, ticket SEC-12"}, 24*time.Hour, "slack:U01ALICE"); err != nil {
		t.Fatal(err)
	}
	a := e.ingest(t, ext("muted", "eu-west-1"))
	if a.State != workflows.StateSuppressed {
		t.Fatalf("state %s, want suppressed", a.State)
	}
	if n := e.send(t); n != 1 {
		t.Fatalf("wrote %d, want 1", n)
	}
	u := e.aws.Updates()[0]
	if u.Status != "SUPPRESSED" || u.NoteText != a.ID+" suppressed by slack:U01ALICE in Trailhound: muted by silence S-1: accepted risk, ticket SEC-12" {
		t.Fatalf("update %+v", u)
	}
}

// TestWriteBackFence: a sender whose replica lost its lease writes nothing
// and keeps the queue for the replica that holds it.
func TestWriteBackFence(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	a := e.ingest(t, ext("fenced", "eu-west-1"))
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionResolve, Actor: "cli:bob"})
	lost := errors.New("lease lost")
	e.sender.Fence = func() error { return lost }
	if n, err := e.sender.Send(context.Background()); n != 0 || !errors.Is(err, lost) {
		t.Fatalf("fenced send: wrote %d, err %v", n, err)
	}
	if e.aws.Requests() != 0 {
		t.Fatalf("%d requests from a fenced sender", e.aws.Requests())
	}
	e.sender.Fence = nil
	if n := e.send(t); n != 1 {
		t.Fatalf("the lease holder wrote %d, want 1", n)
	}
}

// TestWriteBackJoined: an AWS finding that joins an alert already posted
// and acknowledged is written NOTIFIED at once, saying which alert it
// joined; one that joins an alert not posted yet is written with the card.
func TestWriteBackJoined(t *testing.T) {
	e := newWBEnv(t, workflows.WriteBackSettings{Enabled: true}, 1)
	first, later, early := ext("first", "eu-west-1"), ext("later", "eu-west-1"), ext("early", "eu-west-1")
	mk := func(x detectors.External) detectors.Finding {
		return detectors.Finding{RuleID: "securityhub/security-control/IAM.6", Title: "root MFA", Severity: detectors.High, Time: e.now,
			Fingerprint: "securityhub|" + x.ID, GroupKey: "securityhub|IAM.6|111122223333", Account: x.Account, Region: x.Region, External: &x}
	}
	ingest := func(fs ...detectors.Finding) {
		t.Helper()
		if err := e.store.DB().Update(func(tx *bolt.Tx) error { _, err := e.store.Ingest(tx, fs); return err }); err != nil {
			t.Fatal(err)
		}
	}
	// Two findings in one batch: one alert, both written when posted.
	ingest(mk(first), mk(early))
	a, err := e.store.FindByFingerprint("securityhub|" + first.ID)
	if err != nil {
		t.Fatal(err)
	}
	d := &workflows.Dispatcher{Store: e.store, Notifiers: []workflows.Notifier{&postNotifier{name: "slack"}}}
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.apply(t, workflows.Change{AlertID: a.ID, Action: workflows.ActionAcknowledge, Actor: "slack:U01ALICE"})
	ingest(mk(later))
	if b, _ := e.store.FindByFingerprint("securityhub|" + later.ID); b.ID != a.ID {
		t.Fatalf("the later finding opened %s, want it to join %s", b.ID, a.ID)
	}
	if n := e.send(t); n != 5 {
		t.Fatalf("wrote %d, want 2 posted + 2 acknowledged + 1 joined", n)
	}
	w := e.aws.Written()
	if len(w[first.ID]) != 2 || len(w[early.ID]) != 2 || len(w[later.ID]) != 1 || w[later.ID][0] != "NOTIFIED" {
		t.Fatalf("written %v", w)
	}
	ups := e.aws.Updates()
	if last := ups[len(ups)-1]; last.NoteText != "joined "+a.ID+", which is acknowledged in Trailhound" {
		t.Fatalf("joined note %q", last.NoteText)
	}
}
