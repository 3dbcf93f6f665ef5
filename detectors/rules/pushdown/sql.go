package pushdown

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/trailhound/trailhound/detectors/rules"
)

// dialect holds what differs between Athena (Trino) and DuckDB: function
// names and the JSON path syntax.
type dialect struct {
	name string
	// regex returns a boolean expression: x matches the RE2 pattern p
	// (a SQL literal) anywhere.
	regex func(x, p string) string
	// jsonScalar returns the text of a scalar JSON value at path in the
	// JSON text col, NULL for objects, arrays, null and absent values.
	jsonScalar func(col, path string) string
	// jsonNonScalar returns a boolean expression: the value at path is an
	// object or an array.
	jsonNonScalar func(col, path string) string
	// jsonArray returns a boolean expression: the value at path is an
	// array.
	jsonArray func(col, path string) string
	// jsonPath renders a path of keys.
	jsonPath func(keys []string) string
	// timestamp converts an ISO 8601 text to a timestamp.
	timestamp func(x string) string
	// seconds is an interval of n seconds.
	seconds func(n int64) string
}

var simpleKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var athenaDialect = &dialect{
	name:  "athena",
	regex: func(x, p string) string { return "regexp_like(" + x + ", " + p + ")" },
	jsonScalar: func(col, path string) string {
		return "json_extract_scalar(" + col + ", " + path + ")"
	},
	jsonNonScalar: func(col, path string) string {
		return "(json_extract(" + col + ", " + path + ") IS NOT NULL AND json_extract_scalar(" + col + ", " + path + ") IS NULL)"
	},
	jsonArray: func(col, path string) string {
		return "json_array_length(json_extract(" + col + ", " + path + ")) IS NOT NULL"
	},
	jsonPath:  func(keys []string) string { return jsonPath(keys, `["`, `"]`) },
	timestamp: func(x string) string { return "from_iso8601_timestamp(" + x + ")" },
	seconds:   func(n int64) string { return fmt.Sprintf("INTERVAL '%d' SECOND", n) },
}

var duckDialect = &dialect{
	name:  "duckdb",
	regex: func(x, p string) string { return "regexp_matches(" + x + ", " + p + ")" },
	jsonScalar: func(col, path string) string {
		return "CASE WHEN json_type(" + col + ", " + path + ") NOT IN ('OBJECT', 'ARRAY', 'NULL') THEN json_extract_string(" + col + ", " + path + ") END"
	},
	jsonNonScalar: func(col, path string) string {
		return "json_type(" + col + ", " + path + ") IN ('OBJECT', 'ARRAY')"
	},
	jsonArray: func(col, path string) string {
		return "json_type(" + col + ", " + path + ") = 'ARRAY'"
	},
	jsonPath:  func(keys []string) string { return jsonPath(keys, `."`, `"`) },
	timestamp: func(x string) string { return "CAST(" + x + " AS TIMESTAMPTZ)" },
	seconds:   func(n int64) string { return fmt.Sprintf("INTERVAL %d SECOND", n) },
}

// jsonPath writes keys as a JSONPath from the root, as a SQL string
// literal: simple keys as .key, others between open and close (the
// dialects quote them differently).
func jsonPath(keys []string, open, close string) string {
	var b strings.Builder
	b.WriteString("$")
	for _, k := range keys {
		if simpleKey.MatchString(k) {
			b.WriteString("." + k)
		} else {
			b.WriteString(open + k + close)
		}
	}
	return quote(b.String())
}

// quote writes s as a SQL string literal.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Columns are the columns of the CloudTrail table in AWS's documented
// schema ("Querying AWS CloudTrail logs" in the Athena User Guide), in
// table order. useridentity, resources and tlsdetails are structs (and an
// array of structs); requestparameters, responseelements,
// additionaleventdata and serviceeventdetails are JSON text.
var Columns = []string{
	"eventversion", "useridentity", "eventtime", "eventsource", "eventname",
	"awsregion", "sourceipaddress", "useragent", "errorcode", "errormessage",
	"requestparameters", "responseelements", "additionaleventdata",
	"requestid", "eventid", "resources", "eventtype", "apiversion", "readonly",
	"recipientaccountid", "serviceeventdetails", "sharedeventid",
	"vpcendpointid", "tlsdetails",
}

