package rules

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/trailhound/trailhound/sources"
)

// Expr is a match condition before compilation, as a YAML rule's match
// block or a translated Sigma detection says it. Exactly one of its forms
// is used, chosen by Op.
type Expr struct {
	// Op is "all" (every Args holds), "any" (at least one holds), "not"
	// (Args[0] does not hold) or "field" (Field passes Tests).
	Op   string
	Args []Expr
	// Field is a normalised field name (action, principal.type, ...) or a
	// dotted path into the raw CloudTrail record.
	Field string
	// Exists, when set, requires the field to be present (true) or absent
	// (false). Tests then must be empty.
	Exists *bool
	// Tests must all hold for one value of the field.
	Tests []Test

	// Key and Line locate the condition in its file, for errors.
	Key  string
	Line int
}

// Test is one comparison of a field value.
type Test struct {
	// Op is eq, glob, contains, startswith, endswith, regex, gt, gte, lt,
	// lte, cidr, eq_field, ne_field, foreign_account or policy.
	Op string
	// Values are compared against; the test holds when any does (or every
	// one, with All). For eq_field, ne_field and foreign_account the single
	// value names the other field. For policy they are modes (public,
	// foreign, admin).
	Values []string
	// Fold compares case-insensitively.
	Fold bool
	// All requires every value to match.
	All bool
	// Decode is "url" to percent-decode (twice, for double encoding) the
	// field value before comparing.
	Decode string
	// Negate inverts the test (not_contains, not_regex, ...): it holds for
	// a value that fails it.
	Negate bool

	Key  string
	Line int
}

// Ops lists the test operators a rule may use.
var Ops = []string{"eq", "glob", "contains", "startswith", "endswith", "regex", "gt", "gte", "lt", "lte", "cidr", "eq_field", "ne_field", "foreign_account", "policy"}

// cond is a compiled condition.
type cond interface {
	eval(ev *sources.Event) bool
	// cost estimates the evaluation cost, so cheap conditions run first.
	cost() int
}

type allCond []cond

func (c allCond) eval(ev *sources.Event) bool {
	for _, x := range c {
		if !x.eval(ev) {
			return false
		}
	}
	return true
}

func (c allCond) cost() int { return sumCost(c) }

type anyCond []cond

func (c anyCond) eval(ev *sources.Event) bool {
	for _, x := range c {
		if x.eval(ev) {
			return true
		}
	}
	return false
}

func (c anyCond) cost() int { return sumCost(c) }

type notCond struct{ c cond }

func (c notCond) eval(ev *sources.Event) bool { return !c.c.eval(ev) }
func (c notCond) cost() int                   { return c.c.cost() }

func sumCost(cs []cond) int {
	n := 0
	for _, c := range cs {
		n += c.cost()
	}
	return n
}

// constCond is a condition with a fixed result, such as "any" of nothing.
type constCond bool

func (c constCond) eval(*sources.Event) bool { return bool(c) }
func (c constCond) cost() int                { return 0 }

// fieldCond tests one field.
type fieldCond struct {
	acc *accessor
	// presence: 0 = tests decide, 1 = must exist, -1 = must be absent.
	presence int
	tests    []*test
	c        int
	// objTests is set when a test reads objects as they are (policy), so
	// an object value is not turned into text first.
	objTests bool
}

func (c *fieldCond) cost() int { return c.c }

func (c *fieldCond) eval(ev *sources.Event) bool {
	if c.acc.norm != nil {
		s, ok := c.acc.norm(ev)
		switch {
		case c.presence != 0:
			return ok == (c.presence > 0)
		case !ok:
			return false
		}
		return c.testAll(ev, s)
	}
	if c.presence != 0 {
		return c.acc.present(ev) == (c.presence > 0)
	}
	v, ok := c.acc.root(ev)
	if !ok {
		return false
	}
	return c.walk(ev, v, c.acc.rest)
}

