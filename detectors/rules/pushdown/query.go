package pushdown

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/trailhound/trailhound/detectors/rules"
)

// Table describes the CloudTrail table a SQL query reads: its name and
// its partition projection columns, so queries read only the partitions
// of their window.
type Table struct {
	// Name is the table, optionally database-qualified (db.cloudtrail_logs).
	// It is written as given: quote it if it needs quoting.
	Name string
	// DateColumn is the date partition column (AWS's example calls it
	// timestamp), empty when the table has none.
	DateColumn string
	// DateFormat is the Java date format of DateColumn, as in the table's
	// projection.timestamp.format; "yyyy/MM/dd" when empty.
	DateFormat string
	// AccountColumn and RegionColumn are the partition columns of an
	// organisation trail's account and region, empty when the table has
	// none.
	AccountColumn, RegionColumn string
	// Accounts and Regions, when set, restrict the query to these
	// partitions.
	Accounts, Regions []string
}

// Window is a half-open time window [Start, End) of event times.
type Window struct {
	Start, End time.Time
}

// javaLayout turns the few Java date patterns partition projection uses
// into a Go layout.
func javaLayout(f string) (string, error) {
	if f == "" {
		f = "yyyy/MM/dd"
	}
	r := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02", "HH", "15")
	out := r.Replace(f)
	if strings.IndexFunc(out, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '\'' }) >= 0 {
		return "", fmt.Errorf("pushdown: date format %q: only yyyy, MM, dd and HH are supported", f)
	}
	return out, nil
}

// where returns the table's partition and event time predicates for w.
func (tb Table) where(w Window) ([]string, error) {
	var out []string
	if tb.DateColumn != "" {
		layout, err := javaLayout(tb.DateFormat)
		if err != nil {
			return nil, err
		}
		// The date partition of an event is the UTC date it was delivered
		// under, which can be a little after its time: read one more day.
		lo := w.Start.UTC().Format(layout)
		hi := w.End.UTC().Add(24 * time.Hour).Format(layout)
		out = append(out, fmt.Sprintf(`"%s" BETWEEN %s AND %s`, tb.DateColumn, quote(lo), quote(hi)))
	}
	if tb.AccountColumn != "" && len(tb.Accounts) > 0 {
		out = append(out, inList(`"`+tb.AccountColumn+`"`, tb.Accounts))
	}
	if tb.RegionColumn != "" && len(tb.Regions) > 0 {
		out = append(out, inList(`"`+tb.RegionColumn+`"`, tb.Regions))
	}
	if !w.Start.IsZero() {
		out = append(out, "eventtime >= "+quote(w.Start.UTC().Format(time.RFC3339)))
	}
	if !w.End.IsZero() {
		out = append(out, "eventtime < "+quote(w.End.UTC().Format(time.RFC3339)))
	}
	return out, nil
}

func inList(col string, vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = quote(v)
	}
	return col + " IN (" + strings.Join(q, ", ") + ")"
}

func sqlEngine(e Engine) error {
	if e != Athena && e != DuckDB {
		return fmt.Errorf("pushdown: %s is not a SQL engine", e)
	}
	return nil
}

