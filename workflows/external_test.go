package workflows

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/external"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/awsfindings"
)

// awsFinding reads an EventBridge fixture of sources/awsfindings and
// makes its finding the way the running bot does: Parse, then the
// adapter detector.
func awsFinding(t *testing.T, file string, edit ...func(*sources.AWSFinding)) detectors.Finding {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "sources", "awsfindings", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := awsfindings.Parse(b, "findings")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range edit {
		e(evs[0].Finding)
	}
	fs, err := external.New().Detect(context.Background(), &evs[0])
	if err != nil || len(fs) != 1 {
		t.Fatalf("detect: %d findings, err %v", len(fs), err)
	}
	return fs[0]
}

// TestAWSFindingUpdateInPlace: a later version of a finding (more
// occurrences) updates its alert and says so in the thread; no new card.
func TestAWSFindingUpdateInPlace(t *testing.T) {
	s, clk := newStore(t)
	n := &funcNotifier{name: "slack"}
	res := ingest(t, s, awsFinding(t, "gd-iam-console-login-success.json"))
	if len(res.New) != 1 {
		t.Fatalf("new=%d, want 1", len(res.New))
	}
	a := res.New[0]
	if len(a.External) != 1 || a.External[0].ID != "e2b6bde0c5d6a1c4e28b0c1f3e4d5a6b" || a.Finding.EventCount != 3 {
		t.Fatalf("external=%+v events=%d, want the GuardDuty finding and 3 occurrences", a.External, a.Finding.EventCount)
	}
	dispatch(t, s, n)
	n.reset()
	clk.now = clk.now.Add(30 * time.Minute)
	res = ingest(t, s, awsFinding(t, "gd-iam-console-login-success-update.json"))
	if len(res.New) != 0 || len(res.Grouped) != 0 {
		t.Fatalf("new=%d grouped=%d, want the update in place", len(res.New), len(res.Grouped))
	}
	got, err := s.Get(a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Count != 1 || got.Finding.EventCount != 7 || len(got.External) != 1 || !got.External[0].UpdatedAt.Equal(time.Date(2026, 12, 6, 10, 35, 0, 0, time.UTC)) {
		t.Fatalf("count=%d events=%d external=%+v, want 1 alert of 7 occurrences updated at 10:35", got.Count, got.Finding.EventCount, got.External)
	}
	dispatch(t, s, n)
	if k := strings.Join(n.kinds(), ","); k != "repeat@DEFAULT,update@DEFAULT" {
		t.Fatalf("notifications=%s, want a thread note and a redraw", k)
	}
	if want := "GuardDuty updated finding UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B: occurrences 3 → 7."; n.got[0].Text != want {
		t.Fatalf("note=%q, want %q", n.got[0].Text, want)
	}
	// The same update delivered again is a repeat: nothing happens.
	n.reset()
	res = ingest(t, s, awsFinding(t, "gd-iam-console-login-success-update.json"))
	if res.Duplicates != 1 {
		t.Fatalf("duplicates=%d, want 1", res.Duplicates)
	}
	dispatch(t, s, n)
	if len(n.got) != 0 {
		t.Fatalf("notifications=%v, want none", n.kinds())
	}
	// An older version arriving late changes nothing either.
	res = ingest(t, s, awsFinding(t, "gd-iam-console-login-success.json"))
	if got2, _ := s.Get(a.ID); res.Duplicates != 1 || got2.Finding.EventCount != 7 {
		t.Fatalf("late old version: duplicates=%d events=%d, want 1 and 7", res.Duplicates, got2.Finding.EventCount)
	}
}

// TestAWSFindingEcho: Security Hub sends the finding back after
// Trailhound's own write-back (workflow NOTIFIED, a note): no repost, no
// count, no note; the alert learns the workflow status.
func TestAWSFindingEcho(t *testing.T) {
	s, _ := newStore(t)
	n := &funcNotifier{name: "slack"}
	res := ingest(t, s, awsFinding(t, "sh-fsbp-iam6.json"))
	a := res.New[0]
	dispatch(t, s, n)
	n.reset()
	res = ingest(t, s, awsFinding(t, "sh-fsbp-iam6-echo.json"))
	if len(res.New) != 0 || res.Duplicates != 1 {
		t.Fatalf("new=%d duplicates=%d, want the echo dropped", len(res.New), res.Duplicates)
	}
	if p, err := s.Pending(); err != nil || p != 0 {
		t.Fatalf("pending=%d (err %v), want nothing queued", p, err)
	}
	got, _ := s.Get(a.ID)
	if got.Count != 1 || got.External[0].Workflow != "NOTIFIED" || got.Finding.External.Workflow != "NOTIFIED" {
		t.Fatalf("count=%d workflow=%q/%q, want 1 and NOTIFIED", got.Count, got.External[0].Workflow, got.Finding.External.Workflow)
	}
	audit, _ := s.AuditLog(a.ID)
	if len(audit) != 1 {
		t.Fatalf("audit=%+v, want only the creation", audit)
	}
	// A periodic evaluation that found the same is an echo too.
	if res = ingest(t, s, awsFinding(t, "sh-fsbp-iam6-reevaluated.json")); res.Duplicates != 1 {
		t.Fatalf("re-evaluation: duplicates=%d, want 1", res.Duplicates)
	}
	dispatch(t, s, n)
	if len(n.got) != 0 {
		t.Fatalf("notifications=%v after echoes, want none", n.kinds())
	}
	// The control passes: Security Hub closes the finding; the thread
	// says so.
	if res = ingest(t, s, awsFinding(t, "sh-fsbp-iam6-passed.json")); len(res.New) != 0 {
		t.Fatalf("passed opened %d alerts", len(res.New))
	}
	dispatch(t, s, n)
	if len(n.got) != 2 || !strings.Contains(n.got[0].Text, "Security Hub closed the finding") {
		t.Fatalf("notifications=%v, want a note that Security Hub closed it", n.kinds())
	}
	// It fails again and Security Hub resets the workflow to NEW: the
	// same alert is updated, no new card.
	n.reset()
	res = ingest(t, s, awsFinding(t, "sh-fsbp-iam6-reset.json"))
	if len(res.New) != 0 {
		t.Fatalf("reset opened %d alerts, want the existing one updated", len(res.New))
	}
	dispatch(t, s, n)
	if k := strings.Join(n.kinds(), ","); k != "repeat@DEFAULT,update@DEFAULT" {
		t.Fatalf("notifications=%s, want a note and a redraw", k)
	}
	if want := "Security Hub updated finding security-control/IAM.6: severity info → critical; Security Hub set its workflow status back to NEW (was RESOLVED)."; n.got[0].Text != want {
		t.Fatalf("note=%q, want %q", n.got[0].Text, want)
	}
	if got, _ := s.Get(a.ID); got.Count != 1 || got.Severity != detectors.Critical {
		t.Fatalf("count=%d severity=%v, want 1 and critical", got.Count, got.Severity)
	}
}

// TestAWSFindingTwoRoutes: the same GuardDuty finding through GuardDuty's
// own event and through Security Hub makes one alert, which learns
// Security Hub's ProductArn for the write-back.
func TestAWSFindingTwoRoutes(t *testing.T) {
	s, _ := newStore(t)
	a := ingest(t, s, awsFinding(t, "gd-iam-console-login-success.json")).New[0]
	res := ingest(t, s, awsFinding(t, "sh-guardduty-console-login.json"))
	if len(res.New) != 0 || res.Duplicates != 1 {
		t.Fatalf("new=%d duplicates=%d, want the ASFF copy taken as the same finding", len(res.New), res.Duplicates)
	}
	got, _ := s.Get(a.ID)
	arn := "arn:aws:guardduty:us-east-1:123456789012:detector/12abc34d567e8fa901bc2d34e56789f0/finding/e2b6bde0c5d6a1c4e28b0c1f3e4d5a6b"
	if len(got.External) != 1 || got.External[0].ProductArn != "arn:aws:securityhub:us-east-1::product/aws/guardduty" || got.External[0].ID != arn || got.External[0].DetectorID == "" {
		t.Fatalf("external=%+v, want one entry with the ProductArn, the ASFF Id and the detector", got.External)
	}
	// A later native update keeps what Security Hub's copy told.
	ingest(t, s, awsFinding(t, "gd-iam-console-login-success-update.json"))
	got, _ = s.Get(a.ID)
	if x := got.External[0]; len(got.External) != 1 || x.ID != arn || x.ProductArn == "" || got.Finding.External.ID != arn || got.Finding.EventCount != 7 {
		t.Fatalf("after the native update: external=%+v own=%+v events=%d", got.External, got.Finding.External, got.Finding.EventCount)
	}
}

// TestAWSFindingFoldsByPrincipal: a GuardDuty finding about a principal
// one of our rules flagged within the window joins that alert; with
// fold_aws_findings_by_principal: false it opens its own.
func TestAWSFindingFoldsByPrincipal(t *testing.T) {
	for _, apart := range []bool{false, true} {
		s, _ := newStore(t)
		s.Config = DefaultConfig()
		s.Config.KeepAWSApart = apart
		gd := awsFinding(t, "gd-iam-console-login-success.json")
		own := detectors.Finding{RuleID: "console-login-without-mfa", Title: "Console sign-in without MFA", Fingerprint: "own-1", GroupKey: "own-g",
			Time: gd.Time.Add(-3 * time.Minute), Severity: detectors.Medium, Account: "123456789012",
			Principal: sources.Principal{ARN: "arn:aws:iam::123456789012:user/alice", Name: "alice"}}
		ours := ingest(t, s, own).New[0]
		res := ingest(t, s, gd)
		if apart {
			if len(res.New) != 1 {
				t.Fatalf("apart: new=%d, want 1", len(res.New))
			}
			continue
		}
		if len(res.New) != 0 || res.Folded != 1 {
			t.Fatalf("new=%d folded=%d, want the finding folded", len(res.New), res.Folded)
		}
		got, _ := s.Get(ours.ID)
		if got.Count != 2 || len(got.External) != 1 || got.External[0].Product != "guardduty" || got.Finding.External != nil {
			t.Fatalf("count=%d external=%+v, want 2 and the GuardDuty finding listed", got.Count, got.External)
		}
		// Its update finds the same alert.
		res = ingest(t, s, awsFinding(t, "gd-iam-console-login-success-update.json"))
		if len(res.New) != 0 {
			t.Fatalf("update opened %d alerts", len(res.New))
		}
		if got, _ = s.Get(ours.ID); !got.External[0].UpdatedAt.Equal(time.Date(2026, 12, 6, 10, 35, 0, 0, time.UTC)) {
			t.Fatalf("external=%+v, want the update recorded", got.External)
		}
		// Another principal does not fold.
		other := awsFinding(t, "gd-s3-exfiltration-anomalous.json")
		if res = ingest(t, s, other); len(res.New) != 1 {
			t.Fatalf("bob's finding: new=%d, want its own alert", len(res.New))
		}
	}
}

// TestAWSFindingBelowFloorAndClosed: a finding under the floor is kept
// for the digest only, counted there by product and type; a finding the
// provider closed opens nothing.
func TestAWSFindingBelowFloorAndClosed(t *testing.T) {
	s, _ := newStore(t)
	n := &funcNotifier{name: "slack"}
	low := awsFinding(t, "gd-ec2-port-probe.json", func(f *sources.AWSFinding) { f.BelowFloor = true })
	res := ingest(t, s, low, awsFinding(t, "sh-fsbp-s3-8-passed.json"))
	if len(res.New) != 1 || !res.New[0].DigestOnly || res.Duplicates != 1 {
		t.Fatalf("new=%d digestOnly=%v duplicates=%d, want one digest-only alert and the closed finding dropped", len(res.New), len(res.New) == 1 && res.New[0].DigestOnly, res.Duplicates)
	}
	dispatch(t, s, n)
	if len(n.got) != 0 {
		t.Fatalf("posted %v, want nothing", n.kinds())
	}
	d, err := s.BuildDigest(DigestOptions{Since: t0.Add(-24 * time.Hour), Until: t0.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range d.ByRule {
		found = found || r.RuleID == "guardduty/Recon:EC2/PortProbeUnprotectedPort" && r.Findings == 1
	}
	if !found {
		t.Fatalf("digest by rule=%+v, want guardduty/Recon:EC2/PortProbeUnprotectedPort with 1 finding", d.ByRule)
	}
	if len(d.AWS) != 1 || d.AWS[0] != (AWSCount{Product: "guardduty", Type: "Recon:EC2/PortProbeUnprotectedPort", Findings: 1, BelowFloor: 1}) {
		t.Fatalf("digest AWS counts=%+v, want the port probe, under the floor", d.AWS)
	}
	if md := d.Markdown(); !strings.Contains(md, "| guardduty | `Recon:EC2/PortProbeUnprotectedPort` | 1 | 1 |") {
		t.Fatalf("markdown lacks the AWS findings table:\n%s", md)
	}
}

// TestAWSFindingUpdateOfResolvedAlert: the provider's update of a
// finding whose alert was resolved notes it in the thread and leaves the
// alert resolved.
func TestAWSFindingUpdateOfResolvedAlert(t *testing.T) {
	s, _ := newStore(t)
	n := &funcNotifier{name: "slack"}
	a := ingest(t, s, awsFinding(t, "gd-iam-console-login-success.json")).New[0]
	dispatch(t, s, n)
	if _, err := s.Apply(Change{AlertID: a.ID, Action: ActionResolve, Actor: "slack:U1"}); err != nil {
		t.Fatal(err)
	}
	dispatch(t, s, n)
	n.reset()
	if res := ingest(t, s, awsFinding(t, "gd-iam-console-login-success-update.json")); len(res.New) != 0 {
		t.Fatalf("new=%d, want none", len(res.New))
	}
	got, _ := s.Get(a.ID)
	if got.State != StateResolved || got.Finding.EventCount != 7 {
		t.Fatalf("state=%s events=%d, want resolved with 7", got.State, got.Finding.EventCount)
	}
	dispatch(t, s, n)
	if len(n.got) != 2 || !strings.Contains(n.got[0].Text, "The alert stays resolved") {
		t.Fatalf("notifications=%v (%q), want the note saying it stays resolved", n.kinds(), n.got[0].Text)
	}
}

// TestAWSExternalBounded: Alert.External keeps at most MaxExternal
// entries, the least recently updated giving way.
func TestAWSExternalBounded(t *testing.T) {
	a := &Alert{}
	for i := range MaxExternal + 5 {
		addExternal(a, detectors.External{Product: "securityhub", ID: string(rune('a'+i%26)) + strings.Repeat("x", i/26), UpdatedAt: t0.Add(time.Duration(i) * time.Minute)})
	}
	if len(a.External) != MaxExternal || !a.External[0].UpdatedAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("len=%d first=%v, want %d entries from the sixth on", len(a.External), a.External[0].UpdatedAt, MaxExternal)
	}
}

// TestAWSFindingUpdateInSameBatch: a finding and its update in one batch
// make one alert, one card showing the update, and no thread note.
func TestAWSFindingUpdateInSameBatch(t *testing.T) {
	s, _ := newStore(t)
	n := &funcNotifier{name: "slack"}
	res := ingest(t, s, awsFinding(t, "gd-iam-console-login-success.json"), awsFinding(t, "gd-iam-console-login-success-update.json"))
	if len(res.New) != 1 || res.New[0].Finding.EventCount != 7 {
		t.Fatalf("new=%d, want one alert showing 7 occurrences", len(res.New))
	}
	dispatch(t, s, n)
	if k := strings.Join(n.kinds(), ","); k != "new@" {
		t.Fatalf("notifications=%s, want the card alone", k)
	}
	if n.got[0].Alert.Finding.EventCount != 7 {
		t.Fatalf("card shows %d occurrences, want 7", n.got[0].Alert.Finding.EventCount)
	}
}

// TestAWSFindingFoldsByAccessKey: the access key alone is enough: an
// assumed-role session our rule named differently still meets
// GuardDuty's finding about the same temporary key.
func TestAWSFindingFoldsByAccessKey(t *testing.T) {
	s, _ := newStore(t)
	gd := awsFinding(t, "gd-iam-credential-exfiltration.json")
	own := detectors.Finding{RuleID: "ec2-credentials-used-outside", Title: "Instance credentials used from outside AWS", Fingerprint: "own-2", GroupKey: "own-g2",
		Time: gd.Time.Add(-time.Minute), Severity: detectors.High, Account: "123456789012",
		Principal: sources.Principal{ARN: "arn:aws:sts::123456789012:assumed-role/web-role/i-0abc", AccessKeyID: "ASIAIOSFODNN7EXAMPLE"}}
	ours := ingest(t, s, own).New[0]
	if res := ingest(t, s, gd); len(res.New) != 0 || res.Folded != 1 {
		t.Fatalf("new=%d folded=%d, want the finding folded by its access key", len(res.New), res.Folded)
	}
	if got, _ := s.Get(ours.ID); got.Count != 2 || len(got.External) != 1 {
		t.Fatalf("count=%d external=%d, want 2 and 1", got.Count, len(got.External))
	}
	// Out of the group window it opens its own alert.
	late := awsFinding(t, "gd-iam-credential-exfiltration.json")
	late.Fingerprint, late.External.ID, late.Time = "late-fp", "late", late.Time.Add(48*time.Hour)
	if res := ingest(t, s, late); len(res.New) != 1 {
		t.Fatalf("late finding: new=%d, want its own alert", len(res.New))
	}
}
