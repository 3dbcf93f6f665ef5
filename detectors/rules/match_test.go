package rules_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
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

// TestPolicyOperator checks the policy operator's three modes on policy
// documents as CloudTrail logs them: JSON text, URL-encoded text or an
// object, with Statement as an object or a list.
func TestPolicyOperator(t *testing.T) {
	// doc builds a requestParameters.policy holding the given statements
	// as JSON text.
	doc := func(statements string) string {
		return ct(`"eventName":"X","requestParameters":{"policy":` + strconv.Quote(`{"Version":"2012-10-17","Statement":`+statements+`}`) + `}`)
	}
	object := func(statements string) string {
		return ct(`"eventName":"PutBucketPolicy","requestParameters":{"bucketName":"b","bucketPolicy":{"Version":"2012-10-17","Statement":` + statements + `}}`)
	}
	const (
		public    = `{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}`
		publicAWS = `[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111122223333:root","*"]},"Action":"sqs:SendMessage","Resource":"*"}]`
		denyAll   = `{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}`
		foreign   = `[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::444455556666:root"},"Action":"sts:AssumeRole"}]`
		foreignID = `{"Effect":"Allow","Principal":{"AWS":"444455556666"},"Action":"kms:Decrypt","Resource":"*"}`
		own       = `[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"}]`
		service   = `[{"Effect":"Allow","Principal":{"Service":"cloudtrail.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/*"}]`
		admin     = `[{"Effect":"Allow","Action":"*","Resource":"*"}]`
		adminIAM  = `{"Effect":"Allow","Action":["s3:*","iam:*"],"Resource":["*"]}`
		notAction = `{"Effect":"Allow","NotAction":"iam:*","Resource":"*"}`
		scoped    = `[{"Effect":"Allow","Action":"*","Resource":"arn:aws:s3:::b/*"}]`
		readAll   = `[{"Effect":"Allow","Action":["s3:Get*","ec2:Describe*"],"Resource":"*"}]`
	)
	cond := func(c string) string {
		return `[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*","Condition":` + c + `}]`
	}
	tests := []struct {
		name  string
		match string
		event string
		want  bool
	}{
		{"public: principal star", "requestParameters.policy: {policy: public}", doc(public), true},
		{"public: AWS list with star", "requestParameters.policy: {policy: public}", doc(publicAWS), true},
		{"public: NotPrincipal", "requestParameters.policy: {policy: public}", doc(`{"Effect":"Allow","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"s3:*","Resource":"*"}`), true},
		{"public: a Deny is not", "requestParameters.policy: {policy: public}", doc(denyAll), false},
		{"public: own account is not", "requestParameters.policy: {policy: public}", doc(own), false},
		{"public: service principal is not", "requestParameters.policy: {policy: public}", doc(service), false},
		{"public: object value", "requestParameters.bucketPolicy: {policy: public}", object(public), true},
		{"public: object value, not public", "requestParameters.bucketPolicy: {policy: public}", object(service), false},
		{"public: URL-encoded", "requestParameters.policy: {policy: public}", ct(`"eventName":"X","requestParameters":{"policy":"` + url.QueryEscape(`{"Statement":`+public+`}`) + `"}`), true},
		{"public: JSON text inside a JSON string", "requestParameters.policy: {policy: public}", ct(`"eventName":"X","requestParameters":{"policy":` + strconv.Quote(strconv.Quote(`{"Statement":`+public+`}`)) + `}`), true},
		{"public: restricted to the organisation", "requestParameters.policy: {policy: public}", doc(cond(`{"StringEquals":{"aws:PrincipalOrgID":"o-abc123"}}`)), false},
		{"public: restricted to a source account", "requestParameters.policy: {policy: public}", doc(cond(`{"StringEquals":{"AWS:SourceAccount":["111122223333"]}}`)), false},
		{"public: restricted to a VPC endpoint", "requestParameters.policy: {policy: public}", doc(cond(`{"StringEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)), false},
		{"public: restricted to an address range", "requestParameters.policy: {policy: public}", doc(cond(`{"IpAddress":{"aws:SourceIp":["198.51.100.0/24"]}}`)), false},
		{"public: address range is the internet", "requestParameters.policy: {policy: public}", doc(cond(`{"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}}`)), true},
		{"public: TLS-only is no restriction", "requestParameters.policy: {policy: public}", doc(cond(`{"Bool":{"aws:SecureTransport":"true"}}`)), true},
		{"public: negated condition is no restriction", "requestParameters.policy: {policy: public}", doc(cond(`{"StringNotEquals":{"aws:PrincipalOrgID":"o-abc123"}}`)), true},
		{"public: IfExists is no restriction", "requestParameters.policy: {policy: public}", doc(cond(`{"StringEqualsIfExists":{"aws:SourceVpce":"vpce-1a2b3c4d"}}`)), true},
		{"public: wildcard value is no restriction", "requestParameters.policy: {policy: public}", doc(cond(`{"StringLike":{"aws:SourceArn":"*"}}`)), true},
		{"public: open web identity provider", "requestParameters.policy: {policy: public}", doc(`[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity"}]`), true},
		{"public: web identity with a condition", "requestParameters.policy: {policy: public}", doc(`[{"Effect":"Allow","Principal":{"Federated":"cognito-identity.amazonaws.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"cognito-identity.amazonaws.com:aud":"us-east-1:abc"}}}]`), false},
		{"foreign: account root ARN", "requestParameters.policy: {policy: foreign}", doc(foreign), true},
		{"foreign: bare account ID, statement object", "requestParameters.policy: {policy: foreign}", doc(foreignID), true},
		{"foreign: own account is not", "requestParameters.policy: {policy: foreign}", doc(own), false},
		{"foreign: service is not", "requestParameters.policy: {policy: foreign}", doc(service), false},
		{"foreign: star is public, not foreign", "requestParameters.policy: {policy: foreign}", doc(public), false},
		{"foreign: the load balancer log account is AWS's", "requestParameters.bucketPolicy: {policy: foreign}", object(`[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::127311923021:root"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::b/AWSLogs/111122223333/*"}]`), false},
		{"foreign: object value", "requestParameters.bucketPolicy: {policy: foreign}", object(`[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:user/x"]},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]`), true},
		{"foreign: own account from the principal when the record has no recipient", "requestParameters.policy: {policy: foreign}", strings.Replace(doc(own), `"recipientAccountId":"111122223333",`, "", 1), false},
		{"admin: star on star", "requestParameters.policy: {policy: admin}", doc(admin), true},
		{"admin: iam star, statement object", "requestParameters.policy: {policy: admin}", doc(adminIAM), true},
		{"admin: NotAction", "requestParameters.policy: {policy: admin}", doc(notAction), true},
		{"admin: star on one bucket is not", "requestParameters.policy: {policy: admin}", doc(scoped), false},
		{"admin: read-only on star is not", "requestParameters.policy: {policy: admin}", doc(readAll), false},
		{"admin: URL-encoded", "requestParameters.policy: {policy: admin}", ct(`"eventName":"X","requestParameters":{"policy":"` + url.PathEscape(`{"Version":"2012-10-17","Statement":`+admin+`}`) + `"}`), true},
		{"modes: any of a list", "requestParameters.policy: {policy: [public, foreign]}", doc(foreign), true},
		{"modes: all of a list", "requestParameters.policy: {policy: [public, foreign], all: true}", doc(foreign), false},
		{"not_policy", "requestParameters.policy: {not_policy: public}", doc(own), true},
		{"not a policy", "requestParameters.policy: {policy: [public, foreign, admin]}", ct(`"eventName":"X","requestParameters":{"policy":"{not json *"}`), false},
		{"too deep", "requestParameters.policy: {policy: public}", ct(`"eventName":"X","requestParameters":{"policy":"` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `"}`), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := compileMatch(t, tc.match)
			if got := r.Matches(normalize(t, tc.event)); got != tc.want {
				t.Fatalf("match=%v, want %v", got, tc.want)
			}
		})
	}
}

// TestPolicyOperatorErrors checks that an unknown mode is refused when the
// rule is compiled.
func TestPolicyOperatorErrors(t *testing.T) {
	src := "- id: t\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  match: {requestParameters.policy: {policy: open}}\n"
	defs, err := rules.Parse([]byte(src), "t.yaml", "test")
	if err == nil {
		_, err = rules.Compile(defs[0])
	}
	if err == nil || !strings.Contains(err.Error(), `unknown policy mode "open"`) {
		t.Fatalf("err=%v, want an unknown policy mode error", err)
	}
}

// FuzzPolicyOperator feeds arbitrary policy text to the policy operator:
// it must answer, never panic.
func FuzzPolicyOperator(f *testing.F) {
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":["*","arn:aws:iam::444455556666:root"]},"Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:SourceVpce":"v"}}}]}`)
	f.Add(`%7B%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%22*%22%7D%7D`)
	f.Add(`"{\"Statement\":{\"Effect\":\"Allow\",\"NotPrincipal\":{},\"NotAction\":1,\"NotResource\":null}}"`)
	defs, err := rules.Parse([]byte("- id: t\n  title: T\n  severity: low\n  description: D.\n  recommendation: R.\n  match: {requestParameters.policy: {policy: [public, foreign, admin]}}\n"), "t.yaml", "test")
	if err != nil {
		f.Fatal(err)
	}
	r, err := rules.Compile(defs[0])
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, policy string) {
		ev, err := sources.Normalize([]byte(ct(`"eventName":"X","requestParameters":{"policy":`+strconv.Quote(policy)+`}`)), "fuzz")
		if err != nil {
			return
		}
		r.Matches(&ev)
	})
}
