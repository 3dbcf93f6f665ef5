package rules

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// This file measures a pack against labelled cases: one CloudTrail record
// per line, with whether the pack is expected to report it. Attack cases
// (expected true) should raise a finding; benign look-alikes (expected
// false), routine administration that resembles an attack, should not.
// `trailhound rules eval --cases FILE` prints the figures, and
// testdata/labelled/cases.jsonl is the labelled set shipped with the pack.

// LabelledCase is one line of a cases file:
// {"name": "...", "rule": "...", "expected": true, "event": {...}}.
type LabelledCase struct {
	// Name identifies the case in reports; optional.
	Name string `json:"name,omitempty"`
	// Rule is the id of the rule the case was written for; optional, a
	// label for reports only.
	Rule string `json:"rule,omitempty"`
	// Expected says whether the pack should report the event: true for
	// attack activity, false for a benign look-alike.
	Expected bool `json:"expected"`
	// Event is the CloudTrail record.
	Event json.RawMessage `json:"event"`
}

// CaseTally counts the cases of one label.
type CaseTally struct {
	Cases int
	// Fired counts the cases with at least one finding, Serious those with
	// a finding of medium severity or higher.
	Fired   int
	Serious int
}

// FiredShare is the share of cases with any finding, 0 without cases.
func (t CaseTally) FiredShare() float64 { return share(t.Fired, t.Cases) }

// SeriousShare is the share of cases with a finding of medium severity or
// higher, 0 without cases.
func (t CaseTally) SeriousShare() float64 { return share(t.Serious, t.Cases) }

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// CaseOutcome is what the pack did on one judged case.
type CaseOutcome struct {
	// Line is the case's line number in the file, from 1.
	Line     int
	Name     string
	Rule     string
	Expected bool
	// Fired are the ids of the rules that fired, sorted; Severity is the
	// highest severity among their findings.
	Fired    []string
	Severity detectors.Severity
	// Reason is the first finding's reason, empty when nothing fired.
	Reason string
}

// UnjudgedCase is a line that could not be judged: not JSON, no label, or
// an event that does not normalise as a CloudTrail record.
type UnjudgedCase struct {
	Line int
	Name string
	Err  string
}

// CaseReport is the outcome of EvalCases.
type CaseReport struct {
	// Attacks tallies the expected cases, LookAlikes the unexpected ones.
	Attacks    CaseTally
	LookAlikes CaseTally
	// Misses are attack cases without a finding; FalseFirings look-alikes
	// with one. Both are in file order.
	Misses       []CaseOutcome
	FalseFirings []CaseOutcome
	Unjudged     []UnjudgedCase
}

// maxCaseBytes bounds one line of a cases file: a record as large as the
// sources accept, plus the labels around it.
const maxCaseBytes = sources.MaxRecordBytes + 64<<10

// EvalCases runs each case of r (JSON Lines, one LabelledCase a line;
// blank lines are skipped) through a fresh engine, normalising its event
// with sources.Normalize as the sources do, and tallies the outcomes. A
// line that cannot be judged is listed in Unjudged and the run goes on;
// the error is for reading r, building an engine or a cancelled ctx.
func EvalCases(ctx context.Context, r io.Reader, newEngine NewEngine) (CaseReport, error) {
	var rep CaseReport
	br := bufio.NewReaderSize(r, 64<<10)
	for n := 1; ; n++ {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		line, tooLong, err := readCaseLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return rep, fmt.Errorf("cases: line %d: %w", n, err)
		}
		eof := errors.Is(err, io.EOF)
		switch {
		case tooLong:
			rep.Unjudged = append(rep.Unjudged, UnjudgedCase{Line: n, Err: fmt.Sprintf("line longer than %d bytes", maxCaseBytes)})
		case len(bytes.TrimSpace(line)) > 0:
			out, bad, err := judge(ctx, n, line, newEngine)
			if err != nil {
				return rep, err
			}
			if bad != nil {
				rep.Unjudged = append(rep.Unjudged, *bad)
			} else {
				rep.add(out)
			}
		}
		if eof {
			return rep, nil
		}
	}
}

func (rep *CaseReport) add(o CaseOutcome) {
	t := &rep.LookAlikes
	if o.Expected {
		t = &rep.Attacks
	}
	t.Cases++
	fired := len(o.Fired) > 0
	if fired {
		t.Fired++
		if o.Severity >= detectors.Medium {
			t.Serious++
		}
	}
	switch {
	case o.Expected && !fired:
		rep.Misses = append(rep.Misses, o)
	case !o.Expected && fired:
		rep.FalseFirings = append(rep.FalseFirings, o)
	}
}

