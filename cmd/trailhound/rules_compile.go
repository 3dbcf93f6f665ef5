package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
)

// listEngines are the engines `rules list` shows, in its PUSHDOWN
// column's order; DuckDB always says what Athena says.
var listEngines = []pushdown.Engine{pushdown.Athena, pushdown.Insights, pushdown.FilterPattern}

// pushdownInfo is what `rules list --format json` says of a rule and one
// engine.
type pushdownInfo struct {
	// Status is exact, coarse or none.
	Status string `json:"status"`
	// Reasons name the parts the engine cannot express.
	Reasons []string `json:"reasons,omitempty"`
	// Never is true when the rule matches no CloudTrail record.
	Never bool `json:"never,omitempty"`
}

// pushdownOf compiles a rule for the listed engines.
func pushdownOf(r *rules.Rule) map[string]pushdownInfo {
	out := map[string]pushdownInfo{}
	for _, e := range listEngines {
		p := pushdown.Compile(r, e)
		out[string(e)] = pushdownInfo{Status: p.Status.String(), Reasons: p.Reasons, Never: p.Never}
	}
	return out
}

// pushdownMark is the PUSHDOWN column: one mark per engine of
// listEngines, = exact, ~ coarse, - not pushable, 0 when the rule matches
// no CloudTrail record (plain log lines only).
func pushdownMark(m map[string]pushdownInfo) string {
	if m == nil {
		return "?"
	}
	var b strings.Builder
	for _, e := range listEngines {
		in := m[string(e)]
		switch {
		case in.Never:
			b.WriteByte('0')
		case in.Status == pushdown.Exact.String():
			b.WriteByte('=')
		case in.Status == pushdown.Coarse.String():
			b.WriteByte('~')
		default:
			b.WriteByte('-')
		}
	}
	return b.String()
}

// pushdownLegend explains the PUSHDOWN column below the table.
const pushdownLegend = "PUSHDOWN: Athena, Logs Insights, filter pattern: = exact, ~ coarse (candidates judged here),\n" +
	"  - not pushable, 0 matches no CloudTrail record; `trailhound rules compile --rule ID` shows why"

const rulesCompileExamples = `  # what one rule becomes in Athena SQL, and which parts stay in process
  trailhound rules compile --rule aws-root-account-use

  # the Logs Insights query or the filter pattern of the whole pack
  trailhound rules compile --engine insights
  trailhound rules compile --engine filter-pattern

  # the Athena poll query of the pack a config builds, over the last day
  trailhound rules compile --config trailhound.yaml --table cloudtrail_logs --since 24h
`

// cmdRulesCompile prints what rules compile to for an engine: one rule's
// status, reasons and query, or the pack's query.
func cmdRulesCompile(e *env, args []string) int {
	fs := newFlags(e, "rules compile", "[flags]", rulesCompileExamples)
	cfgPath := fs.String("config", "", "config `file` (default: the embedded demo config)")
	id := fs.String("rule", "", "compile only the rule with this `id` (default: the whole pack)")
	engine := fs.String("engine", string(pushdown.Athena), "`engine`: athena, duckdb, insights or filter-pattern")
	table := fs.String("table", "cloudtrail_logs", "Athena `table` of the trail (database.table)")
	dateCol := fs.String("date-column", "timestamp", "the table's date partition `column` (empty: none)")
	since := fs.Duration("since", time.Hour, "the SQL query's window: this long before now")
	if code := parseFlags(fs, args); code >= 0 {
		return code
	}
	eng, err := pushdown.ParseEngine(*engine)
	if err != nil {
		return fail(e, "--engine: %v", err)
	}
	if *since <= 0 {
		return fail(e, "--since must be a positive duration such as 1h, not %s", *since)
	}
	p, err := packFromFlag(e, *cfgPath)
	if err != nil {
		return fail(e, "%v", err)
	}
	now := time.Now().UTC().Truncate(time.Minute)
	tb := pushdown.Table{Name: *table, DateColumn: *dateCol}
	w := pushdown.Window{Start: now.Add(-*since), End: now}
	sqlEngine := eng == pushdown.Athena || eng == pushdown.DuckDB
	if *id != "" {
		r, ok := p.Rule(*id)
		if !ok {
			return fail(e, "no rule %q in the pack", *id)
		}
		plan := pushdown.Compile(r, eng)
		fmt.Fprintf(e.stdout, "-- rule %s, %s: %s\n", r.ID(), eng, plan.Status)
		for _, why := range plan.Reasons {
			fmt.Fprintf(e.stdout, "-- not pushed down: %s\n", why)
		}
		if plan.Never {
			fmt.Fprintf(e.stdout, "-- the rule matches no CloudTrail record (plain log lines only)\n")
		}
		switch {
		case sqlEngine:
			q, _, err := pushdown.RuleQuery(r, eng, tb, w)
			if err != nil {
				return fail(e, "%v", err)
			}
			fmt.Fprintln(e.stdout, q)
		case eng == pushdown.Insights:
			q, _ := pushdown.InsightsQuery([]*rules.Rule{r}, pushdown.MaxInsightsQuery)
			fmt.Fprintln(e.stdout, q)
		default:
			pat, why := pushdown.PackFilterPattern([]*rules.Rule{r}, pushdown.MaxFilterPattern)
			if pat == "" {
				fmt.Fprintf(e.stdout, "-- no filter pattern: %s\n", why)
			} else {
				fmt.Fprintln(e.stdout, pat)
			}
		}
		return exitOK
	}
	rs := p.Rules()
	var unfiltered []string
	switch {
	case sqlEngine:
		q, err := pushdown.Pack(rs, eng, tb, w)
		if err != nil {
			return fail(e, "%v", err)
		}
		fmt.Fprintf(e.stdout, "-- %d rules, %s\n", len(rs), statusCounts(q.Plans))
		fmt.Fprintln(e.stdout, q.SQL)
		unfiltered = q.Unfiltered
	case eng == pushdown.Insights:
		q, un := pushdown.InsightsQuery(rs, pushdown.MaxInsightsQuery)
		fmt.Fprintln(e.stdout, q)
		unfiltered = un
	default:
		pat, why := pushdown.PackFilterPattern(rs, pushdown.MaxFilterPattern)
		if pat == "" {
			fmt.Fprintf(e.stdout, "-- no filter pattern (every record is read): %s\n", why)
		} else {
			fmt.Fprintln(e.stdout, pat)
		}
	}
	if len(unfiltered) > 0 {
		fmt.Fprintf(e.stderr, "note: the query reads every record: rule(s) %s restrict nothing %s can express\n", strings.Join(unfiltered, ", "), eng)
	}
	return exitOK
}

// statusCounts says how many plans are exact, coarse and not pushable.
func statusCounts(plans []pushdown.Plan) string {
	n := map[pushdown.Status]int{}
	for _, p := range plans {
		n[p.Status]++
	}
	return fmt.Sprintf("%d exact, %d coarse, %d not pushable", n[pushdown.Exact], n[pushdown.Coarse], n[pushdown.NotPushable])
}
