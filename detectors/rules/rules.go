// Package rules is Trailhound's rule language: rules are data (YAML, or
// Sigma translated by detectors/sigma), compiled once into matchers over
// sources.Event fields. A stateless rule finds single events; a threshold
// rule finds N matching events per key within a sliding window, with its
// windows kept in bbolt. The built-in pack is embedded in the binary;
// users add rules from directories and override or disable them by id.
package rules

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// Definition is a rule before compilation, as read from a YAML file or
// translated from Sigma.
type Definition struct {
	ID          string
	Title       string
	Severity    detectors.Severity
	Technique   string
	Description string
	// Recommendation says how to respond or remediate.
	Recommendation string
	// Reason is a one-sentence template saying why the rule fired, with
	// {field} placeholders (see Template).
	Reason string
	Tags   []string
	// GroupBy lists the fields whose values, with the rule id, form the
	// alert group key. Empty means account and principal.
	GroupBy []string
	// Match selects the events the rule fires on.
	Match Expr
	// SeverityIf raises or lowers the severity when a condition holds; the
	// first that holds wins.
	SeverityIf []SeverityIf
	// SupersededBy names rules that, when they match the same event, make
	// this one stay silent: a specific rule wins over a general one.
	SupersededBy []string
	// Threshold, when set, makes the rule fire only on Count matching
	// events per key within Window.
	Threshold *Threshold
	// Tests are inline examples the rule must (not) match.
	Tests []Case
	// Off ships the rule turned off ("enabled: false"): it runs only when
	// listed in Options.Enable.
	Off bool
	// Coverage, when set, names the eventSources whose calls the rule
	// watches, for a rule whose match names none (["*"]: every service).
	// It feeds COVERAGE.md only; matching ignores it.
	Coverage []string

	// Origin is "builtin", a file path, or "sigma"; File and Line locate
	// the definition.
	Origin string
	File   string
	Line   int
}

// SeverityIf sets the severity when a condition holds.
type SeverityIf struct {
	When     Expr
	Severity detectors.Severity
}

// Threshold is the stateful part of a threshold rule.
type Threshold struct {
	// Count is how many matching events (or distinct values of Distinct)
	// within Window make a finding.
	Count  int
	Window time.Duration
	// GroupBy lists the fields whose values key the window, for example
	// [account, source_ip].
	GroupBy []string
	// Distinct, when set, counts the distinct values of these fields
	// instead of events.
	Distinct []string
}

// Error is a problem with a rule definition, located in its file.
type Error struct {
	File string
	Line int
	// Rule is the rule id, when known.
	Rule string
	// Key is the dotted path of the offending key within the rule, for
	// example match.any[1].requestParameters.bucketName.
	Key string
	Msg string
}

// Error formats the problem as file:line: rule ID: key: message.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Rule != "" {
		fmt.Fprintf(&b, ": rule %s", e.Rule)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": %s", e.Key)
	}
	fmt.Fprintf(&b, ": %s", e.Msg)
	return b.String()
}

// Rule is a compiled rule; it is a detectors.Detector, and a
// detectors.Stateful when it has a threshold.
type Rule struct {
	def        Definition
	match      cond
	pre        *prefilter
	reason     *Template
	groupBy    []*accessor
	severityIf []compiledSeverity
	superseded []*Rule
	th         *thresholdState
}

type compiledSeverity struct {
	when     cond
	severity detectors.Severity
}

var (
	idRe        = regexp.MustCompile(`^[a-z0-9][a-z0-9._/-]*$`)
	techniqueRe = regexp.MustCompile(`^T[0-9]{4}(\.[0-9]{3})?$`)
)