// rawColumns maps the top-level keys of a CloudTrail record that are text
// columns to their column.
var rawColumns = map[string]string{
	"eventVersion": "eventversion", "eventTime": "eventtime", "eventSource": "eventsource",
	"eventName": "eventname", "awsRegion": "awsregion", "sourceIPAddress": "sourceipaddress",
	"userAgent": "useragent", "errorCode": "errorcode", "errorMessage": "errormessage",
	"requestID": "requestid", "eventID": "eventid", "eventType": "eventtype",
	"apiVersion": "apiversion", "readOnly": "readonly", "recipientAccountId": "recipientaccountid",
	"sharedEventID": "sharedeventid", "vpcEndpointId": "vpcendpointid",
}

// jsonColumns are the keys of a CloudTrail record held as JSON text.
var jsonColumns = map[string]string{
	"requestParameters": "requestparameters", "responseElements": "responseelements",
	"additionalEventData": "additionaleventdata", "serviceEventDetails": "serviceeventdetails",
}

// structFields maps the paths of userIdentity and tlsDetails to struct
// fields.
var structFields = map[string]string{
	"userIdentity.type":        "useridentity.type",
	"userIdentity.principalId": "useridentity.principalid",
	"userIdentity.arn":         "useridentity.arn",
	"userIdentity.accountId":   "useridentity.accountid",
	"userIdentity.invokedBy":   "useridentity.invokedby",
	"userIdentity.accessKeyId": "useridentity.accesskeyid",
	"userIdentity.userName":    "useridentity.username",
	"userIdentity.sessionContext.attributes.mfaAuthenticated": "useridentity.sessioncontext.attributes.mfaauthenticated",
	"userIdentity.sessionContext.attributes.creationDate":     "useridentity.sessioncontext.attributes.creationdate",
	"userIdentity.sessionContext.sessionIssuer.type":          "useridentity.sessioncontext.sessionissuer.type",
	"userIdentity.sessionContext.sessionIssuer.principalId":   "useridentity.sessioncontext.sessionissuer.principalid",
	"userIdentity.sessionContext.sessionIssuer.arn":           "useridentity.sessioncontext.sessionissuer.arn",
	"userIdentity.sessionContext.sessionIssuer.accountId":     "useridentity.sessioncontext.sessionissuer.accountid",
	"userIdentity.sessionContext.sessionIssuer.userName":      "useridentity.sessioncontext.sessionissuer.username",
	"tlsDetails.tlsVersion":                                   "tlsdetails.tlsversion",
	"tlsDetails.cipherSuite":                                  "tlsdetails.ciphersuite",
	"tlsDetails.clientProvidedHostHeader":                     "tlsdetails.clientprovidedhostheader",
}

// sqlTarget compiles field conditions to SQL over the CloudTrail table.
type sqlTarget struct {
	d *dialect
	// columns, when set, has tests of the derived true/false fields read
	// the columns th_<field> of a subquery (derivedColumns) instead of
	// repeating their conditions, and records the fields used.
	columns map[string]bool
}

// derivedColumn is the subquery column holding a derived true/false field.
func derivedColumn(field string) string { return "th_" + field }

// derivedColumns returns the select items of the derived fields used.
func (t *sqlTarget) derivedColumns() []string {
	var out []string
	for _, f := range []string{"by_service", "deployer", "failed", "iac_client", "read_only"} {
		if t.columns[f] {
			c, _ := t.boolCond(f)
			out = append(out, "COALESCE(("+c+"), FALSE) AS "+derivedColumn(f))
		}
	}
	return out
}

func (t *sqlTarget) syntax() syntax { return sqlSyntax }
func (t *sqlTarget) noNot() bool    { return false }

// value is how SQL reads a field: text (NULL when absent), and for raw
// JSON paths a condition under which the value cannot be judged in SQL
// (an object, or an array on the path).
type value struct {
	expr      string
	nonScalar string
	// plain is the column itself when expr is NULLIF(column, ''), for
	// comparisons with non-empty literals.
	plain string
}

func nullif(x string) string { return "NULLIF(" + x + ", '')" }

const (
	uiType    = "useridentity.type"
	uiARN     = "useridentity.arn"
	uiInvoked = "useridentity.invokedby"
	uiUser    = "useridentity.username"
	uiIssuer  = "useridentity.sessioncontext.sessionissuer.username"
)