// RuleQuery returns the SQL of one rule over the window. A stateless rule
// selects the event id and time of the rows it matches (for a Coarse
// rule, its candidates). A threshold rule whose counting is pushed down
// (Plan.ThresholdExact) selects one row per firing event: its group key
// values k1..kn, event_id, event_time and n, the count (of events, or of
// distinct values) of the group within the rule's window ending at the
// event, where n >= the threshold; other threshold rules select their
// candidate rows.
func RuleQuery(r *rules.Rule, e Engine, tb Table, w Window) (string, Plan, error) {
	if err := sqlEngine(e); err != nil {
		return "", Plan{}, err
	}
	p := Compile(r, e)
	preds, err := tb.where(w)
	if err != nil {
		return "", p, err
	}
	if p.Where != "" {
		// One conjunct a line, so the golden files read and diff well.
		if p.where.k == '&' {
			for _, c := range p.where.xs {
				if c.k == '|' {
					preds = append(preds, "("+c.render(sqlSyntax)+")")
				} else {
					preds = append(preds, c.render(sqlSyntax))
				}
			}
		} else {
			preds = append(preds, "("+p.Where+")")
		}
	}
	where := ""
	if len(preds) > 0 {
		where = "\nWHERE " + strings.Join(preds, "\n  AND ")
	}
	if !p.ThresholdExact {
		return "SELECT eventid AS event_id, eventtime AS event_time\nFROM " + tb.Name + where, p, nil
	}
	st := newTarget(e).(*sqlTarget)
	th := p.Threshold
	var keys, on, group []string
	for i, f := range th.GroupBy {
		x, _ := st.scalar(f)
		k := fmt.Sprintf("k%d", i+1)
		keys = append(keys, "COALESCE("+x+", '') AS "+k)
		on = append(on, "b."+k+" = a."+k)
		group = append(group, "a."+k)
	}
	count := "count(DISTINCT b.event_id)"
	filter := ""
	if len(th.Distinct) == 1 {
		x, _ := st.scalar(th.Distinct[0])
		keys = append(keys, x+" AS v")
		count = "count(DISTINCT b.v)"
		// An event without a value of the distinct field is not counted.
		filter = "\nWHERE v IS NOT NULL"
	}
	ts := st.d.timestamp("eventtime")
	q := "WITH m AS (\n  SELECT * FROM (\n    SELECT eventid AS event_id, eventtime AS event_time, " + ts + " AS ts, " + strings.Join(keys, ", ") +
		"\n    FROM " + tb.Name + strings.ReplaceAll(where, "\n", "\n    ") + "\n  )" + strings.ReplaceAll(filter, "\n", "\n  ") + "\n)\n" +
		"SELECT " + strings.Join(group, ", ") + ", a.event_id, a.event_time, " + count + " AS n\n" +
		"FROM m a JOIN m b ON " + strings.Join(append(on, "b.ts BETWEEN a.ts - "+st.d.seconds(int64(th.Window/time.Second))+" AND a.ts"), " AND ") + "\n" +
		"GROUP BY " + strings.Join(group, ", ") + ", a.event_id, a.event_time\n" +
		fmt.Sprintf("HAVING %s >= %d", count, th.Count)
	return q, p, nil
}

// PackQuery is the query of a set of rules over one window: the rows any
// of them may match, for the in-process engine to judge.
type PackQuery struct {
	// SQL selects Columns of the candidate rows.
	SQL string
	// Plans are the rules' plans, in the order given.
	Plans []Plan
	// Unfiltered names the rules that restrict nothing (NotPushable):
	// when there are any, the query returns every row of the window.
	Unfiltered []string
}

// MaxCondition is the longest pack condition Pack writes, leaving room
// for the rest of the query within Athena's 262,144-byte query limit.
const MaxCondition = 200_000

// Pack returns the query selecting Columns of the rows in the window that
// any of the rules may match (as PackCondition, at most MaxCondition
// long, but with the derived fields by_service, deployer, failed,
// iac_client and read_only computed once in a subquery).
func Pack(rs []*rules.Rule, e Engine, tb Table, w Window) (PackQuery, error) {
	if err := sqlEngine(e); err != nil {
		return PackQuery{}, err
	}
	if tb.Name == "" {
		return PackQuery{}, errors.New("pushdown: the table has no name")
	}
	preds, err := tb.where(w)
	if err != nil {
		return PackQuery{}, err
	}
	var q PackQuery
	var cond string
	// The derived fields many rules test (by_service, failed, deployer)
	// are computed once, in a subquery, rather than in every rule.
	st := &sqlTarget{d: newTarget(e).(*sqlTarget).d, columns: map[string]bool{}}
	cond, q.Plans, q.Unfiltered = packCondition(rs, e, st, MaxCondition)
	cols := strings.Join(Columns, ", ")
	from := tb.Name
	if derived := st.derivedColumns(); cond != "" && len(derived) > 0 {
		inner := "SELECT " + cols + ",\n    " + strings.Join(derived, ",\n    ") + "\n  FROM " + tb.Name
		if len(preds) > 0 {
			inner += "\n  WHERE " + strings.Join(preds, "\n    AND ")
		}
		from, preds = "(\n  "+inner+"\n)", nil
	}
	if cond != "" {
		preds = append(preds, "("+cond+")")
	}
	q.SQL = "SELECT " + cols + "\nFROM " + from
	if len(preds) > 0 {
		q.SQL += "\nWHERE " + strings.Join(preds, "\n  AND ")
	}
	return q, nil
}

