package rules

import (
	"encoding/json"
	"net/netip"
	"strings"

	"github.com/trailhound/trailhound/sources"
)

// The policy operator reads a field as an IAM policy document (a resource
// policy, trust policy or identity policy) and asks what it grants:
//
//	public   an Allow statement for Principal "*" (or AWS "*", NotPrincipal,
//	         or an open web-identity provider) with no Condition that limits
//	         who can use it
//	foreign  an Allow statement naming an AWS account other than the event's
//	         (the accounts Elastic Load Balancing delivers logs from excepted)
//	admin    an Allow statement for Action "*" (or "iam:*", or NotAction) on
//	         Resource "*" (or NotResource)
//
// The document may be JSON text, URL-encoded JSON text, JSON text inside a
// JSON string, or an object already (S3 logs bucketPolicy as one). Parsing
// is bounded by maxPolicyBytes and maxPolicyDepth and keeps nothing across
// events.

// Policy modes, as bits of a test's mode mask.
const (
	policyPublic uint8 = 1 << iota
	policyForeign
	policyAdmin
)

// PolicyModes are the values the policy operator takes.
var PolicyModes = []string{"public", "foreign", "admin"}

func policyMode(s string) uint8 {
	switch s {
	case "public":
		return policyPublic
	case "foreign":
		return policyForeign
	case "admin":
		return policyAdmin
	}
	return 0
}

const (
	// maxPolicyBytes bounds a policy document; AWS's own limits are at
	// most 32 KiB (KMS key policies), so nothing real is cut.
	maxPolicyBytes = 64 << 10
	// maxPolicyDepth bounds the nesting of a document.
	maxPolicyDepth = 32
)

// matchPolicy reports whether the policy in s has the modes of t: any of
// them, or every one with all.
func (t *test) matchPolicy(ev *sources.Event, s string) bool {
	doc, ok := parsePolicy(s)
	if !ok {
		return false
	}
	return t.policyHolds(ev, doc)
}

func (t *test) policyHolds(ev *sources.Event, doc any) bool {
	got := policyFlags(doc, ownAccount(ev))
	if t.all {
		return got&t.modes == t.modes
	}
	return got&t.modes != 0
}

// ownAccount is the account the event happened in: the recipient account,
// else the principal's.
func ownAccount(ev *sources.Event) string {
	if ev.Account != "" {
		return ev.Account
	}
	if ev.Principal.AccountID != "" {
		return ev.Principal.AccountID
	}
	return accountOf(ev.Principal.ARN)
}

// parsePolicy turns a field's text into a JSON value, percent-decoding or
// unquoting it when it is URL-encoded or a JSON string holding JSON.
func parsePolicy(s string) (any, bool) {
	for step := 0; step < 4; step++ {
		s = strings.TrimSpace(s)
		if s == "" || len(s) > 3*maxPolicyBytes {
			return nil, false
		}
		if c := s[0]; (c == '{' || c == '[' || c == '"') && len(s) <= maxPolicyBytes && jsonDepth(s) <= maxPolicyDepth {
			var v any
			if err := json.Unmarshal([]byte(s), &v); err == nil {
				if inner, ok := v.(string); ok {
					s = inner
					continue
				}
				return v, true
			}
		}
		d := urlDecode(s)
		if d == s {
			return nil, false
		}
		s = d
	}
	return nil, false
}

// jsonDepth is the deepest nesting of objects and arrays in JSON text,
// ignoring brackets inside strings.
func jsonDepth(s string) int {
	depth, max, inStr := 0, 0, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inStr {
			switch c {
			case '\\':
				i++
			case '"':
				inStr = false
			}
			continue
		}
		switch c {
		case '"':
			inStr = true
		case '{', '[':
			depth++
			if depth > max {
				max = depth
			}
		case '}', ']':
			depth--
		}
	}
	return max
}

