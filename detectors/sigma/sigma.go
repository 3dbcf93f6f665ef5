// Package sigma loads SigmaHQ rules for AWS CloudTrail as they are and
// translates them into Trailhound rules (detectors/rules definitions).
//
// Supported: search identifiers that are maps (AND of fields) or lists of
// maps (OR); values that are strings, numbers, booleans, null (absent) or
// lists (any of them); the modifiers contains, startswith, endswith, all,
// re (with i, m, s), cidr, exists, fieldref, gt, gte, lt, lte and cased;
// * and ? wildcards; conditions with and, or, not, parentheses, "1 of X*",
// "all of X*", "1 of them" and "all of them", or a list of conditions.
// Matching is case-insensitive unless |cased, as Sigma specifies.
//
// Not supported, each a clear per-rule error: aggregations ("| count()")
// and timeframe, keyword (full-text) searches, placeholders (|expand), and
// the encoding modifiers (base64, base64offset, utf16*, wide, windash).
package sigma

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
)

// IDPrefix starts the id of every translated rule: sigma/<file name>.
const IDPrefix = "sigma/"

// fieldMap maps CloudTrail JSON paths to the normalised event fields that
// hold the same value, so these rules avoid parsing the raw record. Any
// other field is read from the raw record by its path.
var fieldMap = map[string]string{
	"eventName":                "action",
	"eventSource":              "service",
	"awsRegion":                "region",
	"sourceIPAddress":          "source_ip",
	"userAgent":                "user_agent",
	"errorCode":                "error_code",
	"eventType":                "event_type",
	"eventID":                  "id",
	"userIdentity.type":        "principal.type",
	"userIdentity.arn":         "principal.arn",
	"userIdentity.accessKeyId": "principal.access_key_id",
	"userIdentity.accountId":   "principal.account_id",
}

var levels = map[string]detectors.Severity{
	"informational": detectors.Info,
	"low":           detectors.Low,
	"medium":        detectors.Medium,
	"high":          detectors.High,
	"critical":      detectors.Critical,
}

// LoadDir translates every *.yml and *.yaml file under dir. A rule that
// cannot be translated is skipped and its error (naming file, line and
// key) is returned in skipped; err is set only when dir cannot be read.
func LoadDir(dir string) (defs []rules.Definition, skipped []error, err error) {
	var files []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(p, ".yml") || strings.HasSuffix(p, ".yaml")) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("sigma: %w", err)
	}
	sort.Strings(files)
	seen := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("sigma: %w", err))
			continue
		}
		d, err := Translate(b, f)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		if prev, ok := seen[d.ID]; ok {
			skipped = append(skipped, &rules.Error{File: f, Line: 1, Rule: d.ID, Msg: "duplicate rule id, also " + prev})
			continue
		}
		// Compile now so a rule the rule language rejects is skipped here,
		// not when the pack is built.
		if _, err := rules.Compile(d); err != nil {
			skipped = append(skipped, err)
			continue
		}
		seen[d.ID] = f
		defs = append(defs, d)
	}
	return defs, skipped, nil
}

// Translate turns one Sigma rule file into a rule definition with id
// sigma/<file name without extension>.
func Translate(data []byte, file string) (rules.Definition, error) {
	stem := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(file), ".yml"), ".yaml")
	t := &translator{file: file, id: IDPrefix + strings.ToLower(stem)}
	return t.translate(data)
}

type translator struct {
	file string
	id   string
}

func (t *translator) errorf(n *yaml.Node, key, format string, args ...any) error {
	line := 1
	if n != nil {
		line = n.Line
	}
	return &rules.Error{File: t.file, Line: line, Rule: t.id, Key: key, Msg: fmt.Sprintf(format, args...)}
}

