package external

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/awsfindings"
)

func event(t *testing.T, file string) sources.Event {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "sources", "awsfindings", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := awsfindings.Parse(b, "aws-findings/eu-west-1")
	if err != nil {
		t.Fatal(err)
	}
	return evs[0]
}

// TestConvert: rule id, severity, technique, who and where, the
// recommendation with its link, the console link and the fingerprint.
func TestConvert(t *testing.T) {
	cases := []struct {
		file, rule     string
		sev            detectors.Severity
		technique      string
		principal, ip  string
		recommendation string
	}{
		{"gd-iam-console-login-success.json", "guardduty/UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", detectors.Medium, "", "arn:aws:iam::123456789012:user/alice", "203.0.113.9", ""},
		{"gd-attack-sequence-iam.json", "guardduty/AttackSequence:IAM/CompromisedCredentials", detectors.Critical, "T1078.004", "arn:aws:iam::123456789012:user/alice", "", ""},
		{"gd-ec2-port-probe.json", "guardduty/Recon:EC2/PortProbeUnprotectedPort", detectors.Low, "", "", "198.51.100.22", ""},
		{"sh-fsbp-iam6.json", "securityhub/security-control/IAM.6", detectors.Critical, "", "", "",
			"For information on how to correct this issue, consult the AWS Security Hub controls documentation. https://docs.aws.amazon.com/console/securityhub/IAM.6/remediation"},
		{"sh-inspector-cve.json", "inspector/Software and Configuration Checks/Vulnerabilities/CVE", detectors.High, "", "", "",
			"Remediation is available. Please refer to the Fixed version in the vulnerability details section above. https://nvd.nist.gov/vuln/detail/CVE-2023-44487"},
		{"native-macie.json", "macie/Policy:IAMUser/S3BucketPublic", detectors.High, "", "arn:aws:iam::123456789012:user/alice", "203.0.113.9", ""},
		{"access-analyzer-public-bucket.json", "access-analyzer/ExternalAccess/AWS::S3::Bucket", detectors.High, "", "", "",
			"Review the resource policy; remove the grant or archive the finding if the access is intended."},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			ev := event(t, tc.file)
			fs, err := New().Detect(context.Background(), &ev)
			if err != nil || len(fs) != 1 {
				t.Fatalf("findings=%d err=%v", len(fs), err)
			}
			f := fs[0]
			if f.RuleID != tc.rule || f.Severity != tc.sev || f.Technique != tc.technique || f.Principal.ARN != tc.principal || f.SourceIP != tc.ip || f.Recommendation != tc.recommendation {
				t.Fatalf("rule=%q sev=%v technique=%q principal=%q ip=%q rec=%q\nwant %q %v %q %q %q %q", f.RuleID, f.Severity, f.Technique, f.Principal.ARN, f.SourceIP, f.Recommendation,
					tc.rule, tc.sev, tc.technique, tc.principal, tc.ip, tc.recommendation)
			}
			x := f.External
			if x == nil || x.ID != ev.Finding.ID || x.ConsoleURL == "" || x.ContentHash == "" || x.UpdatedAt.IsZero() || x.Account != "123456789012" || x.Region != "us-east-1" {
				t.Fatalf("external=%+v, want the finding's id, home, console link and hash", x)
			}
			if f.Fingerprint != detectors.Fingerprint("aws-finding", ev.Finding.Key) || f.GroupKey == "" || f.Title == "" || f.Reason == "" {
				t.Fatalf("fingerprint=%q group=%q title=%q reason=%q", f.Fingerprint, f.GroupKey, f.Title, f.Reason)
			}
		})
	}
	// An update of a finding keeps its fingerprint; the same GuardDuty
	// finding through Security Hub too.
	fp := func(file string) string {
		ev := event(t, file)
		return Convert(&ev).Fingerprint
	}
	if a, b, c := fp("gd-iam-console-login-success.json"), fp("gd-iam-console-login-success-update.json"), fp("sh-guardduty-console-login.json"); a != b || a != c {
		t.Fatalf("fingerprints %s %s %s, want one", a, b, c)
	}
}

// TestOnlyFindingReadersSeeFindings: the engine shows an event carrying
// an AWS finding to the adapter alone, and a log record never to it.
func TestOnlyFindingReadersSeeFindings(t *testing.T) {
	var seen []string
	all := detectorFunc(func(ev *sources.Event) { seen = append(seen, ev.ID) })
	e := detectors.NewEngine(all, New())
	gd := event(t, "gd-iam-console-login-success.json")
	fs, err := e.Detect(context.Background(), &gd)
	if err != nil || len(fs) != 1 || len(seen) != 0 {
		t.Fatalf("finding event: findings=%d err=%v seen by the log detector=%v, want 1 and none", len(fs), err, seen)
	}
	ct := event(t, "cloudtrail-api-call.json")
	fs, err = e.Detect(context.Background(), &ct)
	if err != nil || len(fs) != 0 || len(seen) != 1 {
		t.Fatalf("CloudTrail event: adapter findings=%d err=%v log detector saw %v, want 0 and the event", len(fs), err, seen)
	}
}

type detectorFunc func(ev *sources.Event)

func (detectorFunc) ID() string { return "every-event" }

func (d detectorFunc) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	d(ev)
	return nil, nil
}