// PackCondition returns a SQL condition (for Athena or DuckDB) that holds
// on every CloudTrail record any of the rules may match, at most max
// characters long, with the rules' plans in the order given. It is the OR
// of the rules' Where conditions when that fits; otherwise it gets
// coarser until it fits: without the rules superseding them, then
// without any negation, then also without the derived fields (by_service,
// deployer, failed, ...), then only their tests of plain columns (event
// name and source, identity, user agent, error code, ...), then one list
// of the rules' event names or'ed with the plain-column tests of the rules
// that name none. It is empty, restricting nothing, when a rule restricts
// nothing (unfiltered names them) or even the coarsest condition is too
// long; FALSE when no rule matches a CloudTrail record.
func PackCondition(rs []*rules.Rule, e Engine, max int) (cond string, plans []Plan, unfiltered []string) {
	return packCondition(rs, e, newTarget(e), max)
}

func packCondition(rs []*rules.Rule, e Engine, t target, max int) (cond string, plans []Plan, unfiltered []string) {
	var ors []*bx
	for _, r := range rs {
		p := compileWith(r, e, t)
		plans = append(plans, p)
		if p.Status == NotPushable {
			unfiltered = append(unfiltered, p.Rule)
		}
		ors = append(ors, p.where)
	}
	all := or(ors...)
	switch all.k {
	case 't':
		return "", plans, unfiltered
	case 'f':
		return sqlSyntax.f, plans, nil
	}
	if s := factor(ors, sqlSyntax).render(sqlSyntax); len(s) <= max {
		return s, plans, nil
	}
	plain := func(l *bx) bool {
		if l.k == '!' {
			return false
		}
		_, _, ok := scalarPath(l.key, rules.IsNormalizedField(l.key))
		return ok || l.key == "account"
	}
	notSuperseded := func(x *bx) bool { return x.k != '!' || x.key != "superseded" }
	noNot := func(x *bx) bool { return x.k != '!' }
	// Derived fields (by_service, deployer, failed...) are long in SQL.
	notDerived := func(x *bx) bool { return plain(x) || x.k == 'l' && !rules.IsNormalizedField(x.key) }
	for _, keep := range []func(*bx) bool{notSuperseded, noNot, notDerived, plain} {
		xs := make([]*bx, len(ors))
		for i, o := range ors {
			xs[i] = o.project(keep)
		}
		if x := factor(xs, sqlSyntax); x.k != 't' {
			if s := x.render(sqlSyntax); len(s) <= max {
				return s, plans, nil
			}
		}
	}
	names, others, ok := namesAndOthers(rs, ors, plain)
	if ok {
		var terms []*bx
		if len(names) > 0 {
			terms = append(terms, leaf(inList("eventname", names), "action"))
		}
		if s := or(append(terms, others...)...).render(sqlSyntax); len(s) <= max {
			return s, plans, nil
		}
	}
	return "", plans, nil
}

// InsightsFields are the fields an Insights query of candidate records
// returns: the record's time and its JSON text.
const InsightsFields = "fields @timestamp, @message, @log, @logStream"

// MaxInsightsQuery is the longest query string Logs Insights' StartQuery
// accepts.
const MaxInsightsQuery = 10000

