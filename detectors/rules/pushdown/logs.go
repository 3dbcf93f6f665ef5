package pushdown

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/detectors/rules"
)

// jsonNames maps the normalised fields that are one key of a CloudTrail
// record to that key's path, for the engines that read the record as JSON
// (Logs Insights, filter patterns).
var jsonNames = map[string]string{
	"id":                      "eventID",
	"region":                  "awsRegion",
	"action":                  "eventName",
	"service":                 "eventSource",
	"source_ip":               "sourceIPAddress",
	"user_agent":              "userAgent",
	"error_code":              "errorCode",
	"event_type":              "eventType",
	"principal.type":          "userIdentity.type",
	"principal.arn":           "userIdentity.arn",
	"principal.account_id":    "userIdentity.accountId",
	"principal.access_key_id": "userIdentity.accessKeyId",
}

// scalarPath returns the JSON path of a field that holds one text value
// in a CloudTrail record, whether the field is normalised (an empty value
// is then absent), and ok=false when the field is not such a path.
func scalarPath(f string, normalized bool) (path string, norm bool, ok bool) {
	if normalized {
		p, ok := jsonNames[f]
		return p, true, ok
	}
	if _, ok := rawColumns[f]; ok {
		return f, false, true
	}
	if _, ok := structFields[f]; ok {
		return f, false, true
	}
	return "", false, false
}

// plainLineField reports whether f is a field only plain log lines have.
func plainLineField(f string) bool { return f == "message" || f == "log_group" || f == "log_stream" }

// insightsTarget compiles field conditions to a Logs Insights filter
// expression over the fields Insights discovers in CloudTrail's JSON.
type insightsTarget struct{}

func (insightsTarget) syntax() syntax { return insightsSyntax }
func (insightsTarget) noNot() bool    { return false }

func insightsString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// insightsRegex writes an RE2 pattern as an Insights regex literal.
func insightsRegex(p string) string { return "/" + strings.ReplaceAll(p, "/", `\/`) + "/" }

// globRegex turns a glob into an anchored regular expression.
func globRegex(p string) string {
	var b strings.Builder
	b.WriteString("^")
	for _, g := range rules.GlobParts(p) {
		switch g.Wild {
		case '*':
			b.WriteString("(?s:.*)")
		case '?':
			b.WriteString("(?s:.)")
		default:
			b.WriteString(regexp.QuoteMeta(g.Lit))
		}
	}
	b.WriteString("$")
	return b.String()
}

// insightsBools are the derived true/false fields as Insights conditions
// over the record's keys.
var insightsBools = map[string]string{
	"failed": `(ispresent(errorCode) and errorCode != "") or (eventName = "ConsoleLogin" and ((ispresent(errorMessage) and errorMessage != "") or responseElements.ConsoleLogin = "Failure"))`,
	"by_service": `userIdentity.type = "AWSService" or sourceIPAddress = "AWS Internal" or sourceIPAddress like /\.amazonaws\.com$/` +
		` or userIdentity.arn like /:role\/aws-service-role\// or userIdentity.arn like /:assumed-role\/AWSServiceRoleFor/` +
		` or (ispresent(userIdentity.invokedBy) and userIdentity.invokedBy != "")`,
	"iac_client": `userAgent like /(?i)terraform|pulumi|aws-cdk|cloudformation/`,
}

// boolField compiles a test of a derived true/false field against "true"
// or "false".
func (t insightsTarget) boolField(n rules.Node) (approx, bool) {
	cond, ok := insightsBools[n.Field]
	if !ok || n.Presence != 0 || len(n.Tests) != 1 {
		return approx{}, false
	}
	ft := n.Tests[0]
	if ft.Op != "eq" || ft.Decode || len(ft.Values) != 1 {
		return approx{}, false
	}
	want := strings.ToLower(ft.Values[0])
	if !ft.Fold {
		want = ft.Values[0]
	}
	var x *bx
	switch want {
	case "true":
		x = leaf("("+cond+")", n.Field)
	case "false":
		x = not(leaf("("+cond+")", n.Field))
	default:
		x = bFalse
	}
	if ft.Negate {
		x = not(x)
	}
	return exactly(x), true
}

func (t insightsTarget) field(c *compiler, n rules.Node) approx {
	if a, ok := t.boolField(n); ok {
		return a
	}
	if n.Normalized && plainLineField(n.Field) {
		if n.Presence < 0 {
			return exactly(bTrue)
		}
		return exactly(bFalse)
	}
	path, norm, ok := scalarPath(n.Field, n.Normalized)
	if !ok {
		if n.Normalized {
			c.note("field %s is not a key of the record", n.Field)
		} else {
			c.note("%s may hold an array or object", n.Field)
		}
		// Insights flattens arrays into numbered keys: a test of one
		// element is not a test of the path. Only a sure match is known.
		if !n.Normalized && n.Presence == 0 {
			return approx{over: bTrue, under: t.tests(c, n.Field, n.Field, n.Tests, true).under}
		}
		return cannot
	}
	present := leaf("ispresent("+path+")", n.Field)
	if norm {
		present = leaf("(ispresent("+path+") and "+path+` != "")`, n.Field)
	}
	switch {
	case n.Presence > 0:
		return exactly(present)
	case n.Presence < 0:
		return exactly(not(present))
	}
	a := t.tests(c, n.Field, path, n.Tests, true)
	for _, ft := range n.Tests {
		if ft.Negate {
			// A negated test holds on a missing field; the matcher's
			// does not.
			return approx{over: and(present, a.over), under: and(present, a.under), exact: a.exact}
		}
	}
	return a
}