func (t *translator) translate(data []byte) (rules.Definition, error) {
	var root yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&root); err != nil {
		return rules.Definition{}, t.errorf(nil, "", "%s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return rules.Definition{}, t.errorf(nil, "", "not a Sigma rule (want a mapping with title and detection)")
	}
	doc := root.Content[0]
	get := func(key string) *yaml.Node {
		for i := 0; i+1 < len(doc.Content); i += 2 {
			if doc.Content[i].Value == key {
				return doc.Content[i+1]
			}
		}
		return nil
	}
	str := func(key string) string {
		if n := get(key); n != nil && n.Kind == yaml.ScalarNode {
			return strings.TrimSpace(n.Value)
		}
		return ""
	}
	strs := func(key string) []string {
		n := get(key)
		if n == nil || n.Kind != yaml.SequenceNode {
			return nil
		}
		var out []string
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}

	d := rules.Definition{ID: t.id, Origin: "sigma", File: t.file, Line: doc.Line}
	d.Title = str("title")
	if d.Title == "" {
		return d, t.errorf(doc, "title", "is required")
	}
	if ls := get("logsource"); ls != nil {
		product, service := "", ""
		for i := 0; i+1 < len(ls.Content); i += 2 {
			switch ls.Content[i].Value {
			case "product":
				product = ls.Content[i+1].Value
			case "service":
				service = ls.Content[i+1].Value
			}
		}
		if product != "aws" || service != "" && service != "cloudtrail" {
			return d, t.errorf(ls, "logsource", "logsource is %s/%s; only aws/cloudtrail rules apply to CloudTrail events", product, service)
		}
	}
	level := str("level")
	if level == "" {
		level = "medium"
	}
	sev, ok := levels[level]
	if !ok {
		return d, t.errorf(get("level"), "level", "unknown level %q", level)
	}
	d.Severity = sev
	d.Description = str("description")
	if d.Description == "" {
		d.Description = d.Title
	}
	d.Description = strings.Join(strings.Fields(d.Description), " ")
	d.Tags = append([]string{"sigma"}, strs("tags")...)
	if id := str("id"); id != "" {
		d.Tags = append(d.Tags, "sigma-id:"+id)
	}
	d.Technique = technique(strs("tags"))
	d.Recommendation = recommendation(strs("falsepositives"), str("author"), strs("references"))
	d.Reason = "{principal.name} called {action} from {source_ip}, matching Sigma rule \"" + escapeTemplate(d.Title) + "\""

	det := get("detection")
	if det == nil {
		return d, t.errorf(doc, "detection", "is required")
	}
	m, err := t.detection(det)
	if err != nil {
		return d, err
	}
	// Checked last, so that an unsupported construct is named first.
	switch status := str("status"); status {
	case "unsupported", "deprecated":
		return d, t.errorf(get("status"), "status", "rule is marked %s", status)
	}
	d.Match = m
	return d, nil
}

var techniqueRe = regexp.MustCompile(`^attack\.(t\d{4}(\.\d{3})?)$`)

// technique returns the first ATT&CK technique among Sigma tags, as
// T1234 or T1234.001.
func technique(tags []string) string {
	for _, tag := range tags {
		if m := techniqueRe.FindStringSubmatch(strings.ToLower(tag)); m != nil {
			return strings.ToUpper(m[1])
		}
	}
	return ""
}

func recommendation(fps []string, author string, refs []string) string {
	var b strings.Builder
	b.WriteString("Confirm with the principal or the owner of the resource that this activity was expected.")
	var clean []string
	for _, fp := range fps {
		fp = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(fp), "."))
		if fp != "" && !strings.EqualFold(fp, "unknown") {
			clean = append(clean, fp)
		}
	}
	if len(clean) > 0 {
		b.WriteString(" Known benign causes: " + strings.Join(clean, "; ") + ".")
	}
	if len(refs) > 0 {
		b.WriteString(" See " + refs[0])
		if author != "" {
			b.WriteString(" (Sigma rule by " + author + ")")
		}
		b.WriteString(".")
	}
	return b.String()
}

func escapeTemplate(s string) string {
	return strings.NewReplacer("{", "{{", "}", "}}").Replace(s)
}

// detection translates the detection block: named searches and the
// condition over them.
func (t *translator) detection(det *yaml.Node) (rules.Expr, error) {
	if det.Kind != yaml.MappingNode {
		return rules.Expr{}, t.errorf(det, "detection", "must be a mapping")
	}
	searches := map[string]rules.Expr{}
	var names []string
	var cond *yaml.Node
	for i := 0; i+1 < len(det.Content); i += 2 {
		k, v := det.Content[i], det.Content[i+1]
		key := "detection." + k.Value
		switch k.Value {
		case "condition":
			cond = v
		case "timeframe":
			return rules.Expr{}, t.errorf(k, key, "timeframe (a correlation over time) is not supported; express it as a threshold rule")
		default:
			e, err := t.search(v, key)
			if err != nil {
				return rules.Expr{}, err
			}
			searches[k.Value] = e
			names = append(names, k.Value)
		}
	}
	if cond == nil {
		return rules.Expr{}, t.errorf(det, "detection.condition", "is required")
	}
	var conds []string
	switch cond.Kind {
	case yaml.ScalarNode:
		conds = []string{cond.Value}
	case yaml.SequenceNode:
		for _, c := range cond.Content {
			conds = append(conds, c.Value)
		}
	default:
		return rules.Expr{}, t.errorf(cond, "detection.condition", "must be a string or a list of strings")
	}
	out := rules.Expr{Op: "any", Key: "detection.condition", Line: cond.Line}
	for _, c := range conds {
		p := &condParser{searches: searches, names: names}
		e, err := p.parse(c)
		if err != nil {
			return rules.Expr{}, t.errorf(cond, "detection.condition", "%v", err)
		}
		out.Args = append(out.Args, e)
	}
	if len(out.Args) == 1 {
		return out.Args[0], nil
	}
	return out, nil
}