// principalName is sources' principalName in SQL.
func (t *sqlTarget) principalName() string {
	return "NULLIF(CASE" +
		" WHEN " + uiType + " = 'Root' THEN 'root'" +
		" WHEN " + uiType + " = 'IAMUser' AND " + uiUser + " <> '' THEN " + uiUser +
		" WHEN " + uiType + " = 'AssumedRole' AND " + uiIssuer + " <> '' AND strpos(" + uiARN + ", '/') > 0 AND regexp_extract(" + uiARN + ", '[^/]*$') <> '' THEN " + uiIssuer + " || '/' || regexp_extract(" + uiARN + ", '[^/]*$')" +
		" WHEN " + uiType + " = 'AssumedRole' AND " + uiIssuer + " <> '' THEN " + uiIssuer +
		" WHEN " + uiType + " = 'AWSService' AND " + uiInvoked + " <> '' THEN " + uiInvoked +
		" WHEN " + uiUser + " <> '' THEN " + uiUser +
		" WHEN strpos(" + uiARN + ", '/') > 0 THEN regexp_extract(" + uiARN + ", '[^/]*$')" +
		" WHEN " + uiARN + " <> '' THEN " + uiARN +
		" ELSE useridentity.principalid END, '')"
}

func (t *sqlTarget) errorMessage() string {
	return "COALESCE(NULLIF(errormessage, ''), CASE WHEN eventname = 'ConsoleLogin' AND " +
		t.d.jsonScalar("responseelements", t.d.jsonPath([]string{"ConsoleLogin"})) +
		" = 'Failure' THEN 'Failed authentication' END)"
}

func boolCase(cond string) string { return "CASE WHEN " + cond + " THEN 'true' ELSE 'false' END" }

func likeEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// normalized returns the SQL of a normalised field, or ok=false when the
// table cannot give it.
func (t *sqlTarget) normalized(name string) (string, bool) {
	switch name {
	case "id":
		return nullif("eventid"), true
	case "account":
		return "COALESCE(NULLIF(recipientaccountid, ''), NULLIF(useridentity.accountid, ''))", true
	case "region":
		return nullif("awsregion"), true
	case "action":
		return nullif("eventname"), true
	case "service":
		return nullif("eventsource"), true
	case "source_ip":
		return nullif("sourceipaddress"), true
	case "user_agent":
		return nullif("useragent"), true
	case "error_code":
		return nullif("errorcode"), true
	case "error_message":
		return t.errorMessage(), true
	case "principal.type":
		return nullif(uiType), true
	case "principal.arn":
		return nullif(uiARN), true
	case "principal.name":
		return t.principalName(), true
	case "principal.account_id":
		return nullif("useridentity.accountid"), true
	case "principal.access_key_id":
		return nullif("useridentity.accesskeyid"), true
	case "event_type":
		return nullif("eventtype"), true
	case "mfa":
		used := t.d.jsonScalar("additionaleventdata", t.d.jsonPath([]string{"MFAUsed"}))
		auth := "lower(trim(useridentity.sessioncontext.attributes.mfaauthenticated))"
		return "CASE WHEN " + used + " <> '' THEN (CASE WHEN lower(" + used + ") = 'yes' THEN 'true' ELSE 'false' END)" +
			" WHEN " + auth + " IN ('true', '1', 't') THEN 'true' WHEN " + auth + " IN ('false', '0', 'f') THEN 'false' END", true
	case "read_only", "failed", "by_service", "deployer", "iac_client":
		c, _ := t.boolCond(name)
		return boolCase(c), true
	case "principal.session":
		return "CASE WHEN strpos(" + uiARN + ", ':assumed-role/') > 0 OR strpos(" + uiARN + ", ':federated-user/') > 0 THEN NULLIF(regexp_extract(" + uiARN + ", '[^/]*$'), '') END", true
	}
	return "", false
}