// judge runs one case. A case that cannot be judged comes back as bad;
// err is for a failure to build the engine or a cancelled ctx.
func judge(ctx context.Context, n int, line []byte, newEngine NewEngine) (CaseOutcome, *UnjudgedCase, error) {
	var c struct {
		Name     string          `json:"name"`
		Rule     string          `json:"rule"`
		Expected *bool           `json:"expected"`
		Event    json.RawMessage `json:"event"`
	}
	if err := json.Unmarshal(line, &c); err != nil {
		return CaseOutcome{}, &UnjudgedCase{Line: n, Err: "not a JSON object: " + err.Error()}, nil
	}
	bad := func(format string, args ...any) (CaseOutcome, *UnjudgedCase, error) {
		return CaseOutcome{}, &UnjudgedCase{Line: n, Name: c.Name, Err: fmt.Sprintf(format, args...)}, nil
	}
	switch {
	case c.Expected == nil:
		return bad(`no "expected": true or false`)
	case len(c.Event) == 0 || string(c.Event) == "null":
		return bad(`no "event"`)
	}
	ev, err := sources.Normalize(c.Event, "cases")
	if err != nil {
		return bad("event: %v", err)
	}
	eng, err := newEngine()
	if err != nil {
		return CaseOutcome{}, nil, err
	}
	out := CaseOutcome{Line: n, Name: c.Name, Rule: c.Rule, Expected: *c.Expected}
	fs, err := eng.Detect(ctx, &ev)
	if err != nil {
		return bad("detect: %v", err)
	}
	seen := map[string]bool{}
	for i, f := range fs {
		if i == 0 || f.Severity > out.Severity {
			out.Severity = f.Severity
		}
		if i == 0 {
			out.Reason = f.Reason
		}
		if !seen[f.RuleID] {
			seen[f.RuleID] = true
			out.Fired = append(out.Fired, f.RuleID)
		}
	}
	sort.Strings(out.Fired)
	return out, nil, nil
}

// FreshEngine returns an engine of the pack's rules with empty threshold
// windows that shares their compiled conditions: a cheap NewEngine for
// evaluating many cases one at a time. The pack's own windows are left
// alone.
func (p *Pack) FreshEngine() *detectors.Engine {
	ds := make([]detectors.Detector, len(p.rules))
	for i, r := range p.rules {
		if r.th == nil {
			ds[i] = r
			continue
		}
		c := *r
		c.th = newThresholdState(&c, &r.th.spec)
		ds[i] = &c
	}
	return detectors.NewEngine(ds...)
}

// readCaseLine reads one line without its newline. A line longer than
// maxCaseBytes is consumed and reported as tooLong. At the end of the
// input err is io.EOF, with the last line (if not newline-terminated) in
// line.
func readCaseLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxCaseBytes+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return line, tooLong, err
		}
		return bytes.TrimSuffix(line, []byte("\n")), tooLong, nil
	}
}

// InlineCases turns the pack's single-event inline tests into labelled
// cases, in rule id order: a test that must fire is an attack case, one
// that must stay silent a look-alike, each named "<rule>/<test name>"
// (or "<rule>/test N") and labelled with its rule. A must-not-fire test
// whose event the rule's own conditions match, silenced only because a
// superseding rule reports it, is an attack case labelled with that rule:
// the pack as a whole should report it. Tests of several events or of log
// lines are left out, as are rules turned off in the pack. Events get
// eventTime 2024-01-01T00:00:00Z and an eventID when they lack them.
func (p *Pack) InlineCases() ([]LabelledCase, error) {
	var out []LabelledCase
	for _, r := range p.Sorted() {
		for i, tc := range r.def.Tests {
			if len(tc.Events) != 1 || len(tc.Lines) > 0 {
				continue
			}
			name := tc.Name
			if name == "" {
				name = fmt.Sprintf("test %d", i+1)
			}
			raw, err := completeRecord(tc.Events[0], fmt.Sprintf("labelled-%s-%d", r.def.ID, i+1))
			if err != nil {
				return nil, fmt.Errorf("rule %s: test %q: %w", r.def.ID, name, err)
			}
			ev, err := sources.Normalize(raw, "test")
			if err != nil {
				return nil, fmt.Errorf("rule %s: test %q: %w", r.def.ID, name, err)
			}
			c := LabelledCase{Name: r.def.ID + "/" + name, Rule: r.def.ID, Expected: tc.Match, Event: raw}
			if !tc.Match && r.Matches(&ev) {
				for _, s := range r.superseded {
					if s.Matches(&ev) {
						c.Expected, c.Rule = true, s.def.ID
						break
					}
				}
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// completeRecord adds eventTime and eventID to a test record that lacks
// them, so it normalises on its own.
func completeRecord(raw json.RawMessage, id string) (json.RawMessage, error) {
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if _, ok := m["eventTime"]; !ok {
		m["eventTime"] = testEpoch.Format(time.RFC3339)
	}
	if _, ok := m["eventID"]; !ok {
		m["eventID"] = id
	}
	return json.Marshal(m)
}