// search translates one search identifier: a map of fields (all must
// match) or a list of maps (any must match).
func (t *translator) search(n *yaml.Node, key string) (rules.Expr, error) {
	switch n.Kind {
	case yaml.MappingNode:
		e := rules.Expr{Op: "all", Key: key, Line: n.Line}
		for i := 0; i+1 < len(n.Content); i += 2 {
			f, err := t.field(n.Content[i], n.Content[i+1], key)
			if err != nil {
				return rules.Expr{}, err
			}
			e.Args = append(e.Args, f)
		}
		if len(e.Args) == 0 {
			return rules.Expr{}, t.errorf(n, key, "empty search")
		}
		return e, nil
	case yaml.SequenceNode:
		e := rules.Expr{Op: "any", Key: key, Line: n.Line}
		for i, c := range n.Content {
			if c.Kind != yaml.MappingNode {
				return rules.Expr{}, t.errorf(c, key, "keyword (full-text) searches are not supported for CloudTrail; use field conditions")
			}
			sub, err := t.search(c, fmt.Sprintf("%s[%d]", key, i))
			if err != nil {
				return rules.Expr{}, err
			}
			e.Args = append(e.Args, sub)
		}
		return e, nil
	}
	return rules.Expr{}, t.errorf(n, key, "keyword (full-text) searches are not supported for CloudTrail; use field conditions")
}

// field translates "name|modifier|...: value(s)".
func (t *translator) field(k, v *yaml.Node, base string) (rules.Expr, error) {
	key := base + "." + k.Value
	parts := strings.Split(k.Value, "|")
	name := strings.TrimSpace(parts[0])
	if name == "" {
		return rules.Expr{}, t.errorf(k, key, "keyword (full-text) searches are not supported for CloudTrail; use field conditions")
	}
	if mapped, ok := fieldMap[name]; ok {
		name = mapped
	}
	var op string
	var all, cased, exists, fieldref bool
	var reFlags string
	for _, m := range parts[1:] {
		switch m = strings.TrimSpace(m); m {
		case "contains", "startswith", "endswith", "re", "cidr", "gt", "gte", "lt", "lte":
			if op != "" {
				return rules.Expr{}, t.errorf(k, key, "modifiers %s and %s cannot be combined", op, m)
			}
			op = m
		case "all":
			all = true
		case "cased":
			cased = true
		case "exists":
			exists = true
		case "fieldref":
			fieldref = true
		case "i", "m", "s":
			if op != "re" {
				return rules.Expr{}, t.errorf(k, key, "modifier %s applies only after re", m)
			}
			reFlags += m
		case "expand":
			return rules.Expr{}, t.errorf(k, key, "placeholder modifier expand is not supported: replace %%placeholders%% with values first")
		case "base64", "base64offset", "utf16", "utf16le", "utf16be", "wide", "windash":
			return rules.Expr{}, t.errorf(k, key, "modifier %s is not supported for CloudTrail", m)
		default:
			return rules.Expr{}, t.errorf(k, key, "unknown modifier %q", m)
		}
	}
	e := rules.Expr{Op: "field", Field: name, Key: key, Line: k.Line}
	vals, null, err := t.values(v, key)
	if err != nil {
		return rules.Expr{}, err
	}
	switch {
	case exists:
		if len(vals) != 1 || (vals[0] != "true" && vals[0] != "false") {
			return rules.Expr{}, t.errorf(v, key, "exists takes true or false")
		}
		b := vals[0] == "true"
		e.Exists = &b
		return e, nil
	case null:
		if len(vals) > 0 {
			// A list mixing null and values: absent, or any of the values.
			f := false
			absent := rules.Expr{Op: "field", Field: name, Exists: &f, Key: key, Line: k.Line}
			rest, err := t.tests(e, vals, op, all, cased, fieldref, reFlags, v, key)
			if err != nil {
				return rules.Expr{}, err
			}
			return rules.Expr{Op: "any", Args: []rules.Expr{absent, rest}, Key: key, Line: k.Line}, nil
		}
		if op != "" || fieldref {
			return rules.Expr{}, t.errorf(v, key, "null cannot be used with modifiers")
		}
		f := false
		e.Exists = &f
		return e, nil
	}
	return t.tests(e, vals, op, all, cased, fieldref, reFlags, v, key)
}