// boolCond returns the SQL condition under which a derived true/false
// field is "true"; NULL counts as false.
func (t *sqlTarget) boolCond(name string) (string, bool) {
	switch name {
	case "read_only":
		return "lower(trim(readonly)) IN ('true', '1', 't')", true
	case "failed":
		return "errorcode <> '' OR (eventname = 'ConsoleLogin' AND (errormessage <> '' OR " +
			t.d.jsonScalar("responseelements", t.d.jsonPath([]string{"ConsoleLogin"})) + " = 'Failure'))", true
	case "by_service":
		return uiType + " = 'AWSService' OR sourceipaddress = 'AWS Internal' OR sourceipaddress LIKE '%.amazonaws.com'" +
			" OR strpos(" + uiARN + ", ':role/aws-service-role/') > 0 OR strpos(" + uiARN + ", ':assumed-role/AWSServiceRoleFor') > 0" +
			" OR " + uiInvoked + " <> ''", true
	case "deployer":
		// The role's or user's name (sources' principalBaseName): from
		// the ARN, else the issuer's or user's name cut at the first /.
		base := "CASE WHEN strpos(" + uiARN + ", ':assumed-role/') > 0 THEN regexp_extract(" + uiARN + ", ':assumed-role/([^/]*)', 1)" +
			" WHEN strpos(" + uiARN + ", ':user/') > 0 THEN regexp_extract(" + uiARN + ", ':user/(?:.*/)?([^/]*)$', 1)" +
			" WHEN " + uiType + " IN ('IAMUser', 'AssumedRole') THEN regexp_extract(CASE" +
			" WHEN " + uiType + " = 'AssumedRole' AND " + uiIssuer + " <> '' THEN " + uiIssuer +
			" WHEN " + uiUser + " <> '' THEN " + uiUser +
			" WHEN strpos(" + uiARN + ", '/') > 0 THEN regexp_extract(" + uiARN + ", '[^/]*$')" +
			" WHEN " + uiARN + " <> '' THEN " + uiARN +
			" ELSE COALESCE(useridentity.principalid, '') END, '^[^/]*') END"
		var alts []string
		for _, p := range rules.DeploymentPrincipals() {
			alts = append(alts, globRE(p))
		}
		cond := "sourceipaddress = 'cloudformation.amazonaws.com'"
		if len(alts) > 0 {
			cond += " OR " + t.d.regex("lower(NULLIF("+base+", ''))", quote("^(?:"+strings.Join(alts, "|")+")$"))
		}
		return cond, true
	case "iac_client":
		var cs []string
		for _, c := range rules.IaCClients() {
			cs = append(cs, "strpos(lower(useragent), "+quote(c)+") > 0")
		}
		return strings.Join(cs, " OR "), true
	}
	return "", false
}

// boolField compiles a test of a derived true/false field against "true"
// or "false" as the field's condition, shorter than comparing its text.
func (t *sqlTarget) boolField(n rules.Node) (approx, bool) {
	cond, ok := t.boolCond(n.Field)
	if !ok || !n.Normalized || n.Presence != 0 || len(n.Tests) != 1 {
		return approx{}, false
	}
	ft := n.Tests[0]
	if ft.Op != "eq" || ft.Decode || ft.All || len(ft.Values) != 1 {
		return approx{}, false
	}
	want := ft.Values[0]
	if ft.Fold {
		want = strings.ToLower(want)
	}
	l := nleaf("("+cond+")", n.Field)
	if t.columns != nil {
		t.columns[n.Field] = true
		l = leaf(derivedColumn(n.Field), n.Field)
	}
	var x *bx
	switch want {
	case "true":
		x = l
	case "false":
		x = not(l)
	default:
		x = bFalse
	}
	if ft.Negate {
		// The field is always present in a CloudTrail record.
		x = not(x)
	}
	return exactly(x), true
}

// globLike turns a glob of rules.FieldTest into a LIKE pattern with
// backslash escapes.
func globLike(p string) string {
	var b strings.Builder
	for _, g := range rules.GlobParts(p) {
		switch g.Wild {
		case '*':
			b.WriteString("%")
		case '?':
			b.WriteString("_")
		default:
			b.WriteString(likeEscape(g.Lit))
		}
	}
	return b.String()
}

// globRE turns a glob into an unanchored regular expression that RE2 and
// Java read alike: * is [\s\S]*, ? is [\s\S].
func globRE(p string) string {
	var b strings.Builder
	for _, g := range rules.GlobParts(p) {
		switch g.Wild {
		case '*':
			b.WriteString(`[\s\S]*`)
		case '?':
			b.WriteString(`[\s\S]`)
		default:
			b.WriteString(regexp.QuoteMeta(g.Lit))
		}
	}
	return b.String()
}

