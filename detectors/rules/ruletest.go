package rules

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// Case is an inline test of a rule: events (CloudTrail records) or plain
// log lines, and whether the rule must fire on them.
type Case struct {
	Name string
	// Match says whether the rule must produce at least one finding.
	Match bool
	// Events are CloudTrail records as JSON. eventTime and eventID may be
	// left out: they default to one second apart from 2024-01-01 and to
	// distinct test ids.
	Events []json.RawMessage
	// Lines are plain log lines (ALB, API Gateway, WAF, application logs),
	// tested as Event.Message.
	Lines []string
	Line  int
}

// CaseResult is the outcome of one inline test.
type CaseResult struct {
	Rule string
	Name string
	File string
	Line int
	Want bool
	Got  bool
	// Findings are what the rule produced.
	Findings []detectors.Finding
	// Err is set when the test could not run.
	Err error
}

// Passed reports whether the rule behaved as the test expects.
func (c CaseResult) Passed() bool { return c.Err == nil && c.Want == c.Got }

var testEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// events turns the case into events.
func (c Case) events(rule string) ([]sources.Event, error) {
	var out []sources.Event
	for i, raw := range c.Events {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("event %d: %v", i+1, err)
		}
		if _, ok := m["eventTime"]; !ok {
			m["eventTime"] = testEpoch.Add(time.Duration(i) * time.Second).Format(time.RFC3339)
		}
		if _, ok := m["eventID"]; !ok {
			m["eventID"] = fmt.Sprintf("test-%s-%d-%d", rule, c.Line, i)
		}
		b, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("event %d: %v", i+1, err)
		}
		ev, err := sources.Normalize(b, "test")
		if err != nil {
			return nil, fmt.Errorf("event %d: %v", i+1, err)
		}
		out = append(out, ev)
	}
	for i, l := range c.Lines {
		out = append(out, sources.Event{
			Time:     testEpoch.Add(time.Duration(i) * time.Second),
			ID:       fmt.Sprintf("test-%s-%d-%d", rule, c.Line, i),
			Source:   "test",
			LogGroup: "test",
			Message:  l,
		})
	}
	return out, nil
}

// check validates the case when the rule is compiled.
func (c Case) check(r *Rule) error {
	_, err := c.events(r.def.ID)
	return err
}

// RunTests runs the rule's inline tests. Threshold rules count in a fresh
// window per test, leaving the rule's own state alone.
func (r *Rule) RunTests() []CaseResult {
	var out []CaseResult
	for _, c := range r.def.Tests {
		res := CaseResult{Rule: r.def.ID, Name: c.Name, File: r.def.File, Line: c.Line, Want: c.Match}
		if res.Name == "" {
			res.Name = fmt.Sprintf("line %d", c.Line)
		}
		evs, err := c.events(r.def.ID)
		if err != nil {
			res.Err = err
			out = append(out, res)
			continue
		}
		var th *thresholdState
		if r.th != nil {
			th = newThresholdState(r, &r.th.spec)
		}
		for i := range evs {
			res.Findings = append(res.Findings, r.detectWith(&evs[i], th)...)
		}
		res.Got = len(res.Findings) > 0
		out = append(out, res)
	}
	return out
}

// detectWith is Detect with the given threshold state.
func (r *Rule) detectWith(ev *sources.Event, th *thresholdState) []detectors.Finding {
	if !r.Matches(ev) {
		return nil
	}
	for _, s := range r.superseded {
		if s.Matches(ev) {
			return nil
		}
	}
	if th != nil {
		return th.observe(ev)
	}
	return []detectors.Finding{r.finding(ev, nil)}
}
