package pushdown_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules/pushdown"
)

// derivedRecords are hand-made CloudTrail records that tell the derived
// fields' cases apart, which real trails rarely do (a call from an AWS
// service's address nearly always names invokedBy too).
var derivedRecords = []string{
	`{"eventName":"A","sourceIPAddress":"AWS Internal","userIdentity":{"type":"IAMUser","userName":"u1","arn":"arn:aws:iam::111122223333:user/u1"}}`,
	`{"eventName":"A","sourceIPAddress":"lambda.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/terraform-ci/s1","sessionContext":{"sessionIssuer":{"userName":"terraform-ci"}}}}`,
	`{"eventName":"A","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/AWSServiceRoleForSupport/s"}}`,
	`{"eventName":"A","userAgent":"Terraform/1.5 aws-sdk-go","userIdentity":{"type":"IAMUser","userName":"deploy-bot","arn":"arn:aws:iam::111122223333:user/path/to/deploy-bot"}}`,
	`{"eventName":"ConsoleLogin","responseElements":{"ConsoleLogin":"Failure"},"additionalEventData":{"MFAUsed":"No"},"userIdentity":{"type":"Root","arn":"arn:aws:iam::111122223333:root"}}`,
	`{"eventName":"ConsoleLogin","errorMessage":"Failed authentication","additionalEventData":{"MFAUsed":"Yes"},"userIdentity":{"type":"IAMUser","userName":"eve"}}`,
	`{"eventName":"A","readOnly":true,"userIdentity":{"type":"FederatedUser","arn":"arn:aws:sts::111122223333:federated-user/bob"}}`,
	`{"eventName":"A","readOnly":"false","userIdentity":{"type":"AWSService","invokedBy":"ec2.amazonaws.com"}}`,
	`{"eventName":"A","userIdentity":{"type":"AssumedRole","principalId":"AROAX:x","sessionContext":{"sessionIssuer":{"userName":"GitHubActionsRole"},"attributes":{"mfaAuthenticated":"true"}}}}`,
	`{"eventName":"A","errorCode":"AccessDenied","recipientAccountId":"222233334444","userIdentity":{"type":"IAMUser","principalId":"AIDAX","accountId":"111122223333"}}`,
	`{"eventName":"A","sourceIPAddress":"cloudformation.amazonaws.com","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Admin/alice","sessionContext":{"sessionIssuer":{"userName":"Admin"},"attributes":{"mfaAuthenticated":"false"}}}}`,
	`{"eventName":"A","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/"}}`,
	`{"eventName":"A","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/Role","sessionContext":{"sessionIssuer":{"userName":"Role"}}}}`,
	`{"eventName":"A","userIdentity":{"type":"IAMUser","principalId":"jenkins-agent/7"}}`,
	`{"eventName":"A","userAgent":"aws-cli/2 Pulumi","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/cdk-hnb659fds-deploy-role/x"}}`,
}

// TestDerivedFieldsDuckDB compares, over derivedRecords, the SQL of every
// derived and normalised field a rule can test (true/false, presence, and
// equality with each value a record has) with the matcher.
func TestDerivedFieldsDuckDB(t *testing.T) {
	d := newDataset()
	for i, r := range derivedRecords {
		d.add(t, []byte(r), fmt.Sprintf("derived-%d", i))
	}
	db := loadDuckDB(t, d.records)
	var matches []string
	for _, f := range []string{"by_service", "deployer", "failed", "iac_client", "read_only", "mfa"} {
		matches = append(matches, f+`: "true"`, f+`: "false"`, f+`: {eq: "TRUE", nocase: true}`, f+`: {startswith: "t"}`, f+`: {not_eq: "true"}`)
	}
	values := map[string]map[string]bool{}
	add := func(f, v string) {
		if values[f] == nil {
			values[f] = map[string]bool{}
		}
		values[f][v] = true
	}
	for _, ev := range d.events {
		add("principal.name", ev.Principal.Name)
		add("account", ev.Account)
		add("error_message", ev.ErrorMessage)
		add("principal.type", ev.Principal.Type)
	}
	for _, f := range []string{"principal.name", "principal.session", "account", "error_message", "mfa", "principal.type", "event_type"} {
		matches = append(matches, f+": {exists: true}", f+": {exists: false}")
		var vs []string
		for v := range values[f] {
			if v != "" {
				vs = append(vs, v)
			}
		}
		sort.Strings(vs)
		for _, v := range vs {
			matches = append(matches, fmt.Sprintf("%s: %q", f, v))
		}
	}
	matches = append(matches, `principal.session: {glob: "*"}`, `principal.session: alice`, `principal.session: bob`)
	var b strings.Builder
	for i, m := range matches {
		b.WriteString(rule(fmt.Sprintf("r%d", i), m))
	}
	p := compileRules(t, b.String())
	for i, r := range p.Rules() {
		plan := pushdown.Compile(r, pushdown.DuckDB)
		if plan.Status != pushdown.Exact {
			t.Errorf("%s: %s, want exact (%q)", matches[i], plan.Status, plan.Reasons)
			continue
		}
		want := map[string]bool{}
		for j := range d.events {
			if r.Matches(&d.events[j]) {
				want[d.events[j].ID] = true
			}
		}
		got := map[string]bool{}
		if !plan.Never {
			got = set(queryIDs(t, db, "SELECT eventid FROM cloudtrail WHERE "+plan.Where))
		}
		if miss, extra := subset(want, got), subset(got, want); len(miss)+len(extra) > 0 {
			t.Errorf("%s: SQL misses %v, has extra %v\n%s", matches[i], miss, extra, plan.Where)
		}
	}
	t.Logf("%d conditions on derived and normalised fields compared over %d records", len(matches), len(d.events))
}
