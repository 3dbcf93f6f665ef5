package rules

import (
	"testing"

	"github.com/trailhound/trailhound/sources"
)

// derivedFields are normalised fields computed by the rule engine, not by
// sources.Event.Field.
var derivedFields = map[string]bool{"by_service": true, "deployer": true, "principal.session": true, "iac_client": true}

func TestDerivedFields(t *testing.T) {
	cases := []struct {
		name               string
		rec                string
		byService, deploys string
	}{
		{"person", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateUser","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice"}}`, "false", "false"},
		{"invoked by a service", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"kms.amazonaws.com","eventName":"Decrypt","sourceIPAddress":"s3.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/app/x","invokedBy":"s3.amazonaws.com"}}`, "true", "false"},
		{"AWS Internal", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"GetRole","sourceIPAddress":"AWS Internal","userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}`, "true", "false"},
		{"service-linked role", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateSnapshot","sourceIPAddress":"198.51.100.1","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForBackup/x"}}`, "true", "false"},
		{"terraform role", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","sourceIPAddress":"198.51.100.1","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/TerraformApply/ci-42"}}`, "false", "true"},
		{"session named like a deployer does not count", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","sourceIPAddress":"198.51.100.1","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/terraform"}}`, "false", "false"},
		{"CloudFormation for the caller", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateRole","sourceIPAddress":"cloudformation.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/bob","invokedBy":"cloudformation.amazonaws.com"}}`, "true", "true"},
		{"deploy user", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateRole","sourceIPAddress":"198.51.100.1","userIdentity":{"type":"IAMUser","userName":"github-actions-deployer","arn":"arn:aws:iam::111122223333:user/ci/github-actions-deployer"}}`, "false", "true"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := sources.Normalize([]byte(c.rec), "t")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := byService(&ev); got != c.byService {
				t.Errorf("by_service=%s, want %s", got, c.byService)
			}
			if got, _ := deployer(&ev); got != c.deploys {
				t.Errorf("deployer=%s, want %s", got, c.deploys)
			}
		})
	}
}

func TestPrincipalSession(t *testing.T) {
	for arn, want := range map[string]string{
		"arn:aws:sts::111122223333:assumed-role/Admin/bob":               "bob",
		"arn:aws:sts::111122223333:federated-user/carol":                 "carol",
		"arn:aws:iam::111122223333:user/dave":                            "",
		"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_X/e@x.io": "e@x.io",
	} {
		ev := sources.Event{Principal: sources.Principal{ARN: arn}}
		if got, _ := principalSession(&ev); got != want {
			t.Errorf("%s: session=%q, want %q", arn, got, want)
		}
	}
}

func TestDeploymentPrincipalsConfigurable(t *testing.T) {
	defer setDeploymentPrincipals(DefaultDeploymentPrincipals)
	if _, err := Load(Options{NoBuiltin: true, DeploymentPrincipals: []string{"release-*"}}); err != nil {
		t.Fatal(err)
	}
	ev, err := sources.Normalize([]byte(`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateRole","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Release-Bot/x"}}`), "t")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := deployer(&ev); got != "true" {
		t.Errorf("deployer=%s for Release-Bot with pattern release-*", got)
	}
	ev2, _ := sources.Normalize([]byte(`{"eventTime":"2024-01-01T00:00:00Z","eventSource":"iam.amazonaws.com","eventName":"CreateRole","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/TerraformApply/x"}}`), "t")
	if got, _ := deployer(&ev2); got != "false" {
		t.Errorf("deployer=%s for TerraformApply once the defaults are replaced", got)
	}
}

func TestIACClient(t *testing.T) {
	for ua, want := range map[string]string{
		"APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.31.0": "true",
		"aws-cdk/2.100.0":              "true",
		"pulumi/3.0":                   "true",
		"aws-cli/2.13.0 Python/3.11":   "false",
		"":                             "false",
		"cloudformation.amazonaws.com": "true",
	} {
		ev := sources.Event{UserAgent: ua, Raw: []byte("{}")}
		if got, ok := iacClient(&ev); !ok || got != want {
			t.Errorf("%q: iac_client=%s,%v, want %s", ua, got, ok, want)
		}
	}
	if _, ok := iacClient(&sources.Event{Message: "a log line"}); ok {
		t.Error("a plain log line has an iac_client value")
	}
}