// Compile checks and compiles a definition. Threshold state starts empty;
// Pack.Detectors loads it.
func Compile(d Definition) (*Rule, error) {
	loc := &location{file: d.File, rule: d.ID}
	switch {
	case d.ID == "":
		return nil, loc.errorf("id", d.Line, "is required")
	case !idRe.MatchString(d.ID):
		return nil, loc.errorf("id", d.Line, "%q is not a valid id (lower-case letters, digits, and . _ / -)", d.ID)
	case strings.TrimSpace(d.Title) == "":
		return nil, loc.errorf("title", d.Line, "is required")
	case d.Severity < detectors.Info || d.Severity > detectors.Critical:
		return nil, loc.errorf("severity", d.Line, "out of range")
	case d.Technique != "" && !techniqueRe.MatchString(d.Technique):
		return nil, loc.errorf("technique", d.Line, "%q is not a MITRE ATT&CK technique id like T1078 or T1562.008", d.Technique)
	case strings.TrimSpace(d.Description) == "":
		return nil, loc.errorf("description", d.Line, "is required")
	case strings.TrimSpace(d.Recommendation) == "":
		return nil, loc.errorf("recommendation", d.Line, "is required")
	}
	r := &Rule{def: d}
	c, err := compile(d.Match, loc)
	if err != nil {
		return nil, err
	}
	r.match = c
	r.pre = newPrefilter(c)
	reason := d.Reason
	if reason == "" {
		reason = "{principal.name} called {action} from {source_ip}"
	}
	if r.reason, err = ParseTemplate(reason); err != nil {
		return nil, loc.errorf("reason", d.Line, "%v", err)
	}
	for _, f := range d.GroupBy {
		if f == "" {
			return nil, loc.errorf("group_by", d.Line, "empty field name")
		}
		r.groupBy = append(r.groupBy, newAccessor(f))
	}
	for i, s := range d.SeverityIf {
		c, err := compile(s.When, loc)
		if err != nil {
			return nil, err
		}
		if s.Severity < detectors.Info || s.Severity > detectors.Critical {
			return nil, loc.errorf(fmt.Sprintf("severity_if[%d].severity", i), s.When.Line, "out of range")
		}
		r.severityIf = append(r.severityIf, compiledSeverity{when: c, severity: s.Severity})
	}
	if t := d.Threshold; t != nil {
		switch {
		case t.Count < 1:
			return nil, loc.errorf("threshold.count", d.Line, "must be at least 1")
		case t.Window <= 0:
			return nil, loc.errorf("threshold.window", d.Line, "must be a positive duration such as 10m")
		}
		r.th = newThresholdState(r, t)
	}
	for i, tc := range d.Tests {
		if err := tc.check(r); err != nil {
			return nil, loc.errorf(fmt.Sprintf("tests[%d]", i), tc.Line, "%v", err)
		}
	}
	return r, nil
}

// ID implements detectors.Detector.
func (r *Rule) ID() string { return r.def.ID }

// Definition returns what the rule was compiled from.
func (r *Rule) Definition() Definition { return r.def }

// Stateful reports whether the rule keeps state (a threshold rule).
func (r *Rule) Stateful() bool { return r.th != nil }

// Matches reports whether the event satisfies the rule's conditions,
// ignoring its threshold and the rules superseding it.
func (r *Rule) Matches(ev *sources.Event) bool {
	if r.pre != nil && !r.pre.has(ev.Action) {
		return false
	}
	return r.match.eval(ev)
}

// Actions implements detectors.ActionScoped: the event names the rule can
// fire on, or nil when it may fire on any (or compares names without
// case).
func (r *Rule) Actions() []string {
	if r.pre == nil || r.pre.fold {
		return nil
	}
	if len(r.pre.names) == 0 {
		return []string{}
	}
	return r.pre.names
}

// Detect implements detectors.Detector. An event that does not match
// returns without allocating.
func (r *Rule) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return r.detectWith(ev, r.th), nil
}

// finding builds the finding for ev; tv carries threshold values for the
// reason template.
func (r *Rule) finding(ev *sources.Event, tv *thresholdValues) detectors.Finding {
	f := detectors.FromEvent(r.def.ID, ev)
	f.Title = r.def.Title
	f.Severity = r.def.Severity
	for _, s := range r.severityIf {
		if s.when.eval(ev) {
			f.Severity = s.severity
			break
		}
	}
	f.Technique = r.def.Technique
	f.Description = r.def.Description
	f.Recommendation = r.def.Recommendation
	f.Reason = r.reason.Render(ev, tv)
	if len(r.def.Tags) > 0 {
		f.Tags = append([]string(nil), r.def.Tags...)
	}
	if len(r.groupBy) > 0 {
		f.GroupKey = detectors.Fingerprint(r.keyParts(ev, r.groupBy)...)
	}
	return f
}

// keyParts returns the rule id followed by the first value of each field.
func (r *Rule) keyParts(ev *sources.Event, fields []*accessor) []string {
	parts := make([]string, 0, len(fields)+1)
	parts = append(parts, r.def.ID)
	for _, a := range fields {
		v, _ := a.first(ev)
		parts = append(parts, v)
	}
	return parts
}