// fieldValue returns how SQL reads a field, or a reason it cannot.
func (t *sqlTarget) fieldValue(n rules.Node) (value, string) {
	if n.Normalized {
		x, ok := t.normalized(n.Field)
		if !ok {
			return value{}, "field " + n.Field + " is not in the CloudTrail table"
		}
		v := value{expr: x}
		if strings.HasPrefix(x, "NULLIF(") && strings.HasSuffix(x, ", '')") && !strings.Contains(x[7:], "(") {
			v.plain = strings.TrimSuffix(x[7:], ", '')")
		}
		return v, ""
	}
	if c, ok := rawColumns[n.Field]; ok {
		return value{expr: c}, ""
	}
	if c, ok := structFields[n.Field]; ok {
		return value{expr: c}, ""
	}
	segs := strings.Split(n.Field, ".")
	col, ok := jsonColumns[segs[0]]
	if !ok {
		return value{}, "field " + n.Field + " is not a text column of the CloudTrail table"
	}
	if len(segs) == 1 {
		// The whole object, which the matcher reads as JSON with sorted
		// keys: only whether it is there can be said.
		return value{expr: "CASE WHEN " + col + " IS NOT NULL AND " + col + " <> 'null' THEN '' END", nonScalar: "TRUE"}, ""
	}
	keys := segs[1:]
	for _, k := range keys {
		if strings.ContainsAny(k, `"'\[]`) || k == "" {
			return value{}, "field " + n.Field + " has a key JSON paths cannot name"
		}
	}
	// An array anywhere on the path, or an object or array at its end,
	// makes the value one the SQL cannot judge the way the matcher does.
	var ns []string
	for i := 1; i < len(keys); i++ {
		ns = append(ns, t.d.jsonArray(col, t.d.jsonPath(keys[:i])))
	}
	ns = append(ns, t.d.jsonNonScalar(col, t.d.jsonPath(keys)))
	return value{expr: t.d.jsonScalar(col, t.d.jsonPath(keys)), nonScalar: "COALESCE(" + strings.Join(ns, " OR ") + ", FALSE)"}, ""
}

func (t *sqlTarget) field(c *compiler, n rules.Node) approx {
	if n.Normalized && plainLineField(n.Field) {
		// Absent from every CloudTrail record.
		if n.Presence < 0 {
			return exactly(bTrue)
		}
		return exactly(bFalse)
	}
	if a, ok := t.boolField(n); ok {
		return a
	}
	v, why := t.fieldValue(n)
	if why != "" {
		c.note("%s", why)
		return cannot
	}
	key := n.Field
	present := leaf(v.expr+" IS NOT NULL", key)
	var ns *bx
	if v.nonScalar != "" {
		ns = leaf(v.nonScalar, key)
		c.note("%s may hold an array or object", n.Field)
	}
	switch {
	case n.Presence > 0:
		if ns == nil {
			return exactly(present)
		}
		return inexact(or(present, ns), present)
	case n.Presence < 0:
		if ns == nil {
			return exactly(not(present))
		}
		return inexact(not(present), and(not(present), not(ns)))
	}
	// A test never holds on an absent (NULL) value, so presence needs
	// saying only beside a negated test.
	var overs, unders []*bx
	for _, ft := range n.Tests {
		if ft.Negate {
			overs = append(overs, present)
			unders = append(unders, present)
			break
		}
	}
	ex := ns == nil
	for _, ft := range n.Tests {
		x := v.expr
		if v.plain != "" && nonEmpty(ft.Values) && ft.Op == "eq" {
			x = v.plain
		}
		a := t.test(c, n.Field, x, ft)
		overs = append(overs, a.over)
		unders = append(unders, a.under)
		ex = ex && a.exact
	}
	over, under := and(overs...), and(unders...)
	if ns != nil {
		over = or(over, ns)
	}
	return approx{over: over, under: under, exact: ex}
}