// tests builds the tests of a field from its values and modifiers. Values
// are OR-ed, or AND-ed with |all; each value with wildcards becomes a glob.
func (t *translator) tests(e rules.Expr, vals []string, op string, all, cased, fieldref bool, reFlags string, v *yaml.Node, key string) (rules.Expr, error) {
	if len(vals) == 0 {
		return rules.Expr{}, t.errorf(v, key, "no values")
	}
	fold := !cased
	mk := func(testOp string, values []string) rules.Test {
		return rules.Test{Op: testOp, Values: values, Fold: fold, All: all, Key: key, Line: v.Line}
	}
	if fieldref {
		if op != "" || len(vals) != 1 {
			return rules.Expr{}, t.errorf(v, key, "fieldref takes one field name and no other modifier")
		}
		ref := vals[0]
		if mapped, ok := fieldMap[ref]; ok {
			ref = mapped
		}
		// Sigma compares field values case-sensitively here.
		e.Tests = []rules.Test{{Op: "eq_field", Values: []string{ref}, Key: key, Line: v.Line}}
		return e, nil
	}
	switch op {
	case "re":
		for i, s := range vals {
			if reFlags != "" {
				vals[i] = "(?" + reFlags + ")" + s
			}
		}
		// Regular expressions are case-sensitive unless flagged.
		e.Tests = []rules.Test{{Op: "regex", Values: vals, All: all, Key: key, Line: v.Line}}
		return e, nil
	case "cidr", "gt", "gte", "lt", "lte":
		if op != "cidr" && len(vals) != 1 {
			return rules.Expr{}, t.errorf(v, key, "%s takes one number", op)
		}
		e.Tests = []rules.Test{mk(op, vals)}
		return e, nil
	}
	// Plain, contains, startswith, endswith: values with wildcards become
	// globs; the others use the literal operator. When both kinds are
	// present they are OR-ed (or AND-ed with |all) as separate tests.
	var lits, globs []string
	for _, s := range vals {
		if hasWildcard(s) {
			switch op {
			case "contains":
				s = "*" + s + "*"
			case "startswith":
				s = s + "*"
			case "endswith":
				s = "*" + s
			}
			globs = append(globs, s)
		} else {
			lits = append(lits, unescape(s))
		}
	}
	litOp := op
	if litOp == "" {
		// The rule language's eq reads * and ? as wildcards: escape the
		// literal values again.
		litOp = "eq"
		esc := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`)
		for i, s := range lits {
			lits[i] = esc.Replace(s)
		}
	}
	var parts []rules.Expr
	if len(lits) > 0 {
		x := e
		x.Tests = []rules.Test{mk(litOp, lits)}
		parts = append(parts, x)
	}
	if len(globs) > 0 {
		x := e
		x.Tests = []rules.Test{mk("glob", globs)}
		parts = append(parts, x)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	comb := "any"
	if all {
		comb = "all"
	}
	return rules.Expr{Op: comb, Args: parts, Key: key, Line: v.Line}, nil
}

// values reads a scalar or list of scalars; null reports a null value.
func (t *translator) values(v *yaml.Node, key string) (vals []string, null bool, err error) {
	scalar := func(n *yaml.Node) error {
		if n.Kind != yaml.ScalarNode {
			return t.errorf(n, key, "values must be strings, numbers, booleans or null")
		}
		if n.Tag == "!!null" {
			null = true
			return nil
		}
		vals = append(vals, n.Value)
		return nil
	}
	switch v.Kind {
	case yaml.ScalarNode:
		err = scalar(v)
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if err = scalar(c); err != nil {
				break
			}
		}
	default:
		err = t.errorf(v, key, "values must be a value or a list of values")
	}
	return vals, null, err
}

// hasWildcard reports an unescaped * or ?.
func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

// unescape removes Sigma's backslash escapes of *, ? and \.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`*?\`, s[i+1]) >= 0 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
