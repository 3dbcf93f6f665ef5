package rules

import (
	"strconv"
	"strings"
)

// This file is a read-only view of a compiled rule's match tree, for code
// that translates rules to other engines (detectors/rules/pushdown: Athena
// SQL, CloudWatch Logs Insights, filter patterns). The view is built from
// the compiled conditions, so it says exactly what Matches evaluates; it
// never changes matching.

// NodeKind says what a Node of a match tree is.
type NodeKind int

// The kinds of match tree nodes.
const (
	// NodeAll holds when every one of Args holds.
	NodeAll NodeKind = iota + 1
	// NodeAny holds when at least one of Args holds.
	NodeAny
	// NodeNot holds when its single argument, Args[0], does not.
	NodeNot
	// NodeConst always has the result Value.
	NodeConst
	// NodeField tests one field of the event.
	NodeField
)

// String names the kind: all, any, not, const or field.
func (k NodeKind) String() string {
	switch k {
	case NodeAll:
		return "all"
	case NodeAny:
		return "any"
	case NodeNot:
		return "not"
	case NodeConst:
		return "const"
	case NodeField:
		return "field"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Node is one node of a compiled match tree. It is a copy: changing it
// changes nothing in the rule.
type Node struct {
	Kind NodeKind
	// Args are the children of an all, any or not node.
	Args []Node
	// Value is the result of a const node.
	Value bool
	// Field is the field a field node reads: a normalised name (see
	// NormalizedFields, Normalized is then true) or a dotted path into the
	// raw CloudTrail record, such as requestParameters.bucketName, whose
	// arrays are searched element by element and whose objects are read as
	// compact JSON with sorted keys.
	Field string
	// Normalized is true when Field is a normalised field: its value is
	// text, and an empty value counts as absent.
	Normalized bool
	// Presence is 1 when the field must be present (exists: true), -1 when
	// it must be absent, 0 when Tests decide. A raw field holding JSON null
	// is absent.
	Presence int
	// Tests must all hold for one value of the field (for a raw field, one
	// element of an array on the path counts as one value). A field that
	// is absent fails every test, even a negated one.
	Tests []FieldTest
}

// FieldTest is one compiled comparison of a field value.
type FieldTest struct {
	// Op is the compiled operator: eq (literal equality; an eq with
	// wildcards compiles to glob), glob, contains, startswith, endswith,
	// regex, gt, gte, lt, lte, cidr, eq_field, ne_field, foreign_account or
	// policy.
	Op string
	// Values are what the test compares with, as the operator reads them:
	// eq, contains, startswith, endswith: literal text; glob: patterns
	// where * matches any run of characters, ? one character and a
	// backslash escapes *, ? and itself; regex: Go (RE2) patterns, already
	// prefixed with (?i) when Fold is set; gt, gte, lt, lte: one number,
	// compared numerically with a JSON number or with text that parses as
	// one after trimming spaces; cidr: masked prefixes; eq_field, ne_field:
	// the other field's name (a value absent there fails the test);
	// foreign_account: the field holding the own account id (the test
	// holds when the value names another 12-digit account id); policy: the
	// modes public, foreign, admin.
	Values []string
	// Fold compares case-insensitively (eq, glob, contains, startswith,
	// endswith, eq_field, ne_field).
	Fold bool
	// All requires every value to match instead of at least one.
	All bool
	// Decode is true when the value is percent-decoded twice before the
	// comparison.
	Decode bool
	// Negate inverts the test: it holds for a present value that fails it.
	Negate bool
}

// GlobPart is one piece of a glob pattern of a FieldTest: a run of
// literal text, or a wildcard.
type GlobPart struct {
	// Wild is '*' (any run of characters) or '?' (one character); 0 for
	// literal text.
	Wild byte
	// Lit is the literal text, escapes removed, when Wild is 0.
	Lit string
}

// GlobParts splits a glob pattern of a FieldTest into literal runs and
// wildcards, as the matcher reads it (a run of stars is one star).
func GlobParts(p string) []GlobPart {
	toks := compileGlob(p)
	out := make([]GlobPart, len(toks))
	for i, t := range toks {
		if t.kind == 'l' {
			out[i] = GlobPart{Lit: t.lit}
		} else {
			out[i] = GlobPart{Wild: t.kind}
		}
	}
	return out
}

// Match returns a read-only view of the rule's compiled match condition.
// Matches(ev) is true exactly when the tree holds for ev.
func (r *Rule) Match() Node { return viewCond(r.match) }

// SeverityIfMatch returns views of the rule's severity_if conditions, in
// order.
func (r *Rule) SeverityIfMatch() []Node {
	out := make([]Node, len(r.severityIf))
	for i, s := range r.severityIf {
		out[i] = viewCond(s.when)
	}
	return out
}

// Superseding returns the rules of the pack that, when they match an
// event, keep this rule silent on it (superseded_by, resolved against the
// pack; ids of rules left out of the pack are not included). A rule
// compiled on its own, outside a pack, has none.
func (r *Rule) Superseding() []*Rule { return append([]*Rule(nil), r.superseded...) }

// ThresholdSpec returns the rule's threshold with its defaults filled in
// (GroupBy account and principal.arn when the rule names none), or nil for
// a stateless rule.
func (r *Rule) ThresholdSpec() *Threshold {
	if r.th == nil {
		return nil
	}
	t := r.th.spec
	t.GroupBy = make([]string, len(r.th.keyBy))
	for i, a := range r.th.keyBy {
		t.GroupBy[i] = a.path
	}
	t.Distinct = append([]string(nil), t.Distinct...)
	return &t
}

// IsNormalizedField reports whether name is a normalised field (action,
// principal.arn, by_service, ...) rather than a path into the raw record.
func IsNormalizedField(name string) bool {
	_, ok := normFields[name]
	return ok
}

// DeploymentPrincipals returns the patterns the field deployer uses now, in
// lower case, in the glob syntax of FieldTest (the setting is process-wide:
// the last Load wins).
func DeploymentPrincipals() []string {
	gs := *deployGlobs.Load()
	out := make([]string, 0, len(gs))
	for _, g := range gs {
		out = append(out, globText(g))
	}
	return out
}

// IaCClients returns the lower-case user-agent marks for which the field
// iac_client is true: it holds when the lower-cased user agent contains
// one of them.
func IaCClients() []string { return append([]string(nil), iacClients...) }

// globText renders compiled glob tokens back as a pattern, escaping the
// wildcard characters of literals.
func globText(toks []gtok) string {
	var b strings.Builder
	for _, t := range toks {
		switch t.kind {
		case '*', '?':
			b.WriteByte(t.kind)
		default:
			for i := 0; i < len(t.lit); i++ {
				if strings.IndexByte(`*?\`, t.lit[i]) >= 0 {
					b.WriteByte('\\')
				}
				b.WriteByte(t.lit[i])
			}
		}
	}
	return b.String()
}

func viewCond(c cond) Node {
	switch x := c.(type) {
	case allCond:
		return Node{Kind: NodeAll, Args: viewConds(x)}
	case anyCond:
		return Node{Kind: NodeAny, Args: viewConds(x)}
	case notCond:
		return Node{Kind: NodeNot, Args: []Node{viewCond(x.c)}}
	case constCond:
		return Node{Kind: NodeConst, Value: bool(x)}
	case *fieldCond:
		n := Node{Kind: NodeField, Field: x.acc.path, Normalized: x.acc.norm != nil, Presence: x.presence}
		for _, t := range x.tests {
			n.Tests = append(n.Tests, viewTest(t))
		}
		return n
	}
	panic("rules: unknown condition type in view")
}

func viewConds(cs []cond) []Node {
	out := make([]Node, len(cs))
	for i, c := range cs {
		out[i] = viewCond(c)
	}
	return out
}

func viewTest(t *test) FieldTest {
	ft := FieldTest{Op: t.op, Fold: t.fold, All: t.all, Decode: t.decode, Negate: t.negate}
	switch t.op {
	case "glob":
		for _, g := range t.globs {
			ft.Values = append(ft.Values, globText(g))
		}
	case "regex":
		for _, re := range t.res {
			ft.Values = append(ft.Values, re.String())
		}
	case "gt", "gte", "lt", "lte":
		ft.Values = []string{strconv.FormatFloat(t.num, 'g', -1, 64)}
	case "cidr":
		for _, p := range t.prefixes {
			ft.Values = append(ft.Values, p.String())
		}
	case "eq_field", "ne_field", "foreign_account":
		ft.Values = []string{t.ref.path}
	case "policy":
		for _, m := range PolicyModes {
			if t.modes&policyMode(m) != 0 {
				ft.Values = append(ft.Values, m)
			}
		}
	default:
		ft.Values = append([]string(nil), t.vals...)
	}
	return ft
}