// walk follows segs through v, trying every element of arrays on the way,
// and tests each value found.
func (c *fieldCond) walk(ev *sources.Event, v any, segs []string) bool {
	for i, s := range segs {
		switch x := v.(type) {
		case map[string]any:
			nv, ok := x[s]
			if !ok || nv == nil {
				return false
			}
			v = nv
		case []any:
			for _, el := range x {
				if c.walk(ev, el, segs[i:]) {
					return true
				}
			}
			return false
		default:
			return false
		}
	}
	switch x := v.(type) {
	case string:
		return c.testAll(ev, x)
	case float64:
		return c.testNumber(ev, x)
	case []any:
		for _, el := range x {
			if el != nil && c.walk(ev, el, nil) {
				return true
			}
		}
		return false
	case nil:
		return false
	case map[string]any:
		if c.objTests {
			return c.testObject(ev, x)
		}
	}
	return c.testAll(ev, text(v))
}

// testObject tests an object value: policy tests read it as it is, the
// others its JSON text.
func (c *fieldCond) testObject(ev *sources.Event, v map[string]any) bool {
	var s string
	for _, t := range c.tests {
		var ok bool
		if t.op == "policy" {
			ok = t.policyHolds(ev, v)
		} else {
			if s == "" {
				s = text(v)
			}
			ok = t.match(ev, s)
		}
		if ok == t.negate {
			return false
		}
	}
	return true
}

func (c *fieldCond) testAll(ev *sources.Event, s string) bool {
	for _, t := range c.tests {
		if t.match(ev, s) == t.negate {
			return false
		}
	}
	return true
}

func (c *fieldCond) testNumber(ev *sources.Event, f float64) bool {
	var s string
	for _, t := range c.tests {
		if t.numeric() {
			if t.matchNumber(f) == t.negate {
				return false
			}
			continue
		}
		if s == "" {
			s = strconv.FormatFloat(f, 'f', -1, 64)
		}
		if t.match(ev, s) == t.negate {
			return false
		}
	}
	return true
}

// test is a compiled Test.
type test struct {
	op       string
	negate   bool
	fold     bool
	all      bool
	decode   bool
	vals     []string
	globs    [][]gtok
	res      []*regexp.Regexp
	num      float64
	prefixes []netip.Prefix
	ref      *accessor
	modes    uint8
}

func (t *test) numeric() bool {
	switch t.op {
	case "gt", "gte", "lt", "lte":
		return true
	}
	return false
}

func (t *test) matchNumber(f float64) bool {
	switch t.op {
	case "gt":
		return f > t.num
	case "gte":
		return f >= t.num
	case "lt":
		return f < t.num
	case "lte":
		return f <= t.num
	}
	return false
}

func (t *test) match(ev *sources.Event, s string) bool {
	if t.decode {
		s = urlDecode(urlDecode(s))
	}
	switch t.op {
	case "gt", "gte", "lt", "lte":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		return err == nil && t.matchNumber(f)
	case "regex":
		return anyAll(t.all, len(t.res), func(i int) bool { return t.res[i].MatchString(s) })
	case "glob":
		return anyAll(t.all, len(t.globs), func(i int) bool { return globMatch(t.globs[i], s, t.fold) })
	case "cidr":
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return false
		}
		for _, p := range t.prefixes {
			if p.Contains(addr) {
				return true
			}
		}
		return false
	case "eq_field", "ne_field":
		return t.matchField(ev, s)
	case "foreign_account":
		own, ok := t.ref.first(ev)
		return ok && hasForeignAccount(s, own)
	case "policy":
		return t.matchPolicy(ev, s)
	}
	// Literal string tests, the hot path: no closures, no allocation.
	for _, v := range t.vals {
		var ok bool
		switch t.op {
		case "eq":
			ok = s == v || t.fold && strings.EqualFold(s, v)
		case "contains":
			ok = contains(s, v, t.fold)
		case "startswith":
			ok = len(s) >= len(v) && (s[:len(v)] == v || t.fold && strings.EqualFold(s[:len(v)], v))
		case "endswith":
			ok = len(s) >= len(v) && (s[len(s)-len(v):] == v || t.fold && strings.EqualFold(s[len(s)-len(v):], v))
		}
		if ok && !t.all {
			return true
		}
		if !ok && t.all {
			return false
		}
	}
	return t.all
}

