package anomaly

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/sources"
)

func TestUAFamily(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"aws-cli/2.15.0 Python/3.11.6 Linux/6.5 exe/x86_64.ubuntu.22", "aws-cli"},
		{"[aws-cli/1.29.0 Python/3.8]", "aws-cli"},
		{"Boto3/1.26.165 Python/3.10.6 Linux/5.19.0-46-generic Botocore/1.29.165", "boto3"},
		{"[Boto3/1.26.165 Python/3.10.6 Linux/5.19.0-46-generic Botocore/1.29.165]", "boto3"},
		{"Botocore/1.31.0 Python/3.11", "botocore"},
		{"APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/4.67.0 aws-sdk-go/1.44.261", "terraform"},
		{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:102.0) Gecko/20100101 Firefox/102.0", "console"},
		{"[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10]", "console"},
		{"RDS Console, aws-internal/3 aws-sdk-java/1.11.975", "console"},
		{"AWS Internal", "console"},
		{"signin.amazonaws.com", "console"},
		{"secretsmanager.amazonaws.com", "aws-service"},
		{"aws-sdk-go/1.41.4 (go1.18.3; linux; amd64) amazon-ssm-agent/3.2.582.0", "ssm-agent"},
		{"aws-sdk-go-v2/1.32.3 os/linux lang/go#1.23.1 md/GOOS#linux", "aws-sdk-go-v2"},
		{"aws-sdk-java/1.12.488 Linux/5.10", "aws-sdk-java"},
		{"stratus-red-team_5c59eb79-6dac-405c-a4c4-e19aec03c", "stratus-red-team"},
		{"Go-http-client/1.1", "go-http-client"},
		{"python-requests/2.31.0", "python-requests"},
		{"curl/8.4.0", "curl"},
		{"AWSCloudShell/1.0", "cloudshell"},
		{"", ""},
		{"12345", "other"},
	}
	for _, tc := range tests {
		t.Run(tc.ua, func(t *testing.T) {
			if got := uaFamily(tc.ua); got != tc.want {
				t.Fatalf("family=%q, want %q", got, tc.want)
			}
		})
	}
}

func TestPrincipalKey(t *testing.T) {
	tests := []struct {
		name       string
		p          sources.Principal
		key, pname string
		person     bool
	}{
		{"iam user", sources.Principal{Type: "IAMUser", ARN: "arn:aws:iam::1:user/alice", Name: "alice", AccountID: "1"}, "arn:aws:iam::1:user/alice", "alice", true},
		{"iam user without arn", sources.Principal{Type: "IAMUser", Name: "bert-jan", AccountID: "1"}, "arn:aws:iam::1:user/bert-jan", "bert-jan", true},
		{"root", sources.Principal{Type: "Root", ARN: "arn:aws:iam::1:root", Name: "root", AccountID: "1"}, "arn:aws:iam::1:root", "root", true},
		{"role session", sources.Principal{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/deploy/i-0abc", Name: "deploy/i-0abc"}, "arn:aws:sts::1:assumed-role/deploy", "deploy", false},
		{"sso session", sources.Principal{Type: "AssumedRole", ARN: "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/erin@example.com"}, "arn:aws:sts::1:assumed-role/AWSReservedSSO_Admin_abc/erin@example.com", "erin@example.com", true},
		{"federated", sources.Principal{Type: "FederatedUser", ARN: "arn:aws:sts::1:federated-user/bob", Name: "bob"}, "arn:aws:sts::1:federated-user/bob", "bob", true},
		{"aws service", sources.Principal{Type: "AWSService", Name: "ec2.amazonaws.com"}, "", "", false},
		{"nobody", sources.Principal{}, "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, pname, person := principalKey(&sources.Event{Account: "1", Principal: tc.p})
			if key != tc.key || pname != tc.pname || person != tc.person {
				t.Fatalf("got (%q, %q, %v), want (%q, %q, %v)", key, pname, person, tc.key, tc.pname, tc.person)
			}
		})
	}
}

func TestIsPublic(t *testing.T) {
	for ip, want := range map[string]bool{
		"198.51.100.7": true, "8.8.8.8": true, "2001:db8::1": true, "253.252.51.7": true,
		"10.8.8.10": false, "192.168.10.20": false, "172.16.0.1": false, "100.64.1.1": false,
		"127.0.0.1": false, "169.254.169.254": false, "::1": false, "fd00::1": false, "0.0.0.0": false,
	} {
		if got := isPublic(netip.MustParseAddr(ip)); got != want {
			t.Errorf("isPublic(%s)=%v, want %v", ip, got, want)
		}
	}
}

func TestReadName(t *testing.T) {
	for action, want := range map[string]bool{
		"GetObject": true, "ListBuckets": true, "DescribeInstances": true, "Get": true,
		"CreateUser": false, "Getaway": false, "PutObject": false, "ConsoleLogin": false,
	} {
		if got := readName(action); got != want {
			t.Errorf("readName(%s)=%v, want %v", action, got, want)
		}
	}
}

func TestObserveInvalidAddresses(t *testing.T) {
	o := newObserver(nil)
	for _, src := range []string{"253.252.51.07", "not an ip", ""} {
		x := o.of(&sources.Event{ID: src + "x", SourceIP: src})
		if x.ip.IsValid() || x.network != "" || x.public {
			t.Errorf("%q: parsed as %v", src, x.ip)
		}
	}
	if x := o.of(&sources.Event{ID: "svc", SourceIP: "secretsmanager.amazonaws.com"}); !x.viaService {
		t.Error("service host name not seen as a call on the principal's behalf")
	}
}

func TestSigninStepsAreNotWrites(t *testing.T) {
	o := newObserver(nil)
	tests := []struct {
		action string
		write  bool
	}{
		{"ConsoleLogin", true},
		{"CheckMfa", false},
		{"SwitchRole", false},
	}
	for _, tc := range tests {
		x := o.of(&sources.Event{ID: tc.action, Service: "signin.amazonaws.com", Action: tc.action})
		if x.write != tc.write || x.sensitive != tc.write {
			t.Errorf("%s: write=%v sensitive=%v, want %v", tc.action, x.write, x.sensitive, tc.write)
		}
	}
}

func TestHostileValuesAreCut(t *testing.T) {
	o := newObserver(nil)
	long := strings.Repeat("A", 100000)
	x := o.of(&sources.Event{ID: "h", Account: long, Service: "iam.amazonaws.com", Action: long, UserAgent: long,
		Principal: sources.Principal{Type: "IAMUser", ARN: "arn:aws:iam::1:user/" + long, Name: long}})
	if len(x.account) > maxTerm || len(x.api) > maxTerm || len(x.pkey) > maxKey || len(x.pname) > maxTerm || len(x.uaFamily) > 40 {
		t.Fatalf("kept %d, %d, %d, %d, %d bytes", len(x.account), len(x.api), len(x.pkey), len(x.pname), len(x.uaFamily))
	}
	if len(o.uaCache) != 0 {
		t.Fatal("a huge user agent was cached")
	}
}
