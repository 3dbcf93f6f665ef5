package rules_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/sources"
)

// compileMatch compiles a rule whose match block is the given YAML.
func compileMatch(t *testing.T, match string) *rules.Rule {
	t.Helper()
	src := "- id: t\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  match:\n    " +
		strings.ReplaceAll(strings.TrimSpace(match), "\n", "\n    ") + "\n"
	defs, err := rules.Parse([]byte(src), "t.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(defs[0])
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func normalize(t testing.TB, js string) *sources.Event {
	t.Helper()
	ev, err := sources.Normalize([]byte(js), "test")
	if err != nil {
		t.Fatal(err)
	}
	return &ev
}

// ct builds a CloudTrail record with the given extra top-level fields.
func ct(extra string) string {
	base := `"eventTime":"2024-01-01T00:00:00Z","eventID":"e1","eventSource":"ec2.amazonaws.com","recipientAccountId":"111122223333","sourceIPAddress":"203.0.113.9","userIdentity":{"type":"IAMUser","userName":"alice","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333"}`
	if extra == "" {
		return "{" + base + `,"eventName":"X"}`
	}
	return "{" + base + "," + extra + "}"
}

func TestMatchLanguage(t *testing.T) {
	sg := ct(`"eventName":"AuthorizeSecurityGroupIngress","requestParameters":{"groupId":"sg-1","ipPermissions":{"items":[{"fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"198.51.100.0/24"},{"cidrIp":"0.0.0.0/0"}]}},{"fromPort":443,"toPort":443}]}}`)
	tests := []struct {
		name  string
		match string
		event string
		want  bool
	}{
		{"equality", "action: RunInstances", ct(`"eventName":"RunInstances"`), true},
		{"equality is case-sensitive", "action: runinstances", ct(`"eventName":"RunInstances"`), false},
		{"nocase", "action: {eq: runinstances, nocase: true}", ct(`"eventName":"RunInstances"`), true},
		{"star wildcard", "action: 'Describe*'", ct(`"eventName":"DescribeInstances"`), true},
		{"question wildcard", "action: 'Get?ser'", ct(`"eventName":"GetUser"`), true},
		{"wildcard needs whole match", "action: 'Describe*'", ct(`"eventName":"XDescribeInstances"`), false},
		{"escaped star is literal", `user_agent: 'a\*'`, ct(`"eventName":"X","userAgent":"abc"`), false},
		{"list is any of", "action: [StopLogging, DeleteTrail]", ct(`"eventName":"DeleteTrail"`), true},
		{"list, none", "action: [StopLogging, DeleteTrail]", ct(`"eventName":"StartLogging"`), false},
		{"raw path", "requestParameters.groupId: sg-1", sg, true},
		{"array fan-out", "requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0", sg, true},
		{"number equality", "requestParameters.ipPermissions.items.fromPort: 443", sg, true},
		{"gt", "requestParameters.ipPermissions.items.fromPort: {gt: 400}", sg, true},
		{"gte", "requestParameters.ipPermissions.items.fromPort: {gte: 443}", sg, true},
		{"lt", "requestParameters.ipPermissions.items.fromPort: {lt: 22}", sg, false},
		{"lte", "requestParameters.ipPermissions.items.fromPort: {lte: 22}", sg, true},
		{"numeric string", "requestParameters.count: {gt: 5}", ct(`"eventName":"X","requestParameters":{"count":"12"}`), true},
		{"not a number", "requestParameters.count: {gt: 5}", ct(`"eventName":"X","requestParameters":{"count":"many"}`), false},
		{"same value for all tests", "requestParameters.ipPermissions.items.fromPort: {gt: 100, lt: 200}", sg, false},
		{"exists", "error_code: {exists: true}", ct(`"eventName":"X","errorCode":"AccessDenied"`), true},
		{"absent", "error_code: {absent: true}", ct(""), true},
		{"null is absent", "requestParameters.userName: null", ct(`"eventName":"X","requestParameters":null`), true},
		{"raw exists through arrays", "requestParameters.ipPermissions.items.toPort: {exists: true}", sg, true},
		{"raw absent", "requestParameters.nope: {absent: true}", sg, true},
		{"contains", "user_agent: {contains: Browser}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"startswith", "user_agent: {startswith: S3}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"endswith", "user_agent: {endswith: ' 9'}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"contains any of", "user_agent: {contains: [boto, Browser]}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"contains all", "user_agent: {contains: [S3, boto], all: true}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), false},
		{"not_contains", "user_agent: {not_contains: boto}", ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"regex", `user_agent: {regex: '^S3 Browser \d+$'}`, ct(`"eventName":"X","userAgent":"S3 Browser 9"`), true},
		{"regex on an object", `requestParameters: {regex: '"groupId":"sg-1"'}`, sg, true},
		{"cidr", "source_ip: {cidr: [203.0.113.0/24]}", ct(""), true},
		{"cidr outside", "source_ip: {cidr: [10.0.0.0/8, 192.168.0.0/16]}", ct(""), false},
		{"cidr on a non-address", "source_ip: {cidr: [0.0.0.0/0]}", ct(`"eventName":"X","sourceIPAddress":"AWS Internal"`), false},
		{"ne_field", "requestParameters.userName: {ne_field: principal.name}", ct(`"eventName":"CreateAccessKey","requestParameters":{"userName":"bob"}`), true},
		{"ne_field, same", "requestParameters.userName: {ne_field: principal.name}", ct(`"eventName":"CreateAccessKey","requestParameters":{"userName":"alice"}`), false},
		{"eq_field", "requestParameters.userName: {eq_field: userIdentity.userName}", ct(`"eventName":"CreateAccessKey","requestParameters":{"userName":"alice"}`), true},
		{"foreign_account", "requestParameters.valuesToAdd: {foreign_account: account}", ct(`"eventName":"X","requestParameters":{"valuesToAdd":["444455556666"]}`), true},
		{"own account is not foreign", "requestParameters.valuesToAdd: {foreign_account: account}", ct(`"eventName":"X","requestParameters":{"valuesToAdd":["111122223333"]}`), false},
		{"foreign account in an ARN", "requestParameters.policy: {foreign_account: account}", ct(`"eventName":"X","requestParameters":{"policy":"{\"AWS\":\"arn:aws:iam::444455556666:root\"}"}`), true},
		{"not", "action: RunInstances\nnot: {error_code: {exists: true}}", ct(`"eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation"`), false},
		{"any", "any:\n  - action: A\n  - action: RunInstances", ct(`"eventName":"RunInstances"`), true},
		{"all", "all:\n  - action: RunInstances\n  - principal.type: Root", ct(`"eventName":"RunInstances"`), false},
		{"mfa", "mfa: false", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","userName":"a"},"additionalEventData":{"MFAUsed":"No"}}`, true},
		{"failed", "failed: true", `{"eventTime":"2024-01-01T00:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser","userName":"a"},"responseElements":{"ConsoleLogin":"Failure"}}`, true},
		{"bool raw value", "requestParameters.enable: false", ct(`"eventName":"UpdateDetector","requestParameters":{"enable":false}`), true},
		{"url decode", `message: {decode: url, contains: "' OR 1=1"}`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := compileMatch(t, tc.match)
			var ev *sources.Event
			if tc.event == "" {
				ev = &sources.Event{ID: "l1", Message: "GET /login?u=admin%27%20OR%201%3D1 HTTP/1.1"}
			} else {
				ev = normalize(t, tc.event)
			}
			if got := r.Matches(ev); got != tc.want {
				t.Fatalf("match=%v, want %v", got, tc.want)
			}
		})
	}
}

func TestReasonTemplate(t *testing.T) {
	src := `- id: t
  title: T
  severity: low
  description: D.
  recommendation: R.
  reason: "{principal.name} touched {requestParameters.roleName|requestParameters.userName} ({error_code|'succeeded'}) {{literal}} {requestParameters.ids}"
  match: {action: X}
`
	defs, err := rules.Parse([]byte(src), "t.yaml", "test")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rules.Compile(defs[0])
	if err != nil {
		t.Fatal(err)
	}
	fs, err := r.Detect(context.Background(), normalize(t, ct(`"eventName":"X","requestParameters":{"userName":"bob","ids":["a","b","a"]}`)))
	if err != nil || len(fs) != 1 {
		t.Fatalf("findings=%d err=%v", len(fs), err)
	}
	want := "alice touched bob (succeeded) {literal} a, b"
	if fs[0].Reason != want {
		t.Fatalf("reason=%q, want %q", fs[0].Reason, want)
	}
}

// TestGroupBy checks that group_by fields make the alert group key.
func TestGroupBy(t *testing.T) {
	src := `- id: t
  title: T
  severity: low
  description: D.
  recommendation: R.
  group_by: [account, requestParameters.bucketName]
  match: {action: X}
`
	defs, _ := rules.Parse([]byte(src), "t.yaml", "test")
	r, err := rules.Compile(defs[0])
	if err != nil {
		t.Fatal(err)
	}
	key := func(bucket, user string) string {
		ev := normalize(t, strings.Replace(ct(fmt.Sprintf(`"eventName":"X","requestParameters":{"bucketName":%q}`, bucket)), `"userName":"alice"`, fmt.Sprintf("%q:%q", "userName", user), 1))
		fs, _ := r.Detect(context.Background(), ev)
		return fs[0].GroupKey
	}
	if key("a", "alice") != key("a", "bob") {
		t.Errorf("same bucket, different principals: group keys differ")
	}
	if key("a", "alice") == key("b", "alice") {
		t.Errorf("different buckets share a group key")
	}
}

// TestSupersededBy checks that a general rule yields to a specific one
// on the same event, and fires alone when the specific rule is disabled.
func TestSupersededBy(t *testing.T) {
	ev := normalize(t, ct(`"eventName":"AttachUserPolicy","eventSource":"iam.amazonaws.com","requestParameters":{"userName":"x","policyArn":"arn:aws:iam::aws:policy/AdministratorAccess"}`))
	fired := func(p *rules.Pack) []string {
		var ids []string
		for _, r := range p.Rules() {
			if fs, _ := r.Detect(context.Background(), ev); len(fs) > 0 {
				ids = append(ids, r.ID())
			}
		}
		return ids
	}
	p, err := rules.Load(rules.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(fired(p)); got != "[aws-iam-admin-policy-attached]" {
		t.Errorf("fired=%s, want only the admin rule", got)
	}
	p, err = rules.Load(rules.Options{Disable: []string{"aws-iam-admin-policy-attached"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(fired(p)); got != "[aws-iam-policy-change]" {
		t.Errorf("fired=%s, want the general rule once the specific one is off", got)
	}
}

// TestOverrideByID checks that a user rule replaces the built-in rule with
// the same id, and that rules shipped off run only when enabled.
func TestOverrideByID(t *testing.T) {
	dir := t.TempDir()
	src := `- id: aws-root-account-use
  title: Root used (ours)
  severity: critical
  technique: T1078.004
  description: D.
  recommendation: R.
  match: {principal.type: Root}
`
	writeFile(t, dir+"/root.yaml", src)
	p, err := rules.Load(rules.Options{Dirs: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := p.Rule("aws-root-account-use")
	if !ok {
		t.Fatal("rule missing")
	}
	if d := r.Definition(); d.Title != "Root used (ours)" || d.Origin != dir {
		t.Errorf("title=%q origin=%q, want the user's rule", d.Title, d.Origin)
	}
	if _, ok := p.Rule("aws-cloudwatch-log-group-deleted"); ok {
		t.Errorf("a rule shipped off is on")
	}
	p, err = rules.Load(rules.Options{Enable: []string{"aws-cloudwatch-log-group-deleted"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Rule("aws-cloudwatch-log-group-deleted"); !ok {
		t.Errorf("enabled rule is off")
	}
}