// policyFlags returns the modes a policy document has.
func policyFlags(doc any, own string) uint8 {
	var flags uint8
	forEachStatement(doc, 0, func(st map[string]any) {
		if !strings.EqualFold(policyString(policyKey(st, "Effect")), "Allow") {
			return
		}
		flags |= statementFlags(st, own)
	})
	return flags
}

// forEachStatement calls f with each statement of a document: the
// Statement object or list, a list of statements, or a lone statement.
func forEachStatement(doc any, depth int, f func(map[string]any)) {
	if depth > 2 {
		return
	}
	switch x := doc.(type) {
	case map[string]any:
		if s := policyKey(x, "Statement"); s != nil {
			forEachStatement(s, depth+1, f)
			return
		}
		if policyKey(x, "Effect") != nil {
			f(x)
		}
	case []any:
		for _, el := range x {
			forEachStatement(el, depth+1, f)
		}
	}
}

func statementFlags(st map[string]any, own string) uint8 {
	var flags uint8
	cond := policyKey(st, "Condition")
	p := principalOf(policyKey(st, "Principal"), own)
	if (p.anyone || policyKey(st, "NotPrincipal") != nil) && !restricts(cond) {
		flags |= policyPublic
	}
	if p.openFederated && emptyValue(cond) {
		flags |= policyPublic
	}
	if p.foreign {
		flags |= policyForeign
	}
	if broadActions(st) && broadResources(st) {
		flags |= policyAdmin
	}
	return flags
}

type policyPrincipal struct {
	anyone        bool // "*" or AWS "*"
	foreign       bool // an AWS account other than own
	openFederated bool // a web-identity provider, which anyone can sign in to
}

func principalOf(v any, own string) policyPrincipal {
	var p policyPrincipal
	switch x := v.(type) {
	case string:
		p.aws(x, own)
	case map[string]any:
		for k, vals := range x {
			switch strings.ToLower(k) {
			case "aws":
				eachString(vals, func(s string) { p.aws(s, own) })
			case "federated":
				eachString(vals, func(s string) {
					if !strings.Contains(s, ":saml-provider/") {
						p.openFederated = true
					}
				})
			}
		}
	}
	return p
}

func (p *policyPrincipal) aws(s, own string) {
	s = strings.TrimSpace(s)
	if s == "*" {
		p.anyone = true
		return
	}
	if a := accountOf(s); a != "" && own != "" && a != own && !elbLogAccounts[a] {
		p.foreign = true
	}
}

// elbLogAccounts are the accounts Elastic Load Balancing writes access logs
// from, one per older region: bucket policies of log buckets name them, so
// they are AWS's, not another customer's.
var elbLogAccounts = map[string]bool{
	"127311923021": true, "033677994240": true, "027434742980": true, "797873946194": true, // us-east-1, us-east-2, us-west-1, us-west-2
	"098369216593": true, "754344448648": true, "582318560864": true, "600734575887": true, // af-south-1, ap-east-1, ap-northeast-1, ap-northeast-2
	"383597477331": true, "718504428378": true, "114774131450": true, "783225319266": true, // ap-northeast-3, ap-south-1, ap-southeast-1, ap-southeast-2
	"985666609251": true, "054676820928": true, "897822967062": true, "635631232127": true, // ca-central-1, eu-central-1, eu-north-1, eu-south-1
	"156460612806": true, "652711504416": true, "009996457667": true, "076674570225": true, // eu-west-1, eu-west-2, eu-west-3, me-south-1
	"507241528517": true, "048591011584": true, "190560391635": true, // sa-east-1, us-gov-west-1, us-gov-east-1
}

// accountOf returns the 12-digit account of an ARN or a bare account ID.
func accountOf(s string) string {
	if strings.HasPrefix(s, "arn:") {
		parts := strings.SplitN(s, ":", 6)
		if len(parts) < 6 {
			return ""
		}
		s = parts[4]
	}
	if len(s) != 12 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return ""
		}
	}
	return s
}