// matchField compares s with the values of another field.
func (t *test) matchField(ev *sources.Event, s string) bool {
	eq := func(v string) bool { return v == s || t.fold && strings.EqualFold(v, s) }
	if t.ref.norm != nil {
		v, ok := t.ref.norm(ev)
		if !ok {
			return false
		}
		return eq(v) == (t.op == "eq_field")
	}
	vals := t.ref.all(ev, nil)
	if len(vals) == 0 {
		return false
	}
	for _, v := range vals {
		if eq(v) {
			return t.op == "eq_field"
		}
	}
	return t.op == "ne_field"
}

func anyAll(all bool, n int, f func(int) bool) bool {
	for i := 0; i < n; i++ {
		ok := f(i)
		if ok && !all {
			return true
		}
		if !ok && all {
			return false
		}
	}
	return all
}

func contains(s, sub string, fold bool) bool {
	if !fold {
		return strings.Contains(s, sub)
	}
	n := len(sub)
	if n == 0 {
		return true
	}
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], sub) {
			return true
		}
	}
	return false
}

// hasForeignAccount reports whether s names a 12-digit AWS account ID
// other than own: in an ARN (arn:aws:iam::111122223333:root) or on its
// own ("111122223333").
func hasForeignAccount(s, own string) bool {
	for i := 0; i < len(s); {
		if !isDigit(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j-i == 12 && s[i:j] != own {
			return true
		}
		i = j
	}
	return false
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// urlDecode percent-decodes s and turns '+' into a space, leaving invalid
// escapes as they are. It returns s itself when there is nothing to decode.
func urlDecode(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// gtok is one token of a compiled wildcard pattern.
type gtok struct {
	kind byte // 'l' literal, '*' any run, '?' one character
	lit  string
}

// hasWildcard reports whether a pattern has an unescaped * or ?.
func hasWildcard(p string) bool {
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\':
			i++
		case '*', '?':
			return true
		}
	}
	return false
}

// unescape removes the backslash escapes of a pattern without wildcards.
func unescape(p string) string {
	if !strings.Contains(p, `\`) {
		return p
	}
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] == '\\' && i+1 < len(p) && strings.IndexByte(`*?\`, p[i+1]) >= 0 {
			i++
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// compileGlob compiles a pattern where * matches any run of characters, ?
// one character, and a backslash escapes *, ? and itself.
func compileGlob(p string) []gtok {
	var toks []gtok
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, gtok{kind: 'l', lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '\\':
			if i+1 < len(p) && strings.IndexByte(`*?\`, p[i+1]) >= 0 {
				i++
			}
			lit.WriteByte(p[i])
		case '*':
			flush()
			if len(toks) == 0 || toks[len(toks)-1].kind != '*' {
				toks = append(toks, gtok{kind: '*'})
			}
		case '?':
			flush()
			toks = append(toks, gtok{kind: '?'})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	return toks
}

// globMatch matches s against a compiled pattern, backtracking only to the
// last star, so it runs in O(len(s) * len(pattern)).
func globMatch(toks []gtok, s string, fold bool) bool {
	ti, si := 0, 0
	starT, starS := -1, 0
	for si < len(s) || ti < len(toks) {
		if ti < len(toks) {
			t := toks[ti]
			switch t.kind {
			case '*':
				starT, starS = ti, si
				ti++
				continue
			case '?':
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					ti++
					continue
				}
			default:
				if n := len(t.lit); len(s)-si >= n && (s[si:si+n] == t.lit || fold && strings.EqualFold(s[si:si+n], t.lit)) {
					si += n
					ti++
					continue
				}
			}
		}
		if starT >= 0 && starS < len(s) {
			_, n := utf8.DecodeRuneInString(s[starS:])
			starS += n
			si, ti = starS, starT+1
			continue
		}
		return false
	}
	return true
}

// compile turns an Expr into a condition, failing with the location of the
// first bad part.
func compile(e Expr, loc *location) (cond, error) {
	switch e.Op {
	case "all", "any":
		cs := make([]cond, 0, len(e.Args))
		for _, a := range e.Args {
			c, err := compile(a, loc)
			if err != nil {
				return nil, err
			}
			cs = append(cs, c)
		}
		if e.Op == "all" {
			if len(cs) == 1 {
				return cs[0], nil
			}
			// Cheap conditions first: most events fail on the event name
			// and never touch the raw record.
			sort.SliceStable(cs, func(i, j int) bool { return cs[i].cost() < cs[j].cost() })
			return allCond(cs), nil
		}
		if len(cs) == 0 {
			return constCond(false), nil
		}
		if len(cs) == 1 {
			return cs[0], nil
		}
		return anyCond(cs), nil
	case "not":
		if len(e.Args) != 1 {
			return nil, loc.errorf(e.Key, e.Line, "not takes exactly one condition")
		}
		c, err := compile(e.Args[0], loc)
		if err != nil {
			return nil, err
		}
		return notCond{c}, nil
	case "field":
		return compileField(e, loc)
	}
	return nil, loc.errorf(e.Key, e.Line, "unknown condition %q", e.Op)
}

func compileField(e Expr, loc *location) (cond, error) {
	if e.Field == "" || strings.ContainsAny(e.Field, " \t") || strings.HasPrefix(e.Field, ".") || strings.HasSuffix(e.Field, ".") || strings.Contains(e.Field, "..") {
		return nil, loc.errorf(e.Key, e.Line, "invalid field path %q", e.Field)
	}
	c := &fieldCond{acc: newAccessor(e.Field)}
	if e.Exists != nil {
		if len(e.Tests) > 0 {
			return nil, loc.errorf(e.Key, e.Line, "exists/absent cannot be combined with other tests")
		}
		c.presence = -1
		if *e.Exists {
			c.presence = 1
		}
	} else if len(e.Tests) == 0 {
		return nil, loc.errorf(e.Key, e.Line, "no test given for field %s", e.Field)
	}
	for _, t := range e.Tests {
		ct, err := compileTest(t, loc)
		if err != nil {
			return nil, err
		}
		c.tests = append(c.tests, ct)
	}
	c.c = 1
	if c.acc.raw() {
		c.c = 10
	}
	for _, t := range c.tests {
		switch {
		case t.op == "regex" || t.decode:
			c.c += 5
		case t.ref != nil && t.ref.raw():
			c.c += 10
		case t.op == "policy":
			c.c += 20
		}
		if t.op == "policy" {
			c.objTests = true
		}
	}
	return c, nil
}

func compileTest(t Test, loc *location) (*test, error) {
	key, line := t.Key, t.Line
	if len(t.Values) == 0 {
		return nil, loc.errorf(key, line, "%s needs a value", t.Op)
	}
	ct := &test{op: t.Op, negate: t.Negate, fold: t.Fold, all: t.All}
	switch t.Decode {
	case "":
	case "url":
		ct.decode = true
	default:
		return nil, loc.errorf(key, line, "unknown decode %q (want url)", t.Decode)
	}
	switch t.Op {
	case "eq":
		// Equality with wildcards is a glob.
		wild := false
		for _, v := range t.Values {
			if hasWildcard(v) {
				wild = true
			}
		}
		if wild {
			ct.op = "glob"
			for _, v := range t.Values {
				ct.globs = append(ct.globs, compileGlob(v))
			}
			return ct, nil
		}
		for _, v := range t.Values {
			ct.vals = append(ct.vals, unescape(v))
		}
	case "glob":
		for _, v := range t.Values {
			ct.globs = append(ct.globs, compileGlob(v))
		}
	case "contains", "startswith", "endswith":
		ct.vals = t.Values
	case "regex":
		for _, v := range t.Values {
			if t.Fold && !strings.HasPrefix(v, "(?i)") {
				v = "(?i)" + v
			}
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, loc.errorf(key, line, "invalid regex %q: %v", v, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			ct.res = append(ct.res, re)
		}
	case "gt", "gte", "lt", "lte":
		if len(t.Values) != 1 {
			return nil, loc.errorf(key, line, "%s takes one number", t.Op)
		}
		f, err := strconv.ParseFloat(t.Values[0], 64)
		if err != nil {
			return nil, loc.errorf(key, line, "%s needs a number, not %q", t.Op, t.Values[0])
		}
		ct.num = f
	case "cidr":
		for _, v := range t.Values {
			p, err := netip.ParsePrefix(v)
			if err != nil {
				return nil, loc.errorf(key, line, "invalid CIDR %q", v)
			}
			ct.prefixes = append(ct.prefixes, p.Masked())
		}
	case "eq_field", "ne_field", "foreign_account":
		if len(t.Values) != 1 || t.Values[0] == "" {
			return nil, loc.errorf(key, line, "%s takes one field name", t.Op)
		}
		ct.ref = newAccessor(t.Values[0])
	case "policy":
		for _, v := range t.Values {
			m := policyMode(v)
			if m == 0 {
				return nil, loc.errorf(key, line, "unknown policy mode %q (want %s)", v, strings.Join(PolicyModes, ", "))
			}
			ct.modes |= m
		}
	default:
		return nil, loc.errorf(key, line, "unknown operator %q (want one of %s)", t.Op, strings.Join(Ops, ", "))
	}
	return ct, nil
}

// prefilter is the set of event names a rule can match at all, taken from
// its conditions, so most rules skip most events with a few string
// comparisons.
type prefilter struct {
	vals []string
	fold bool
	set  map[string]struct{}
	// names are all the event names, for the engine's index.
	names []string
}

func (p *prefilter) has(s string) bool {
	if p.set != nil {
		if _, ok := p.set[s]; ok {
			return true
		}
		if !p.fold {
			return false
		}
	}
	for _, v := range p.vals {
		if len(v) == len(s) && (v == s || p.fold && strings.EqualFold(v, s)) {
			return true
		}
	}
	return false
}

// actionsOf returns the event names c can match, or ok=false when it can
// match any.
func actionsOf(c cond) (vals []string, fold, ok bool) {
	switch x := c.(type) {
	case *fieldCond:
		if x.acc.path != "action" || x.presence != 0 {
			return nil, false, false
		}
		for _, t := range x.tests {
			if t.op == "eq" && !t.all && !t.decode && !t.negate {
				return t.vals, t.fold, true
			}
		}
	case allCond:
		for _, sub := range x {
			if v, f, ok := actionsOf(sub); ok {
				return v, f, true
			}
		}
	case anyCond:
		for _, sub := range x {
			v, f, ok := actionsOf(sub)
			if !ok {
				return nil, false, false
			}
			vals = append(vals, v...)
			fold = fold || f
		}
		return vals, fold, true
	case constCond:
		if !bool(x) {
			return []string{}, false, true
		}
	}
	return nil, false, false
}

func newPrefilter(c cond) *prefilter {
	vals, fold, ok := actionsOf(c)
	if !ok {
		return nil
	}
	p := &prefilter{vals: vals, fold: fold, names: vals}
	if len(vals) > 8 {
		p.set = make(map[string]struct{}, len(vals))
		for _, v := range vals {
			p.set[v] = struct{}{}
		}
		if !fold {
			p.vals = nil
		}
	}
	return p
}

// location names the file and rule a condition comes from, for errors.
type location struct {
	file string
	rule string
}

func (l *location) errorf(key string, line int, format string, args ...any) error {
	return &Error{File: l.file, Line: line, Rule: l.rule, Key: key, Msg: fmt.Sprintf(format, args...)}
}