// test compiles one test of a present value x.
func (t *sqlTarget) test(c *compiler, field, x string, ft rules.FieldTest) approx {
	if ft.Decode {
		c.note("%s: url decoding", field)
		return cannot
	}
	var terms []string
	lower := func(s string) string {
		if ft.Fold {
			return "lower(" + s + ")"
		}
		return s
	}
	lit := func(s string) string {
		if ft.Fold {
			s = strings.ToLower(s)
		}
		return s
	}
	switch ft.Op {
	case "eq":
		if len(ft.Values) > 1 && !ft.All {
			vals := make([]string, len(ft.Values))
			for i, v := range ft.Values {
				vals[i] = quote(lit(v))
			}
			terms = append(terms, lower(x)+" IN ("+strings.Join(vals, ", ")+")")
			break
		}
		for _, v := range ft.Values {
			terms = append(terms, lower(x)+" = "+quote(lit(v)))
		}
	case "glob":
		for _, v := range ft.Values {
			terms = append(terms, lower(x)+" LIKE "+quote(lit(globLike(v)))+` ESCAPE '\'`)
		}
	case "contains", "startswith", "endswith":
		for _, v := range ft.Values {
			p := likeEscape(lit(v))
			switch ft.Op {
			case "contains":
				p = "%" + p + "%"
			case "startswith":
				p += "%"
			case "endswith":
				p = "%" + p
			}
			terms = append(terms, lower(x)+" LIKE "+quote(p)+` ESCAPE '\'`)
		}
	case "regex":
		for _, v := range ft.Values {
			if t.d == athenaDialect && !portableRegex(v) {
				c.note("%s: regex %q uses RE2 syntax Trino reads differently", field, v)
				return cannot
			}
			terms = append(terms, t.d.regex(x, quote(v)))
		}
	case "gt", "gte", "lt", "lte":
		op := map[string]string{"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[ft.Op]
		f, err := strconv.ParseFloat(ft.Values[0], 64)
		if err != nil {
			c.note("%s: bad number %q", field, ft.Values[0])
			return cannot
		}
		terms = append(terms, "TRY_CAST(trim("+x+") AS DOUBLE) "+op+" "+strconv.FormatFloat(f, 'g', -1, 64))
	case "eq_field", "ne_field":
		ref, ok := "", false
		if rules.IsNormalizedField(ft.Values[0]) {
			ref, ok = t.normalized(ft.Values[0])
		}
		if !ok {
			c.note("%s: %s with raw field %s", field, ft.Op, ft.Values[0])
			return cannot
		}
		cmp := " = "
		if ft.Op == "ne_field" {
			cmp = " <> "
		}
		terms = append(terms, "("+ref+" IS NOT NULL AND "+lower(x)+cmp+lower(ref)+")")
	default:
		// cidr, foreign_account, policy.
		c.note("%s: %s", field, ft.Op)
		return cannot
	}
	join := " OR "
	if ft.All {
		join = " AND "
	}
	s := strings.Join(terms, join)
	if len(terms) > 1 {
		s = "(" + s + ")"
	}
	l := nleaf(s, field)
	if ft.Negate {
		return exactly(not(l))
	}
	return exactly(l)
}

// nonEmpty reports whether every value is non-empty.
func nonEmpty(vals []string) bool {
	for _, v := range vals {
		if v == "" {
			return false
		}
	}
	return len(vals) > 0
}

// portableRegex reports whether an RE2 pattern avoids the syntax Java's
// and Joni's regular expressions (Trino) read differently.
func portableRegex(p string) bool {
	for _, bad := range []string{`(?P<`, `[[:`, `\z`, `\C`, `\Q`, `(?U`, `(?s`, `\p`, `\P`} {
		if strings.Contains(p, bad) {
			return false
		}
	}
	return true
}

// thresholdExpressible reports whether the threshold's keys and distinct
// fields read as scalars in SQL, so the engine counts as the matcher does.
func (t *sqlTarget) thresholdExpressible(th *rules.Threshold) bool {
	for _, f := range th.GroupBy {
		if _, ok := t.scalar(f); !ok {
			return false
		}
	}
	if len(th.Distinct) > 1 {
		return false
	}
	for _, f := range th.Distinct {
		if _, ok := t.scalar(f); !ok {
			return false
		}
	}
	return true
}

// scalar returns the SQL of a field that always reads as one value (a
// normalised field or a text column), or ok=false.
func (t *sqlTarget) scalar(f string) (string, bool) {
	if rules.IsNormalizedField(f) {
		return t.normalized(f)
	}
	if c, ok := rawColumns[f]; ok {
		return c, true
	}
	if c, ok := structFields[f]; ok {
		return c, true
	}
	return "", false
}
