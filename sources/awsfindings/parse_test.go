package awsfindings

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestParseFindings checks the normalisation of every fixture: product,
// type, severity, who and where, technique, recommendation and console
// link.
func TestParseFindings(t *testing.T) {
	cases := []struct {
		file                          string
		product, typ, severity        string
		account, region               string
		principalARN, keyID, sourceIP string
		action, resource, technique   string
		recommendation, consolePrefix string
		count                         int
		closed                        bool
	}{
		{file: "gd-iam-console-login-success.json", product: "guardduty", typ: "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", severity: "MEDIUM",
			account: "123456789012", region: "us-east-1", principalARN: "arn:aws:iam::123456789012:user/alice", keyID: "AKIAIOSFODNN7EXAMPLE",
			sourceIP: "203.0.113.9", action: "ConsoleLogin", resource: "AccessKey AKIAIOSFODNN7EXAMPLE", count: 3,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/home?region=us-east-1#/findings?macros=current&fId=e2b6bde0c5d6a1c4e28b0c1f3e4d5a6b"},
		{file: "gd-iam-credential-exfiltration.json", product: "guardduty", typ: "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS", severity: "HIGH",
			account: "123456789012", region: "us-east-1", principalARN: "arn:aws:sts::123456789012:assumed-role/web-role/i-99999999", keyID: "ASIAIOSFODNN7EXAMPLE",
			sourceIP: "198.51.100.7", action: "DescribeInstances", resource: "AccessKey ASIAIOSFODNN7EXAMPLE", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-iam-anomalous-behavior.json", product: "guardduty", typ: "CredentialAccess:IAMUser/AnomalousBehavior", severity: "MEDIUM",
			account: "123456789012", region: "us-east-1", principalARN: "arn:aws:iam::123456789012:root", keyID: "AKIAI44QH8DHBEXAMPLE", sourceIP: "203.0.113.10", action: "GetSecretValue",
			resource: "AccessKey AKIAI44QH8DHBEXAMPLE", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-ec2-port-probe.json", product: "guardduty", typ: "Recon:EC2/PortProbeUnprotectedPort", severity: "LOW", account: "123456789012", region: "us-east-1",
			sourceIP: "198.51.100.22", resource: "Instance i-99999999", count: 27, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-ec2-bitcoin-dns.json", product: "guardduty", typ: "CryptoCurrency:EC2/BitcoinTool.B!DNS", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "Instance i-99999999", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-ec2-c2-activity.json", product: "guardduty", typ: "Backdoor:EC2/C&CActivity.B", severity: "HIGH", account: "123456789012", region: "us-east-1",
			sourceIP: "198.51.100.66", resource: "Instance i-99999999", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-s3-block-public-access-disabled.json", product: "guardduty", typ: "Policy:S3/BucketBlockPublicAccessDisabled", severity: "LOW", account: "123456789012", region: "us-east-1",
			principalARN: "arn:aws:iam::123456789012:user/alice", keyID: "AKIAIOSFODNN7EXAMPLE", sourceIP: "203.0.113.9", action: "PutBucketPublicAccessBlock", resource: "S3Bucket example-bucket", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-s3-exfiltration-anomalous.json", product: "guardduty", typ: "Exfiltration:S3/AnomalousBehavior", severity: "HIGH", account: "123456789012", region: "us-east-1",
			principalARN: "arn:aws:iam::123456789012:user/bob", keyID: "AKIAIOSFODNN7BOBKEY", sourceIP: "198.51.100.30", action: "GetObject", resource: "S3Bucket example-bucket", count: 512,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-eks-anonymous-access.json", product: "guardduty", typ: "Discovery:Kubernetes/SuccessfulAnonymousAccess", severity: "MEDIUM", account: "123456789012", region: "us-east-1",
			sourceIP: "198.51.100.44", action: "list /api/v1/secrets", resource: "EKSCluster prod-cluster", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-eks-privileged-container.json", product: "guardduty", typ: "PrivilegeEscalation:Kubernetes/PrivilegedContainer", severity: "MEDIUM", account: "123456789012", region: "us-east-1",
			sourceIP: "10.0.0.5", action: "create /api/v1/namespaces/default/pods", resource: "EKSCluster prod-cluster", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-runtime-new-binary.json", product: "guardduty", typ: "Execution:Runtime/NewBinaryExecuted", severity: "LOW", account: "123456789012", region: "us-east-1",
			resource: "Instance i-99999999", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-runtime-bitcoin-tool.json", product: "guardduty", typ: "CryptoCurrency:Runtime/BitcoinTool.B", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "Instance i-99999999", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "gd-attack-sequence-iam.json", product: "guardduty", typ: "AttackSequence:IAM/CompromisedCredentials", severity: "CRITICAL", account: "123456789012", region: "us-east-1",
			principalARN: "arn:aws:iam::123456789012:user/alice", keyID: "AKIAIOSFODNN7EXAMPLE", resource: "AccessKey AKIAIOSFODNN7EXAMPLE", technique: "T1078.004", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/guardduty/"},
		{file: "sh-fsbp-iam6.json", product: "securityhub", typ: "security-control/IAM.6", severity: "CRITICAL", account: "123456789012", region: "us-east-1",
			resource: "AwsAccount AWS::::Account:123456789012", recommendation: "For information on how to correct this issue, consult the AWS Security Hub controls documentation.", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/home?region=us-east-1#/findings?search="},
		{file: "sh-fsbp-s3-8.json", product: "securityhub", typ: "security-control/S3.8", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "AwsS3Bucket arn:aws:s3:::example-bucket", recommendation: "For information on how to correct this issue, consult the AWS Security Hub controls documentation.", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/"},
		{file: "sh-fsbp-s3-8-passed.json", product: "securityhub", typ: "security-control/S3.8", severity: "INFORMATIONAL", account: "123456789012", region: "us-east-1",
			resource: "AwsS3Bucket arn:aws:s3:::example-bucket", recommendation: "For information on how to correct this issue, consult the AWS Security Hub controls documentation.", count: 1, closed: true,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/"},
		{file: "sh-inspector-cve.json", product: "inspector", typ: "Software and Configuration Checks/Vulnerabilities/CVE", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "AwsEc2Instance arn:aws:ec2:us-east-1:123456789012:instance/i-99999999", recommendation: "Remediation is available. Please refer to the Fixed version in the vulnerability details section above.", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/"},
		{file: "sh-macie-personal.json", product: "macie", typ: "Sensitive Data Identifications/PII/SensitiveData:S3Object-Personal", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "AwsS3Bucket arn:aws:s3:::example-bucket", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/"},
		{file: "sh-guardduty-console-login.json", product: "guardduty", typ: "UnauthorizedAccess:IAMUser/ConsoleLoginSuccess.B", severity: "MEDIUM", account: "123456789012", region: "us-east-1",
			principalARN: "arn:aws:iam::123456789012:user/alice", keyID: "AKIAIOSFODNN7EXAMPLE", sourceIP: "203.0.113.9", action: "ConsoleLogin", resource: "AwsIamAccessKey AKIAIOSFODNN7EXAMPLE", count: 3,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/securityhub/"},
		{file: "native-inspector2.json", product: "inspector", typ: "PACKAGE_VULNERABILITY/CVE-2022-0185", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "AWS_EC2_INSTANCE i-99999999", recommendation: "None Provided", count: 1, consolePrefix: "https://us-east-1.console.aws.amazon.com/inspector/v2/"},
		{file: "native-macie.json", product: "macie", typ: "Policy:IAMUser/S3BucketPublic", severity: "HIGH", account: "123456789012", region: "us-east-1",
			principalARN: "arn:aws:iam::123456789012:user/alice", sourceIP: "203.0.113.9", action: "PutBucketAcl", resource: "S3Bucket example-bucket", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/macie/"},
		{file: "access-analyzer-public-bucket.json", product: "access-analyzer", typ: "ExternalAccess/AWS::S3::Bucket", severity: "HIGH", account: "123456789012", region: "us-east-1",
			resource: "AWS::S3::Bucket arn:aws:s3:::example-bucket", recommendation: "Review the resource policy; remove the grant or archive the finding if the access is intended.", count: 1,
			consolePrefix: "https://us-east-1.console.aws.amazon.com/access-analyzer/"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			evs, err := Parse(fixture(t, tc.file), "findings")
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || evs[0].Finding == nil {
				t.Fatalf("got %d events (finding %v), want 1 with a finding", len(evs), len(evs) > 0 && evs[0].Finding != nil)
			}
			f := evs[0].Finding
			check := func(what, got, want string) {
				t.Helper()
				if got != want {
					t.Errorf("%s=%q, want %q", what, got, want)
				}
			}
			check("product", f.Product, tc.product)
			check("type", f.Type, tc.typ)
			check("severity", f.Severity, tc.severity)
			check("account", f.Account, tc.account)
			check("region", f.Region, tc.region)
			check("principal ARN", f.Principal.ARN, tc.principalARN)
			check("access key", f.Principal.AccessKeyID, tc.keyID)
			check("source IP", f.SourceIP, tc.sourceIP)
			check("action", f.Action, tc.action)
			check("resource", f.Resource, tc.resource)
			check("recommendation", f.Recommendation, tc.recommendation)
			tech := ""
			if len(f.Techniques) > 0 {
				tech = f.Techniques[0]
			}
			check("technique", tech, tc.technique)
			if !strings.HasPrefix(f.ConsoleURL, tc.consolePrefix) {
				t.Errorf("console URL=%q, want prefix %q", f.ConsoleURL, tc.consolePrefix)
			}
			if f.Count != tc.count {
				t.Errorf("count=%d, want %d", f.Count, tc.count)
			}
			if f.Closed != tc.closed {
				t.Errorf("closed=%v, want %v", f.Closed, tc.closed)
			}
			if f.ID == "" || f.Key == "" || f.ContentHash == "" || f.UpdatedAt.IsZero() {
				t.Errorf("id=%q key=%q hash=%q updated=%v: all must be set", f.ID, f.Key, f.ContentHash, f.UpdatedAt)
			}
			if want := f.Key + "@" + f.UpdatedAt.Format(time.RFC3339Nano); evs[0].ID != want {
				t.Errorf("event id=%q, want %q", evs[0].ID, want)
			}
			if evs[0].Action != "" || len(evs[0].Raw) != 0 {
				t.Errorf("finding event has action %q and %d raw bytes; log rules must not see it as a record", evs[0].Action, len(evs[0].Raw))
			}
		})
	}
}

// TestGuardDutyRoutesShareKey: the same GuardDuty finding read natively
// and through Security Hub has one key, so it makes one alert.
func TestGuardDutyRoutesShareKey(t *testing.T) {
	a, err := Parse(fixture(t, "gd-iam-console-login-success.json"), "q")
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse(fixture(t, "sh-guardduty-console-login.json"), "q")
	if err != nil {
		t.Fatal(err)
	}
	if a[0].Finding.Key != b[0].Finding.Key {
		t.Fatalf("keys differ: %q (native) and %q (ASFF)", a[0].Finding.Key, b[0].Finding.Key)
	}
	if got, want := b[0].Finding.DetectorID, "12abc34d567e8fa901bc2d34e56789f0"; got != want {
		t.Fatalf("detector=%q, want %q", got, want)
	}
}

// TestContentHash: a customer's change (workflow, note) is an echo with
// the same hash; the provider's change (a reset after new activity, more
// occurrences) changes it.
func TestContentHash(t *testing.T) {
	hash := func(file string) string {
		t.Helper()
		evs, err := Parse(fixture(t, file), "q")
		if err != nil {
			t.Fatal(err)
		}
		return evs[0].Finding.ContentHash
	}
	orig := hash("sh-fsbp-iam6.json")
	if got := hash("sh-fsbp-iam6-echo.json"); got != orig {
		t.Errorf("echo (workflow NOTIFIED and a note) changed the hash: %s -> %s", orig, got)
	}
	if got := hash("sh-fsbp-iam6-reevaluated.json"); got != orig {
		t.Errorf("a periodic evaluation that changed nothing changed the hash: %s -> %s", orig, got)
	}
	if got := hash("sh-fsbp-iam6-passed.json"); got == orig {
		t.Errorf("the control passing kept the hash %s", got)
	}
	if a, b := hash("gd-iam-console-login-success.json"), hash("gd-iam-console-login-success-update.json"); a == b {
		t.Errorf("more occurrences kept the hash %s", a)
	}
}

// TestParseCloudTrail: CloudTrail events delivered by EventBridge become
// normal CloudTrail events with the record's own id.
func TestParseCloudTrail(t *testing.T) {
	for _, tc := range []struct{ file, id, action, principal string }{
		{"cloudtrail-console-signin.json", "3fcfb586-0000-4000-8000-000000000001", "ConsoleLogin", "arn:aws:iam::123456789012:user/alice"},
		{"cloudtrail-api-call.json", "3fcfb586-0000-4000-8000-000000000002", "StopLogging", "arn:aws:iam::123456789012:user/alice"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			evs, err := Parse(fixture(t, tc.file), "q")
			if err != nil {
				t.Fatal(err)
			}
			ev := evs[0]
			if ev.ID != tc.id || ev.Action != tc.action || ev.Principal.ARN != tc.principal || ev.Finding != nil || len(ev.Raw) == 0 {
				t.Fatalf("id=%q action=%q principal=%q finding=%v raw=%d, want %q %q %q, no finding, raw kept", ev.ID, ev.Action, ev.Principal.ARN, ev.Finding != nil, len(ev.Raw), tc.id, tc.action, tc.principal)
			}
			if ev.Time.IsZero() || ev.Account != "123456789012" || ev.Region != "us-east-1" {
				t.Fatalf("time=%v account=%q region=%q", ev.Time, ev.Account, ev.Region)
			}
		})
	}
}

// TestParseMalformed: every unreadable message is named with what was
// wrong.
func TestParseMalformed(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `{"detail-type": `, "not an EventBridge event: invalid JSON"},
		{"no detail-type", `{"id":"x","detail":{}}`, "no detail-type"},
		{"unknown detail type", `{"id":"x","detail-type":"EC2 Instance State-change Notification","source":"aws.ec2","detail":{"state":"running"}}`, `unknown detail-type "EC2 Instance State-change Notification"`},
		{"no detail", `{"id":"x","detail-type":"GuardDuty Finding"}`, "GuardDuty Finding event x: no detail"},
		{"GuardDuty without id", `{"id":"x","detail-type":"GuardDuty Finding","detail":{"type":"Recon:EC2/PortProbeUnprotectedPort","updatedAt":"2026-12-06T10:00:00Z"}}`, "detail.id: missing"},
		{"GuardDuty bad time", `{"id":"x","detail-type":"GuardDuty Finding","detail":{"id":"f","type":"T","updatedAt":"yesterday"}}`, `detail.updatedAt: "yesterday" is not an RFC 3339 time`},
		{"ASFF without findings", `{"id":"x","detail-type":"Security Hub Findings - Imported","detail":{"findings":[]}}`, "detail.findings: missing or empty"},
		{"ASFF without Id", `{"id":"x","detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"ProductArn":"p","AwsAccountId":"123456789012","UpdatedAt":"2026-12-06T10:00:00Z"}]}}`, "detail.findings[0]: Id: missing"},
		{"ASFF without severity", `{"id":"x","detail-type":"Security Hub Findings - Imported","detail":{"findings":[{"Id":"i","ProductArn":"p","AwsAccountId":"123456789012","UpdatedAt":"2026-12-06T10:00:00Z"}]}}`, "Severity: neither Label nor Normalized is usable"},
		{"CloudTrail without eventName", `{"id":"x","detail-type":"AWS API Call via CloudTrail","detail":{"eventID":"e"}}`, "missing eventName"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.body), "q")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err=%v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestParseKeepsReadableFindings: of a Security Hub event holding several
// findings, the readable ones are kept and the others named.
func TestParseKeepsReadableFindings(t *testing.T) {
	good := string(fixture(t, "sh-fsbp-s3-8.json"))
	i := strings.Index(good, `"findings": [`) + len(`"findings": [`)
	body := good[:i] + `{"Id": "broken", "ProductArn": "p", "AwsAccountId": "123456789012"},` + good[i:]
	evs, err := Parse([]byte(body), "q")
	if err == nil || !strings.Contains(err.Error(), "detail.findings[0]: UpdatedAt: missing") {
		t.Fatalf("err=%v, want the broken finding named", err)
	}
	if len(evs) != 1 || evs[0].Finding.Type != "security-control/S3.8" {
		t.Fatalf("events=%d, want the readable finding", len(evs))
	}
}