// InsightsQuery returns a Logs Insights query selecting the records any
// of the rules may match, oldest first, no longer than max characters,
// and the rules that restrict nothing (when there are any, the query has
// no filter). Like PackFilterPattern it gets coarser until it fits: the
// rules' full conditions, then their event names and sources, then their
// event names alone; when even those do not fit, or a rule names no event
// names, the query has no filter. The time range is a parameter of
// StartQuery, not part of the query.
func InsightsQuery(rs []*rules.Rule, max int) (string, []string) {
	var ors []*bx
	var unfiltered []string
	for _, r := range rs {
		p := Compile(r, Insights)
		if p.Status == NotPushable {
			unfiltered = append(unfiltered, p.Rule)
		}
		ors = append(ors, p.where)
	}
	head, tail := InsightsFields, "\n| sort @timestamp asc"
	fits := func(cond string) (string, bool) {
		q := head + "\n| filter " + cond + tail
		return q, len(q) <= max
	}
	all := or(ors...)
	if all.k == 't' {
		return head + tail, unfiltered
	}
	if all.k == 'f' {
		// No rule matches a CloudTrail record.
		q, _ := fits(insightsSyntax.f)
		return q, nil
	}
	if q, ok := fits(all.render(insightsSyntax)); ok {
		return q, nil
	}
	simple := func(l *bx) bool {
		_, _, ok := scalarPath(l.key, rules.IsNormalizedField(l.key))
		return ok
	}
	if x := all.project(simple); x.k != 't' {
		if q, ok := fits(x.render(insightsSyntax)); ok {
			return q, nil
		}
	}
	// Coarsest: one list of the event names of the rules that name them,
	// or'ed with the simple conditions of the rules that do not.
	names, others, ok := namesAndOthers(rs, ors, simple)
	if ok {
		for level := -1; level <= 4; level++ {
			group := names
			if level >= 0 {
				group = groupNames(names, level)
			}
			terms := append(insightsNames(group), others...)
			if s, ok := fits(or(terms...).render(insightsSyntax)); ok {
				return s, nil
			}
		}
	}
	return head + tail, nil
}

// insightsNames writes event names, some of them prefixes ending in *, as
// Insights conditions: a list of the names and a regex of the prefixes.
func insightsNames(names []string) []*bx {
	var exact, prefixes []string
	for _, n := range names {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			prefixes = append(prefixes, regexp.QuoteMeta(p))
		} else {
			exact = append(exact, insightsString(n))
		}
	}
	var out []*bx
	if len(exact) > 0 {
		out = append(out, leaf("eventName in ["+strings.Join(exact, ", ")+"]", "action"))
	}
	if len(prefixes) > 0 {
		out = append(out, leaf("eventName like "+insightsRegex("^(?:"+strings.Join(prefixes, "|")+")"), "action"))
	}
	return out
}

// namesAndOthers splits rules into those that name their event names
// (returned merged and sorted) and the others, whose conditions are
// projected onto the leaves keep accepts. ok is false when one of the
// others then restricts nothing.
func namesAndOthers(rs []*rules.Rule, conds []*bx, keep func(*bx) bool) (names []string, others []*bx, ok bool) {
	seen := map[string]bool{}
	for i, r := range rs {
		if conds[i].k == 'f' {
			continue
		}
		if ns := r.Actions(); ns != nil {
			for _, n := range ns {
				if !seen[n] {
					seen[n] = true
					names = append(names, n)
				}
			}
			continue
		}
		x := conds[i].project(keep)
		if x.k == 't' {
			return nil, nil, false
		}
		others = append(others, x)
	}
	sort.Strings(names)
	return names, others, true
}

// MaxFilterPattern is the longest filter pattern CloudWatch Logs accepts.
const MaxFilterPattern = 1024

// PackFilterPattern returns a CloudWatch Logs JSON filter pattern that
// keeps every CloudTrail record any of the rules may match, no longer than
// max characters. It gets coarser until it fits: first the rules' full
// terms, then only their event names and sources, then only event names,
// grouped under shared prefixes with a * wildcard. It returns "" and the
// reason when no pattern can help: a rule restricts nothing, or even the
// coarsest pattern is too long. A pattern keeps only JSON records, so it
// suits log groups of CloudTrail records only.
func PackFilterPattern(rs []*rules.Rule, max int) (string, string) {
	return PackFilterPatternWith(rs, nil, max)
}

