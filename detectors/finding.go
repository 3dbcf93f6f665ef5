// Package detectors turns events into findings: stateless rules on single
// events and stateful detectors (thresholds, baselines, anomalies) whose
// state lives in bbolt.
package detectors

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/sources"
)

// Severity ranks findings. The zero value is Info.
type Severity int

// Severities from least to most urgent.
const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = []string{"info", "low", "medium", "high", "critical"}

// String returns the lower-case name.
func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name, case-insensitively.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return Info, fmt.Errorf("unknown severity %q (want one of %s)", s, strings.Join(severityNames, ", "))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MaxEvidence is how many raw events a finding keeps as evidence.
const MaxEvidence = 5

// Finding is one thing a detector found worth a responder's attention.
type Finding struct {
	// Fingerprint identifies the finding: reading the same events again
	// yields the same fingerprint, so it is never stored twice.
	Fingerprint string `json:"fingerprint"`
	// GroupKey is shared by similar findings (same rule and key), which the
	// workflow folds into one alert with a count.
	GroupKey string `json:"group_key"`

	RuleID         string   `json:"rule_id"`
	Title          string   `json:"title"`
	Severity       Severity `json:"severity"`
	Technique      string   `json:"technique,omitempty"`
	Description    string   `json:"description,omitempty"`
	Recommendation string   `json:"recommendation,omitempty"`
	// Reason says in one sentence why it fired, for example "7 failed
	// sign-ins from 203.0.113.9 within 10m (threshold 5)".
	Reason string   `json:"reason,omitempty"`
	Tags   []string `json:"tags,omitempty"`

	// Time is the time of the (last) event that triggered the finding.
	Time      time.Time         `json:"time"`
	Source    string            `json:"source,omitempty"`
	Account   string            `json:"account,omitempty"`
	Region    string            `json:"region,omitempty"`
	Principal sources.Principal `json:"principal"`
	Service   string            `json:"service,omitempty"`
	Action    string            `json:"action,omitempty"`
	SourceIP  string            `json:"source_ip,omitempty"`
	UserAgent string            `json:"user_agent,omitempty"`
	ErrorCode string            `json:"error_code,omitempty"`
	// EventIDs are the IDs of the events behind the finding.
	EventIDs []string `json:"event_ids,omitempty"`
	// EventCount is how many events are behind the finding; it may exceed
	// len(EventIDs), which is capped.
	EventCount int `json:"event_count"`
	// Evidence holds up to MaxEvidence raw events.
	Evidence []json.RawMessage `json:"evidence,omitempty"`
	// External is set on a finding made by an AWS security service
	// (GuardDuty, Security Hub, Inspector, Macie, Access Analyzer) and
	// names it there, so that updates of it and responders' decisions
	// about it can be matched back. Nil for Trailhound's own findings.
	External *External `json:"external,omitempty"`
}

// External identifies a finding made by an AWS security service.
type External struct {
	// Product is the service that made the finding, lower case:
	// "guardduty", "securityhub", "inspector", "macie" or "access-analyzer".
	Product string `json:"product"`
	// ID is the finding's own id: the ASFF Id (often an ARN) or the
	// GuardDuty finding id. It is the deduplication key.
	ID string `json:"id"`
	// ProductArn is the ASFF ProductArn, which BatchUpdateFindings needs
	// with the id; empty for findings that never passed Security Hub.
	ProductArn string `json:"product_arn,omitempty"`
	// DetectorID is the GuardDuty detector id, for ArchiveFindings.
	DetectorID string `json:"detector_id,omitempty"`
	// Account and Region are the finding's home, where a write-back goes.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// Type is the finding type (GuardDuty type or the first ASFF type).
	Type string `json:"type,omitempty"`
	// UpdatedAt is the provider's last update of the finding.
	UpdatedAt time.Time `json:"updated_at,omitempty"`
	// Workflow is the workflow status as received (NEW, NOTIFIED,
	// RESOLVED, SUPPRESSED), empty when the product has none.
	Workflow string `json:"workflow,omitempty"`
	// ConsoleURL opens the finding in the AWS console.
	ConsoleURL string `json:"console_url,omitempty"`
	// ContentHash digests the provider-owned content of the finding
	// (severity, types, resources, counts, description), leaving out the
	// fields customers set (workflow, note, user-defined fields). An
	// update with an unchanged ContentHash is an echo of a customer's
	// own change and is not new activity.
	ContentHash string `json:"content_hash,omitempty"`
}

// FromEvent fills a finding's who/what/where fields and evidence from the
// event that triggered it. The fingerprint is rule + event ID and the group
// key is rule + account + principal ARN; detectors change either as needed.
func FromEvent(ruleID string, ev *sources.Event) Finding {
	f := Finding{
		RuleID:     ruleID,
		Time:       ev.Time,
		Source:     ev.Source,
		Account:    ev.Account,
		Region:     ev.Region,
		Principal:  ev.Principal,
		Service:    ev.Service,
		Action:     ev.Action,
		SourceIP:   ev.SourceIP,
		UserAgent:  ev.UserAgent,
		ErrorCode:  ev.ErrorCode,
		EventIDs:   []string{ev.ID},
		EventCount: 1,
	}
	if len(ev.Raw) > 0 {
		f.Evidence = []json.RawMessage{ev.Raw}
	}
	f.Fingerprint = Fingerprint(ruleID, ev.Account, ev.ID)
	principal := ev.Principal.ARN
	if principal == "" {
		principal = ev.Principal.Name
	}
	f.GroupKey = Fingerprint(ruleID, ev.Account, principal)
	return f
}