// restrictingKeys are condition keys that limit who can use a statement
// (to an account, organisation, network, service or shared secret).
var restrictingKeys = keySet(
	"aws:SourceAccount", "aws:SourceArn", "aws:SourceOwner", "aws:SourceVpc", "aws:SourceVpce",
	"aws:SourceIp", "aws:VpcSourceIp", "aws:SourceOrgID", "aws:SourceOrgPaths",
	"aws:PrincipalOrgID", "aws:PrincipalOrgPaths", "aws:PrincipalAccount", "aws:PrincipalArn",
	"aws:userid", "aws:username", "aws:PrincipalIsAWSService",
	"aws:CalledVia", "aws:CalledViaFirst", "aws:CalledViaLast", "aws:ViaAWSService",
	"kms:CallerAccount", "kms:ViaService", "kms:GrantIsForAWSResource", "sts:ExternalId",
	"s3:DataAccessPointAccount", "s3:DataAccessPointArn",
	"elasticfilesystem:AccessedViaMountTarget", "lambda:FunctionUrlAuthType",
)

func keySet(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[strings.ToLower(k)] = true
	}
	return m
}

// restricts reports whether a Condition block limits who can use its
// statement. Negated operators (StringNotEquals, ...), ...IfExists,
// ForAllValues: and Null hold for callers without the key, so they do not
// restrict; nor do values that are wildcards or the whole internet.
func restricts(cond any) bool {
	ops, ok := cond.(map[string]any)
	if !ok {
		return false
	}
	for op, keys := range ops {
		o := strings.ToLower(op)
		if strings.Contains(o, "not") || strings.HasSuffix(o, "ifexists") || strings.HasPrefix(o, "forallvalues:") || o == "null" {
			continue
		}
		km, ok := keys.(map[string]any)
		if !ok {
			continue
		}
		for k, vals := range km {
			key := strings.ToLower(k)
			if !restrictingKeys[key] {
				continue
			}
			if restrictingValues(key, vals) {
				return true
			}
		}
	}
	return false
}

func restrictingValues(key string, vals any) bool {
	n, open := 0, false
	eachString(vals, func(s string) {
		n++
		s = strings.TrimSpace(s)
		switch {
		case s == "" || s == "*" || strings.Contains(s, "::*:"):
			open = true
		case key == "aws:sourceip" || key == "aws:vpcsourceip":
			if p, err := netip.ParsePrefix(s); err == nil && p.Bits() == 0 {
				open = true
			}
		case key == "aws:principalisawsservice" || key == "kms:grantisforawsresource" || key == "elasticfilesystem:accessedviamounttarget":
			open = open || !strings.EqualFold(s, "true")
		case key == "lambda:functionurlauthtype":
			open = open || strings.EqualFold(s, "NONE")
		}
	})
	return n > 0 && !open
}

// broadActions: Action "*", "*:*" or "iam:*", or any NotAction.
func broadActions(st map[string]any) bool {
	if policyKey(st, "NotAction") != nil {
		return true
	}
	broad := false
	eachString(policyKey(st, "Action"), func(s string) {
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "*", "*:*", "iam:*":
			broad = true
		}
	})
	return broad
}

// broadResources: Resource "*" or any NotResource.
func broadResources(st map[string]any) bool {
	if policyKey(st, "NotResource") != nil {
		return true
	}
	broad := false
	eachString(policyKey(st, "Resource"), func(s string) {
		if strings.TrimSpace(s) == "*" {
			broad = true
		}
	})
	return broad
}

// policyKey returns m[key], matching the key case-insensitively when it is not
// there as written (some services log policy keys in lower case).
func policyKey(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func policyString(v any) string {
	s, _ := v.(string)
	return s
}

func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	case string:
		return x == ""
	}
	return false
}

// eachString calls f with a string value or each string of a list.
func eachString(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case []any:
		for _, el := range x {
			if s, ok := el.(string); ok {
				f(s)
			}
		}
	}
}