// PackFilterPatternWith is PackFilterPattern for the rules and for other
// detectors that fire only on the given event names.
func PackFilterPatternWith(rs []*rules.Rule, eventNames []string, max int) (string, string) {
	if len(rs) == 0 && len(eventNames) == 0 {
		return "", "no rules"
	}
	var terms []*bx
	for _, n := range eventNames {
		if !patternValue(n) || strings.Contains(n, "*") {
			return "", fmt.Sprintf("event name %q cannot be written in a filter pattern", n)
		}
		terms = append(terms, leaf(`($.eventName = "`+n+`")`, "eventName"))
	}
	for _, r := range rs {
		p := Compile(r, FilterPattern)
		if p.Status == NotPushable {
			return "", fmt.Sprintf("rule %s can match any record (%s)", p.Rule, strings.Join(p.Reasons, "; "))
		}
		terms = append(terms, p.where)
	}
	wrap := func(x *bx) string { return "{ " + x.render(patternSyntax) + " }" }
	all := or(terms...)
	if all.k == 'f' {
		return "", "no rule matches a CloudTrail record"
	}
	if s := wrap(all); len(s) <= max {
		return s, ""
	}
	keep := func(paths ...string) func(*bx) bool {
		return func(l *bx) bool {
			for _, p := range paths {
				if l.key == p {
					return true
				}
			}
			return false
		}
	}
	proj := func(paths ...string) (*bx, bool) {
		var xs []*bx
		for _, t := range terms {
			x := t.project(keep(paths...))
			if x.k == 't' {
				return nil, false
			}
			xs = append(xs, x)
		}
		return or(xs...), true
	}
	if x, ok := proj("eventName", "eventSource"); ok {
		if s := wrap(x); len(s) <= max {
			return s, ""
		}
	}
	names, others, ok := namesAndOthers(rs, terms[len(eventNames):], func(*bx) bool { return true })
	if !ok {
		return "", "a rule restricts nothing a filter pattern can say"
	}
	names = append(names, eventNames...)
	sort.Strings(names)
	names = dedupStrings(names)
	var rest string
	if len(others) > 0 {
		rest = or(others...).render(patternSyntax)
	}
	for level := -1; ; level++ {
		group := names
		if level >= 0 {
			group = groupNames(names, level)
		}
		s := namesPattern(group, rest)
		if len(s) <= max {
			return s, ""
		}
		if level > 3 {
			return "", fmt.Sprintf("even grouped event names make a pattern of %d characters, more than %d", len(s), max)
		}
	}
}

// namesPattern writes a filter pattern keeping the event names (which
// may end in the * wildcard) and the records rest holds on.
func namesPattern(names []string, rest string) string {
	var b strings.Builder
	b.WriteString("{ ")
	for i, n := range names {
		if i > 0 {
			b.WriteString(" || ")
		}
		fmt.Fprintf(&b, `($.eventName = "%s")`, n)
	}
	if rest != "" {
		if len(names) > 0 {
			b.WriteString(" || ")
		}
		b.WriteString(rest)
	}
	b.WriteString(" }")
	return b.String()
}

// groupNames replaces event names sharing a prefix with prefix*: at level
// 0 the leading word (Delete in DeleteTrail), at level 1 its first four
// characters, then three and two. Names that already hold a * stay.
func groupNames(names []string, level int) []string {
	prefix := func(n string) string {
		if level == 0 {
			for i := 1; i < len(n); i++ {
				if n[i] >= 'A' && n[i] <= 'Z' {
					return n[:i]
				}
			}
			return n
		}
		k := 5 - level
		if len(n) <= k {
			return n
		}
		return n[:k]
	}
	groups := map[string][]string{}
	var order []string
	for _, n := range names {
		p := prefix(strings.TrimSuffix(n, "*"))
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = append(groups[p], n)
	}
	var out []string
	for _, p := range order {
		g := groups[p]
		if len(g) == 1 && !strings.HasSuffix(g[0], "*") && level == 0 {
			out = append(out, g[0])
			continue
		}
		out = append(out, p+"*")
	}
	sort.Strings(out)
	return dedupStrings(out)
}

func dedupStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