// Fingerprint hashes its parts into a short stable key.
func Fingerprint(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Detector finds suspicious activity in events. Detect is called once per
// event, in the order the source read them. The bot runs one poll at a
// time through its engine, so detection and the Save of detector state
// never interleave between polls; detectors may still be shared with
// other goroutines (tests, tools) and should guard their state.
type Detector interface {
	// ID names the detector (a rule id or detector name).
	ID() string
	Detect(ctx context.Context, ev *sources.Event) ([]Finding, error)
}

// Stateful is implemented by detectors that keep state across events. Save
// writes the state in the transaction that also stores the findings and the
// source checkpoint, so a crash never leaves them out of step.
type Stateful interface {
	Save(tx *bolt.Tx) error
}

// ActionScoped is implemented by detectors that can only fire on certain
// event names (CloudTrail eventName, sources.Event.Action). The engine
// indexes them, so an event is shown only to the detectors that can fire
// on it. Actions returns nil when the detector may fire on any event, and
// an empty non-nil slice when it never fires.
type ActionScoped interface {
	Actions() []string
}

// Counter is implemented by detectors that judge counts of events, not
// only events one by one: the anomaly detectors. The engine shows them an
// event with a Tally (a group a source counted server-side) through
// DetectCount, shows that event to no other detector, and hides from them
// the events marked Counted, which reach them inside a Tally.
type Counter interface {
	Detector
	// DetectCount judges the ev.Tally.Count events ev stands for.
	DetectCount(ctx context.Context, ev *sources.Event) ([]Finding, error)
}

// Engine runs a set of detectors over events.
type Engine struct {
	detectors []Detector
	// counters are the Counters, the only detectors shown a Tally.
	counters []Counter
	// byAction lists, per event name, the detectors to run in their
	// original order: those scoped to the name and those not scoped;
	// other names run unscoped alone.
	byAction map[string][]Detector
	unscoped []Detector
	// findings are the FindingReaders, the only detectors shown events
	// that carry an AWS security finding.
	findings []Detector
}

// NewEngine returns an engine running ds in order. Detectors that
// implement ActionScoped run only on their event names.
func NewEngine(ds ...Detector) *Engine {
	e := &Engine{detectors: ds, byAction: map[string][]Detector{}}
	scoped := map[string][]int{}
	var unscoped []int
	for i, d := range ds {
		if r, ok := d.(FindingReader); ok && r.ReadsFindings() {
			e.findings = append(e.findings, d)
		}
		if c, ok := d.(Counter); ok {
			e.counters = append(e.counters, c)
		}
		var names []string
		isScoped := false
		if s, ok := d.(ActionScoped); ok {
			if names = s.Actions(); names != nil {
				isScoped = true
			}
		}
		if !isScoped {
			unscoped = append(unscoped, i)
			e.unscoped = append(e.unscoped, d)
			continue
		}
		for _, n := range names {
			if l := scoped[n]; len(l) == 0 || l[len(l)-1] != i {
				scoped[n] = append(l, i)
			}
		}
	}
	for name, idx := range scoped {
		merged := make([]Detector, 0, len(idx)+len(unscoped))
		a, b := 0, 0
		for a < len(idx) || b < len(unscoped) {
			if b >= len(unscoped) || a < len(idx) && idx[a] < unscoped[b] {
				merged = append(merged, ds[idx[a]])
				a++
			} else {
				merged = append(merged, ds[unscoped[b]])
				b++
			}
		}
		e.byAction[name] = merged
	}
	return e
}

// Detectors returns the engine's detectors.
func (e *Engine) Detectors() []Detector { return e.detectors }

// Detect runs every detector on ev and returns all findings. A detector's
// error does not stop the others; the errors are joined.
func (e *Engine) Detect(ctx context.Context, ev *sources.Event) ([]Finding, error) {
	var out []Finding
	var errs []error
	run, ok := e.byAction[ev.Action]
	if !ok {
		run = e.unscoped
	}
	if ev.Finding != nil {
		run = e.findings
	}
	if ev.Tally != nil {
		for _, c := range e.counters {
			fs, err := c.DetectCount(ctx, ev)
			if err != nil {
				errs = append(errs, fmt.Errorf("detector %s: %w", c.ID(), err))
				continue
			}
			out = append(out, fs...)
		}
		return out, errors.Join(errs...)
	}
	for _, d := range run {
		if ev.Counted {
			if _, ok := d.(Counter); ok {
				continue
			}
		}
		fs, err := d.Detect(ctx, ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("detector %s: %w", d.ID(), err))
			continue
		}
		out = append(out, fs...)
	}
	if len(errs) > 0 {
		return out, errors.Join(errs...)
	}
	return out, nil
}

// Save saves the state of every stateful detector in tx.
func (e *Engine) Save(tx *bolt.Tx) error {
	for _, d := range e.detectors {
		if s, ok := d.(Stateful); ok {
			if err := s.Save(tx); err != nil {
				return fmt.Errorf("detector %s: save state: %w", d.ID(), err)
			}
		}
	}
	return nil
}
