package rules

import (
	"bytes"
	_ "embed"
	"fmt"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// This file maps rules onto the coverage table of COVERAGE.md: rows are
// AWS services (coverage.yaml), columns are ATT&CK cloud tactics. A rule's
// columns come from its tags, its rows from the eventSource and event name
// values of its match (or its coverage key). The table itself is written
// by TestCoverageDoc.

// Tactic is a column of the coverage table.
type Tactic struct {
	// Key names the column in coverage.yaml.
	Key   string
	Title string
	// Tags are the rule tags that put a rule in this column.
	Tags []string
}

// Tactics are the columns of the coverage table, in ATT&CK order. Rule tags
// outside these (execution, cis-aws-*, ...) place a rule in no column.
var Tactics = []Tactic{
	{Key: "initial-access", Title: "Initial access", Tags: []string{"initial-access"}},
	{Key: "persistence", Title: "Persistence", Tags: []string{"persistence"}},
	{Key: "privilege-escalation", Title: "Privilege escalation", Tags: []string{"privilege-escalation"}},
	{Key: "defense-evasion", Title: "Defense evasion", Tags: []string{"defense-evasion"}},
	{Key: "credential-access", Title: "Credential access", Tags: []string{"credential-access"}},
	{Key: "discovery", Title: "Discovery", Tags: []string{"discovery"}},
	{Key: "lateral-movement", Title: "Lateral movement", Tags: []string{"lateral-movement"}},
	{Key: "collection-exfiltration", Title: "Collection & exfiltration", Tags: []string{"collection", "exfiltration"}},
	{Key: "impact", Title: "Impact", Tags: []string{"impact"}},
}

// CoverageRow is a row of the coverage table: an AWS service and the
// eventSources of its control-plane calls.
type CoverageRow struct {
	Name string `yaml:"name"`
	// Scope says in a few words what the row includes, when the name alone
	// does not.
	Scope string `yaml:"scope"`
	// Sources are the eventSources whose calls belong to this row, except
	// the event names another row takes with Events.
	Sources []string `yaml:"sources"`
	// Events takes, from an eventSource listed by another row, the event
	// names matching these globs (EBS snapshots and volumes out of EC2).
	Events map[string][]string `yaml:"events"`
	// NotApplicable gives, per tactic key, the one-line reason the tactic
	// does not apply to this service.
	NotApplicable map[string]string `yaml:"not_applicable"`
}

//go:embed coverage.yaml
var coverageYAML []byte

var coverageOnce struct {
	sync.Once
	rows  []CoverageRow
	known map[string]bool
	err   error
}

// CoverageRows returns the rows of the coverage table from coverage.yaml,
// embedded in the binary.
func CoverageRows() ([]CoverageRow, error) {
	coverageOnce.Do(func() {
		coverageOnce.rows, coverageOnce.err = ParseCoverageRows(coverageYAML)
		coverageOnce.known = map[string]bool{}
		for _, r := range coverageOnce.rows {
			for _, s := range r.Sources {
				coverageOnce.known[s] = true
			}
		}
	})
	return coverageOnce.rows, coverageOnce.err
}

// KnownEventSource reports whether a row of coverage.yaml lists the
// eventSource.
func KnownEventSource(s string) bool {
	if _, err := CoverageRows(); err != nil {
		return false
	}
	return coverageOnce.known[s]
}

// ParseCoverageRows reads and checks a coverage.yaml document: unique row
// names, every eventSource in one row, Events only on sources another row
// lists, reasons only for known tactics, each one non-empty line.
func ParseCoverageRows(data []byte) ([]CoverageRow, error) {
	var doc struct {
		Rows []CoverageRow `yaml:"rows"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("coverage.yaml: %w", err)
	}
	tactics := map[string]bool{}
	for _, t := range Tactics {
		tactics[t.Key] = true
	}
	names := map[string]bool{}
	owner := map[string]string{}
	for _, r := range doc.Rows {
		switch {
		case strings.TrimSpace(r.Name) == "":
			return nil, fmt.Errorf("coverage.yaml: a row has no name")
		case names[r.Name]:
			return nil, fmt.Errorf("coverage.yaml: row %q: listed twice", r.Name)
		case len(r.Sources) == 0 && len(r.Events) == 0:
			return nil, fmt.Errorf("coverage.yaml: row %q: no sources", r.Name)
		}
		names[r.Name] = true
		for _, s := range r.Sources {
			if prev, ok := owner[s]; ok {
				return nil, fmt.Errorf("coverage.yaml: row %q: %s is already in row %q", r.Name, s, prev)
			}
			owner[s] = r.Name
		}
		for k, reason := range r.NotApplicable {
			switch {
			case !tactics[k]:
				return nil, fmt.Errorf("coverage.yaml: row %q: not_applicable.%s: unknown tactic (want one of %s)", r.Name, k, strings.Join(tacticKeys(), ", "))
			case strings.TrimSpace(reason) == "" || strings.Contains(strings.TrimSpace(reason), "\n"):
				return nil, fmt.Errorf("coverage.yaml: row %q: not_applicable.%s: the reason must be one non-empty line", r.Name, k)
			}
		}
	}
	for _, r := range doc.Rows {
		for s, globs := range r.Events {
			switch o, ok := owner[s]; {
			case !ok:
				return nil, fmt.Errorf("coverage.yaml: row %q: events of %s: no row lists that source", r.Name, s)
			case o == r.Name:
				return nil, fmt.Errorf("coverage.yaml: row %q: events of %s: the row lists that source already", r.Name, s)
			case len(globs) == 0:
				return nil, fmt.Errorf("coverage.yaml: row %q: events of %s: no event names", r.Name, s)
			}
		}
	}
	return doc.Rows, nil
}

func tacticKeys() []string {
	out := make([]string, len(Tactics))
	for i, t := range Tactics {
		out[i] = t.Key
	}
	return out
}

// RuleCoverage is where a rule lands in the coverage table.
type RuleCoverage struct {
	Rule string
	// Tactics are the keys of the columns its tags name.
	Tactics []string
	// Rows are the names of the rows its eventSources (and event names)
	// fall in, in table order.
	Rows []string
	// CrossService is set for a rule not tied to named services: its
	// coverage key is ["*"] (it then counts in every row), or part of its
	// match names no eventSource and it has no coverage key (it then
	// counts in none).
	CrossService bool
	// Unlisted are eventSources the rule names that no row lists.
	Unlisted []string
}

// CoverageOf places a rule in the table. Its eventSources are the
// equality values of the fields service and eventSource in its match
// (through all and any; values under not are ignored), each paired with
// the event names (action, eventName) required beside it; its coverage
// key, when set, replaces the eventSources. An event name with a wildcard
// counts for every row sharing the eventSource.
func CoverageOf(d Definition, rows []CoverageRow) RuleCoverage {
	rc := RuleCoverage{Rule: d.ID}
	for _, t := range Tactics {
		for _, tag := range t.Tags {
			if hasString(d.Tags, tag) {
				rc.Tactics = append(rc.Tactics, t.Key)
				break
			}
		}
	}
	scs := scopesOf(d.Match)
	declared := false
	if len(d.Coverage) > 0 {
		var actions valueSet
		for i, s := range scs {
			if i == 0 {
				actions = s.actions
			} else {
				actions = actions.union(s.actions)
			}
		}
		if len(d.Coverage) == 1 && d.Coverage[0] == "*" {
			// The rule watches every service's calls (a burst of
			// enumeration across services): it counts in every row.
			rc.CrossService = true
			for _, r := range rows {
				rc.Rows = append(rc.Rows, r.Name)
			}
			return rc
		}
		scs = []scope{{services: valueSet{set: d.Coverage, on: true}, actions: actions}}
		declared = true
	}
	inRow := map[string]bool{}
	unlisted := map[string]bool{}
	for _, s := range scs {
		if !s.services.on {
			rc.CrossService = true
			continue
		}
		for _, src := range expandSources(s.services.set, rows, unlisted) {
			if declared && !s.actions.on {
				// A declared eventSource without event names is the
				// row that lists it, not the rows sharing it.
				for _, r := range rows {
					if hasString(r.Sources, src) {
						inRow[r.Name] = true
					}
				}
				continue
			}
			for _, name := range rowsFor(src, s.actions, rows) {
				inRow[name] = true
			}
		}
	}
	for _, r := range rows {
		if inRow[r.Name] {
			rc.Rows = append(rc.Rows, r.Name)
		}
	}
	for s := range unlisted {
		rc.Unlisted = append(rc.Unlisted, s)
	}
	sort.Strings(rc.Unlisted)
	return rc
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// expandSources resolves eventSource values, some of them patterns, to the
// sources the rows list; literal values no row lists go to unlisted.
func expandSources(vals []string, rows []CoverageRow, unlisted map[string]bool) []string {
	var out []string
	for _, v := range vals {
		if !hasWildcard(v) {
			v = unescape(v)
			if !listed(v, rows) {
				unlisted[v] = true
				continue
			}
			out = append(out, v)
			continue
		}
		g := compileGlob(v)
		for _, r := range rows {
			for _, s := range r.Sources {
				if globMatch(g, s, true) {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func listed(src string, rows []CoverageRow) bool {
	for _, r := range rows {
		if hasString(r.Sources, src) {
			return true
		}
	}
	return false
}

// rowsFor returns the rows a call to src with one of actions falls in:
// the rows whose Events globs take the event name, else the row listing
// src. Unconstrained or wildcard event names count for all of them.
func rowsFor(src string, actions valueSet, rows []CoverageRow) []string {
	var ownerRow string
	type claim struct {
		row   string
		globs [][]gtok
	}
	var claims []claim
	for _, r := range rows {
		if hasString(r.Sources, src) {
			ownerRow = r.Name
		}
		if gs, ok := r.Events[src]; ok {
			c := claim{row: r.Name}
			for _, g := range gs {
				c.globs = append(c.globs, compileGlob(g))
			}
			claims = append(claims, c)
		}
	}
	all := func() []string {
		out := []string{ownerRow}
		for _, c := range claims {
			out = append(out, c.row)
		}
		return out
	}
	if !actions.on {
		return all()
	}
	var out []string
	for _, a := range actions.set {
		if hasWildcard(a) {
			return all()
		}
		a = unescape(a)
		row := ownerRow
	claims:
		for _, c := range claims {
			for _, g := range c.globs {
				if globMatch(g, a, false) {
					row = c.row
					break claims
				}
			}
		}
		out = append(out, row)
	}
	return out
}

// valueSet is the equality values a field is held to; on is false when
// the field is unconstrained.
type valueSet struct {
	set []string
	on  bool
}

// meet is the values both sets allow; a pattern in one keeps the literal
// values of the other it matches.
func (a valueSet) meet(b valueSet) valueSet {
	switch {
	case !a.on:
		return b
	case !b.on:
		return a
	}
	out := valueSet{on: true}
	add := func(v string) {
		if !hasString(out.set, v) {
			out.set = append(out.set, v)
		}
	}
	for _, x := range a.set {
		for _, y := range b.set {
			switch xw, yw := hasWildcard(x), hasWildcard(y); {
			case x == y:
				add(x)
			case xw && !yw && globMatch(compileGlob(x), unescape(y), false):
				add(y)
			case yw && !xw && globMatch(compileGlob(y), unescape(x), false):
				add(x)
			case xw && yw:
				add(x) // two patterns may overlap: keep the first
			}
		}
	}
	return out
}

func (a valueSet) union(b valueSet) valueSet {
	if !a.on || !b.on {
		return valueSet{}
	}
	out := valueSet{set: append([]string(nil), a.set...), on: true}
	for _, v := range b.set {
		if !hasString(out.set, v) {
			out.set = append(out.set, v)
		}
	}
	return out
}

// scope is one way an event can satisfy a match: the eventSources and
// event names it then has.
type scope struct {
	services, actions valueSet
}

func (s scope) empty() bool {
	return s.services.on && len(s.services.set) == 0 || s.actions.on && len(s.actions.set) == 0
}

// maxScopes bounds the alternatives followed through a match; past it,
// they are merged into one.
const maxScopes = 256

// scopesOf lists the alternatives of a match expression.
func scopesOf(e Expr) []scope {
	switch e.Op {
	case "field":
		vals, ok := eqValues(e)
		switch {
		case !ok:
		case e.Field == "service" || e.Field == "eventSource":
			for i, v := range vals {
				vals[i] = strings.ToLower(v)
			}
			return []scope{{services: valueSet{set: vals, on: true}}}
		case e.Field == "action" || e.Field == "eventName":
			return []scope{{actions: valueSet{set: vals, on: true}}}
		}
		return []scope{{}}
	case "any":
		var out []scope
		for _, a := range e.Args {
			out = append(out, scopesOf(a)...)
		}
		return merge(out)
	case "all":
		acc := []scope{{}}
		for _, a := range e.Args {
			var next []scope
			for _, x := range acc {
				for _, y := range scopesOf(a) {
					s := scope{services: x.services.meet(y.services), actions: x.actions.meet(y.actions)}
					if !s.empty() {
						next = append(next, s)
					}
				}
			}
			acc = merge(next)
		}
		return acc
	}
	// not, and anything else: no constraint that can be read.
	return []scope{{}}
}

// merge folds too many alternatives into one.
func merge(scs []scope) []scope {
	if len(scs) <= maxScopes {
		return scs
	}
	m := scs[0]
	for _, s := range scs[1:] {
		m = scope{services: m.services.union(s.services), actions: m.actions.union(s.actions)}
	}
	return []scope{m}
}

// eqValues returns the values an equality (eq or glob) test of a field
// requires; ok is false when the field has none.
func eqValues(e Expr) (vals []string, ok bool) {
	if e.Exists != nil {
		return nil, false
	}
	for _, t := range e.Tests {
		if (t.Op == "eq" || t.Op == "glob") && !t.Negate {
			return append([]string(nil), t.Values...), true
		}
	}
	return nil, false
}
