// Package pushdown compiles the match tree of a rule (detectors/rules, and
// so also translated Sigma rules) into the query languages of the engines
// AWS runs over CloudTrail: Athena SQL (Trino) over the CloudTrail table
// in AWS's documented schema, the same SQL for DuckDB (used by tests to
// prove the SQL equivalent to the in-process matcher), CloudWatch Logs
// Insights queries, and CloudWatch Logs JSON filter patterns.
//
// Every part of a rule an engine cannot express is named, never dropped
// silently. For each rule and engine, Compile gives two conditions: Where
// holds on every record the rule matches (it may hold on more), and Sure
// holds only on records the rule matches. When they are the same the
// rule is Exact; otherwise it is Coarse, and the engine fetches candidate
// rows with Where that the in-process matcher then judges; when Where
// restricts nothing the rule is NotPushable. The conditions speak of
// CloudTrail records: the fields of plain log lines (message, log_group,
// log_stream) are absent from them.
package pushdown

import (
	"fmt"
	"sort"
	"strings"

	"github.com/trailhound/trailhound/detectors/rules"
)

// Engine names a query engine a rule compiles to.
type Engine string

// The engines.
const (
	// Athena is Amazon Athena SQL (the Trino dialect) over the CloudTrail
	// table of AWS's documentation.
	Athena Engine = "athena"
	// DuckDB is the same SQL in DuckDB's dialect, over a table of the same
	// schema; the differential tests run it.
	DuckDB Engine = "duckdb"
	// Insights is a CloudWatch Logs Insights query over a log group of
	// CloudTrail records.
	Insights Engine = "insights"
	// FilterPattern is a CloudWatch Logs JSON filter pattern, applied by
	// FilterLogEvents and subscription filters.
	FilterPattern Engine = "filter-pattern"
)

// Engines lists every engine, in the order commands show them.
var Engines = []Engine{Athena, DuckDB, Insights, FilterPattern}

// ParseEngine returns the engine with the given name.
func ParseEngine(s string) (Engine, error) {
	for _, e := range Engines {
		if string(e) == s {
			return e, nil
		}
	}
	names := make([]string, len(Engines))
	for i, e := range Engines {
		names[i] = string(e)
	}
	return "", fmt.Errorf("unknown engine %q (want one of %s)", s, strings.Join(names, ", "))
}

// Status says how much of a rule an engine evaluates.
type Status int

// The statuses, from best to worst.
const (
	// Exact: the engine returns exactly the records the rule matches.
	Exact Status = iota
	// Coarse: the engine returns a superset (Where), which the in-process
	// matcher judges; Reasons say which parts it cannot express.
	Coarse
	// NotPushable: the engine can restrict nothing for this rule; every
	// record must be fetched and judged in process.
	NotPushable
)

// String returns exact, coarse or none.
func (s Status) String() string {
	switch s {
	case Exact:
		return "exact"
	case Coarse:
		return "coarse"
	case NotPushable:
		return "none"
	}
	return fmt.Sprintf("status(%d)", int(s))
}

// Plan is a rule compiled for one engine.
type Plan struct {
	Rule   string
	Engine Engine
	Status Status
	// Reasons name each part of the rule the engine cannot express (or
	// expresses only for some values), one short phrase each, sorted.
	Reasons []string
	// Where is the engine's condition that holds on every record the rule
	// matches: a SQL boolean expression, a Logs Insights filter
	// expression, or a filter pattern term (without the braces). It is
	// empty when Status is NotPushable.
	Where string
	// Sure is a condition that holds only on records the rule matches
	// (for Exact, Where itself). Empty means it holds on none. Tests use
	// it to check that Where is not too narrow.
	Sure string
	// Never is true when the rule matches no CloudTrail record at all
	// (a rule for plain log lines); Where is then the engine's false.
	Never bool
	// Threshold is set for a threshold rule. Its counting is pushed down
	// only for SQL engines and only when the rule is Exact and its keys
	// and distinct fields are expressible (ThresholdExact).
	Threshold *rules.Threshold
	// ThresholdExact reports whether RuleQuery counts the threshold in
	// the engine; otherwise the engine returns candidate rows and the
	// windows are counted in process.
	ThresholdExact bool

	where, sure *bx
}

// Compile compiles a rule's match, minus the events of the rules that
// supersede it, for an engine.
func Compile(r *rules.Rule, e Engine) Plan { return compileWith(r, e, newTarget(e)) }

