package main

import (
	"context"
	"strings"

	"github.com/trailhound/trailhound/configs"
	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/rules"
	"github.com/trailhound/trailhound/detectors/rules/pushdown"
	"github.com/trailhound/trailhound/sources"
	"github.com/trailhound/trailhound/sources/athena"
)

// newAthenaSources builds the Athena source of the entry, its queries
// narrowed to what the enabled detectors may fire on. The counting
// detectors (the anomaly suite) are fed by one aggregate query per poll
// instead, so they do not force every row of the window.
func newAthenaSources(a *app, sc configs.SourceConfig) ([]sources.Source, error) {
	if err := awsOptions(a, sc); err != nil {
		return nil, err
	}
	var opts athena.Options
	if err := sc.Options.Decode(&opts); err != nil {
		return nil, err
	}
	srcs, err := athena.Build(context.Background(), sc.Name, opts, sc.Options)
	if err != nil {
		return nil, err
	}
	if a.engine != nil {
		ds, counting := notCounting(a.engine.Detectors())
		cond := pushedCondition(ds)
		for _, s := range srcs {
			s.(*athena.Source).SetCondition(cond)
			s.(*athena.Source).SetCounting(counting)
		}
		if counting && a.log != nil {
			a.log.Info("athena source feeds the anomaly detectors from one aggregate query per poll", "source", sc.Name)
		}
		if cond == "" && a.log != nil {
			a.log.Info("athena source reads every event of each window: a detector needs them all (disable it to push the rules down)",
				"source", sc.Name, "detector", everyEventDetector(ds))
		}
	}
	return srcs, nil
}

// notCounting returns the detectors of ds that judge events one by one,
// leaving out the detectors.Counter ones, and whether there were any:
// those are fed from aggregate queries, and need no row of their own.
func notCounting(ds []detectors.Detector) ([]detectors.Detector, bool) {
	var out []detectors.Detector
	for _, d := range ds {
		if _, ok := d.(detectors.Counter); !ok {
			out = append(out, d)
		}
	}
	return out, len(out) < len(ds)
}

// everyEventDetector names the first detector that may fire on any event,
// so a query cannot narrow the rows for it; empty when there is none.
func everyEventDetector(ds []detectors.Detector) string {
	for _, d := range ds {
		if r, ok := d.(*rules.Rule); ok {
			if p := pushdown.Compile(r, pushdown.Athena); p.Status == pushdown.NotPushable && !p.Never {
				return d.ID()
			}
			continue
		}
		if s, ok := d.(detectors.ActionScoped); !ok || s.Actions() == nil {
			return d.ID()
		}
	}
	return ""
}

// pushedCondition is the Athena SQL condition that holds on every event
// any of ds may fire on, for a query to fetch no more rows than they
// need: the rules' pack condition from detectors/rules/pushdown (the OR
// of their conditions, coarser where a rule has parts Athena cannot
// express, and coarser still until it fits Athena's query limit), or'ed
// with the event names of other detectors scoped to names. It is empty,
// reading every event, when one detector may fire on any event: a rule
// that restricts nothing, or a detector that needs every event (the
// anomaly detectors). "FALSE" when none may fire at all.
func pushedCondition(ds []detectors.Detector) string {
	var rs []*rules.Rule
	var names []string
	for _, d := range ds {
		if r, ok := d.(*rules.Rule); ok {
			rs = append(rs, r)
			continue
		}
		s, ok := d.(detectors.ActionScoped)
		if !ok || s.Actions() == nil {
			return ""
		}
		names = append(names, s.Actions()...)
	}
	var ors []string
	if len(names) > 0 {
		ors = append(ors, athena.EventNameCondition(dedup(names)))
	}
	if len(rs) > 0 {
		budget := pushdown.MaxCondition - len(strings.Join(ors, "")) - 16
		cond, _, _ := pushdown.PackCondition(rs, pushdown.Athena, budget)
		switch cond {
		case "":
			return ""
		case "FALSE":
		default:
			ors = append(ors, "("+cond+")")
		}
	}
	if len(ors) == 0 {
		return "FALSE"
	}
	return strings.Join(ors, "\n    OR ")
}

func dedup(ss []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