func (t insightsTarget) tests(c *compiler, field, path string, tests []rules.FieldTest, note bool) approx {
	overs, unders := []*bx{}, []*bx{}
	ex := true
	for _, ft := range tests {
		a := t.test(c, field, path, ft, note)
		overs = append(overs, a.over)
		unders = append(unders, a.under)
		ex = ex && a.exact
	}
	return approx{over: and(overs...), under: and(unders...), exact: ex}
}

func (t insightsTarget) test(c *compiler, field, x string, ft rules.FieldTest, note bool) approx {
	if ft.Decode {
		if note {
			c.note("%s: url decoding", field)
		}
		return cannot
	}
	fold := ""
	if ft.Fold {
		fold = "(?i)"
	}
	var terms []string
	switch ft.Op {
	case "eq":
		for _, v := range ft.Values {
			if ft.Fold {
				terms = append(terms, x+" like "+insightsRegex("(?i)^"+regexp.QuoteMeta(v)+"$"))
			} else {
				terms = append(terms, x+" = "+insightsString(v))
			}
		}
	case "glob":
		for _, v := range ft.Values {
			terms = append(terms, x+" like "+insightsRegex(fold+globRegex(v)))
		}
	case "contains", "startswith", "endswith":
		for _, v := range ft.Values {
			p := regexp.QuoteMeta(v)
			switch ft.Op {
			case "startswith":
				p = "^" + p
			case "endswith":
				p += "$"
			}
			terms = append(terms, x+" like "+insightsRegex(fold+p))
		}
	case "regex":
		for _, v := range ft.Values {
			terms = append(terms, x+" like "+insightsRegex(v))
		}
	case "gt", "gte", "lt", "lte":
		op := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[ft.Op]
		f, err := strconv.ParseFloat(ft.Values[0], 64)
		if err != nil {
			return cannot
		}
		terms = append(terms, x+" "+op+" "+strconv.FormatFloat(f, 'g', -1, 64))
	default:
		if note {
			c.note("%s: %s", field, ft.Op)
		}
		return cannot
	}
	join := " or "
	if ft.All {
		join = " and "
	}
	s := strings.Join(terms, join)
	if len(terms) > 1 {
		s = "(" + s + ")"
	}
	l := leaf(s, field)
	if ft.Negate {
		return exactly(not(l))
	}
	return exactly(l)
}

// patternTarget compiles field conditions to CloudWatch Logs JSON filter
// pattern terms. Filter patterns have no general negation and no case
// folding, so most tests beyond equality are left to the matcher.
type patternTarget struct{}

func (patternTarget) syntax() syntax { return patternSyntax }
func (patternTarget) noNot() bool    { return true }

// patternValue reports whether s can be written between the quotes of a
// filter pattern.
func patternValue(s string) bool {
	return s != "" && !strings.ContainsAny(s, "\"\\\n\r")
}

func (t patternTarget) field(c *compiler, n rules.Node) approx {
	if n.Normalized && plainLineField(n.Field) {
		if n.Presence < 0 {
			return exactly(bTrue)
		}
		return exactly(bFalse)
	}
	path, _, ok := scalarPath(n.Field, n.Normalized)
	if !ok {
		c.note("field %s is not a plain key of the record", n.Field)
		return cannot
	}
	if n.Presence != 0 {
		c.note("%s: exists", n.Field)
		return cannot
	}
	overs, unders := []*bx{}, []*bx{}
	ex := true
	for _, ft := range n.Tests {
		a := t.test(c, n.Field, path, ft)
		overs = append(overs, a.over)
		unders = append(unders, a.under)
		ex = ex && a.exact
	}
	return approx{over: and(overs...), under: and(unders...), exact: ex}
}

func (t patternTarget) test(c *compiler, field, path string, ft rules.FieldTest) approx {
	if ft.Decode || ft.Fold || ft.Negate || (ft.Op != "eq" && ft.Op != "glob") {
		what := ft.Op
		switch {
		case ft.Decode:
			what = "url decoding"
		case ft.Fold:
			what = "case folding"
		case ft.Negate:
			what = "negated " + ft.Op
		}
		c.note("%s: %s", field, what)
		return cannot
	}
	var terms []*bx
	ex := true
	for _, v := range ft.Values {
		if ft.Op == "glob" {
			// Only * is a filter pattern wildcard; a ? or an escaped
			// wildcard character widens to *.
			var b strings.Builder
			for _, g := range rules.GlobParts(v) {
				switch g.Wild {
				case '*', '?':
					b.WriteString("*")
					if g.Wild == '?' {
						ex = false
					}
				default:
					if strings.Contains(g.Lit, "*") {
						ex = false
					}
					b.WriteString(g.Lit)
				}
			}
			v = b.String()
		} else if strings.Contains(v, "*") {
			ex = false
		}
		if !patternValue(v) {
			c.note("%s: value %q cannot be quoted in a filter pattern", field, v)
			return cannot
		}
		terms = append(terms, leaf("($."+path+" = \""+v+"\")", path))
	}
	if !ex {
		c.note("%s: wildcard characters", field)
	}
	var x *bx
	if ft.All {
		x = and(terms...)
	} else {
		x = or(terms...)
	}
	if !ex {
		return inexact(x, bFalse)
	}
	return exactly(x)
}