func compileWith(r *rules.Rule, e Engine, t target) Plan {
	c := &compiler{t: t, reasons: map[string]bool{}}
	a := c.node(r.Match())
	// A superseding rule that matches keeps this one silent: the event is
	// out for sure only where the superseding rule surely matches.
	for _, s := range r.Superseding() {
		sa := c.node(s.Match())
		if !sa.exact {
			c.reasons["superseded_by "+s.ID()+" is not exact"] = true
		}
		a = approx{over: and(a.over, superseded(sa.under)), under: and(a.under, superseded(sa.over)), exact: a.exact && sa.exact}
	}
	if t.noNot() {
		a.over = c.dropNot(a.over, true)
		a.under = c.dropNot(a.under, false)
		if a.over != a.under {
			a.exact = a.exact && a.over.render(t.syntax()) == a.under.render(t.syntax())
		}
	}
	p := Plan{Rule: r.ID(), Engine: e, where: a.over, sure: a.under}
	for s := range c.reasons {
		p.Reasons = append(p.Reasons, s)
	}
	sort.Strings(p.Reasons)
	switch {
	case a.over.k == 't':
		p.Status = NotPushable
	case a.exact:
		p.Status = Exact
	default:
		p.Status = Coarse
	}
	if p.Status == Exact && len(p.Reasons) > 0 {
		// Parts that could not be expressed were cut away by the rest of
		// the condition (e.g. under a false branch); the result is exact.
		p.Reasons = nil
	}
	p.Never = a.over.k == 'f'
	if p.Status != NotPushable {
		p.Where = a.over.render(t.syntax())
	}
	if a.under.k != 'f' {
		p.Sure = a.under.render(t.syntax())
	}
	if th := r.ThresholdSpec(); th != nil {
		p.Threshold = th
		if st, ok := t.(*sqlTarget); ok && p.Status == Exact {
			p.ThresholdExact = st.thresholdExpressible(th)
		}
		if !p.ThresholdExact {
			p.Reasons = append(p.Reasons, "threshold counted in process")
			if p.Status == Exact {
				p.Status = Coarse
			}
		}
	}
	return p
}

// superseded is the negation of a superseding rule's condition, marked so
// a pack condition can drop it to get shorter.
func superseded(x *bx) *bx {
	n := not(x)
	if n.k == '!' {
		n.key = "superseded"
	}
	return n
}

// approx is a condition compiled for an engine: over holds wherever the
// rule's condition does, under only where it does; exact means they are
// the same.
type approx struct {
	over, under *bx
	exact       bool
}

func inexact(over, under *bx) approx { return approx{over: over, under: under} }

func exactly(x *bx) approx { return approx{over: x, under: x, exact: true} }

// cannot is a part the engine cannot express: it may hold or not.
var cannot = approx{over: bTrue, under: bFalse}

type compiler struct {
	t       target
	reasons map[string]bool
}

func (c *compiler) note(format string, args ...any) {
	c.reasons[fmt.Sprintf(format, args...)] = true
}

func (c *compiler) node(n rules.Node) approx {
	switch n.Kind {
	case rules.NodeConst:
		if n.Value {
			return exactly(bTrue)
		}
		return exactly(bFalse)
	case rules.NodeNot:
		a := c.node(n.Args[0])
		return approx{over: not(a.under), under: not(a.over), exact: a.exact}
	case rules.NodeAll, rules.NodeAny:
		overs := make([]*bx, len(n.Args))
		unders := make([]*bx, len(n.Args))
		ex := true
		for i, arg := range n.Args {
			a := c.node(arg)
			overs[i], unders[i] = a.over, a.under
			ex = ex && a.exact
		}
		if n.Kind == rules.NodeAll {
			return approx{over: and(overs...), under: and(unders...), exact: ex}
		}
		return approx{over: or(overs...), under: or(unders...), exact: ex}
	case rules.NodeField:
		return c.t.field(c, n)
	}
	c.note("unknown condition %s", n.Kind)
	return cannot
}

// dropNot rewrites x for an engine without a general negation: a negated
// leaf becomes true in an over-approximation and false in an
// under-approximation (filter patterns write the few negations they can
// as leaves already).
func (c *compiler) dropNot(x *bx, over bool) *bx {
	switch x.k {
	case '!':
		c.note("negation")
		if over {
			return bTrue
		}
		return bFalse
	case '&', '|':
		xs := make([]*bx, len(x.xs))
		for i, s := range x.xs {
			xs[i] = c.dropNot(s, over)
		}
		if x.k == '&' {
			return and(xs...)
		}
		return or(xs...)
	}
	return x
}

// target is one engine's translation of field conditions.
type target interface {
	field(c *compiler, n rules.Node) approx
	syntax() syntax
	// noNot reports whether the engine lacks a general negation.
	noNot() bool
}

func newTarget(e Engine) target {
	switch e {
	case Athena:
		return &sqlTarget{d: athenaDialect}
	case DuckDB:
		return &sqlTarget{d: duckDialect}
	case Insights:
		return insightsTarget{}
	case FilterPattern:
		return patternTarget{}
	}
	panic("pushdown: unknown engine " + string(e))
}
