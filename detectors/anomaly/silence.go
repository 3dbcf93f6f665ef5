package anomaly

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// Silence finds log sources that stopped sending events. It learns, per
// source (optionally split by account, region or log group), the longest
// quiet spell of each of the last silenceDays days; Check, run on a
// schedule, reports a key whose newest event is older than
// max(MinGap, Factor x that usual longest spell). Keys are judged once
// they have MinEvents events over MinHistory, and not during the first
// MinGap after start-up, while the first polls catch up.
type Silence struct {
	env     *env
	now     func() time.Time
	started time.Time
	grace   time.Duration
	mu      sync.Mutex
	tab     *table[silenceProfile]
}

// silenceDays is how many days of daily longest gaps are kept.
const silenceDays = 14

// silenceProfile is one key's arrival pattern, in event time.
type silenceProfile struct {
	Source   string  `json:"source"`
	Account  string  `json:"account,omitempty"`
	Region   string  `json:"region,omitempty"`
	LogGroup string  `json:"log_group,omitempty"`
	H        history `json:"h"`
	// Gaps holds, per day (unix day number), the longest gap between
	// consecutive events that ended that day.
	Gaps []dayGap `json:"gaps,omitempty"`
}

type dayGap struct {
	Day int64 `json:"d"`
	Max int64 `json:"max"` // seconds
}

func newSilence(e *env, now func() time.Time) *Silence {
	return &Silence{env: e, now: now, started: now(), grace: e.cfg.Silence.MinGap.D(), tab: newTable("detectors.anomaly.silence", e.cfg.Limits, e.log, func(p *silenceProfile) int64 { return p.H.Last })}
}

// ID implements detectors.Detector.
func (*Silence) ID() string { return RuleSourceSilent }

// Schedule implements Checker.
func (d *Silence) Schedule() string { return d.env.cfg.Silence.CheckSchedule }

// Detect implements detectors.Detector. It only learns: silence is found
// by Check.
func (d *Silence) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	o := d.env.obs.of(ev)
	if d.env.skip(o, bitSilence) {
		return nil, nil
	}
	d.learn(o)
	return nil, nil
}

func (d *Silence) learn(o *obs) {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := &silenceProfile{Source: o.source}
	for _, dim := range d.env.cfg.Silence.By {
		switch dim {
		case "account":
			p.Account = o.account
		case "region":
			p.Region = o.region
		case "log_group":
			p.LogGroup = o.logGroup
		}
	}
	key := p.key()
	cur := d.tab.get(key, false)
	if cur == nil {
		cur = d.tab.get(key, true)
		*cur = *p
	}
	p = cur
	u := o.t.Unix()
	if p.H.Events > 0 && u > p.H.Last {
		gap := u - p.H.Last
		// A gap that was itself a silence (an outage) is not learned as
		// usual: it would blunt the detector for days.
		if !p.mature(d.env.cfg.Silence) || time.Duration(gap)*time.Second <= p.threshold(d.env.cfg.Silence) {
			p.addGap(u/86400, gap)
		}
	}
	p.H.observe(o.t)
	d.tab.touch(key, o.t)
}

func (p *silenceProfile) key() string {
	return strings.Join([]string{p.Source, p.Account, p.Region, p.LogGroup}, "|")
}

func (p *silenceProfile) addGap(day, gap int64) {
	for i := range p.Gaps {
		if p.Gaps[i].Day == day {
			p.Gaps[i].Max = max(p.Gaps[i].Max, gap)
			return
		}
	}
	p.Gaps = append(p.Gaps, dayGap{Day: day, Max: gap})
	sort.Slice(p.Gaps, func(i, j int) bool { return p.Gaps[i].Day < p.Gaps[j].Day })
	if len(p.Gaps) > silenceDays {
		p.Gaps = p.Gaps[len(p.Gaps)-silenceDays:]
	}
}

// usualGap is the longest quiet spell of the days kept.
func (p *silenceProfile) usualGap() time.Duration {
	var m int64
	for _, g := range p.Gaps {
		m = max(m, g.Max)
	}
	return time.Duration(m) * time.Second
}

// usualText says what the usual quiet spell was measured over: the last
// days with events kept, which are the last calendar days only for a
// source that sends every day.
func (p *silenceProfile) usualText(usual time.Duration) string {
	if len(p.Gaps) == 0 {
		return "it had no quiet spell before"
	}
	day := func(d int64) string { return time.Unix(d*86400, 0).UTC().Format("2006-01-02") }
	first, last := p.Gaps[0].Day, p.Gaps[len(p.Gaps)-1].Day
	over := "on " + day(first)
	if first != last {
		over = fmt.Sprintf("over its last %d days with events, %s to %s,", len(p.Gaps), day(first), day(last))
	}
	return fmt.Sprintf("its longest quiet spell %s was %s", over, shortDur(usual))
}

// mature reports whether the key has enough history to be judged.
func (p *silenceProfile) mature(c SilenceConfig) bool {
	return p.H.Events >= c.MinEvents && time.Duration(p.H.Last-p.H.First)*time.Second >= c.MinHistory.D()
}

// threshold is how long the key may be quiet before it is silent.
func (p *silenceProfile) threshold(c SilenceConfig) time.Duration {
	return max(c.MinGap.D(), time.Duration(c.Factor*float64(p.usualGap())))
}

// Save implements detectors.Stateful.
func (d *Silence) Save(tx *bolt.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tab.save(tx); err != nil {
		return fmt.Errorf("anomaly: save silence state: %w", err)
	}
	return nil
}

// SetGrace sets how long after start-up Check stays quiet while the first
// polls catch up (default Config.Silence.MinGap). A caller that checks only
// after its polls completed, like `trailhound run --once`, sets 0.
func (d *Silence) SetGrace(g time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.grace = g
}

// Check implements Checker: one finding per key silent at now. The
// fingerprint names the key and its last event, so checking again during
// the same silence stores nothing new, and a later silence is a new
// finding.
func (d *Silence) Check(_ context.Context, now time.Time) []detectors.Finding {
	cfg := d.env.cfg.Silence
	d.mu.Lock()
	defer d.mu.Unlock()
	if now.Sub(d.started) < d.grace {
		return nil
	}
	var out []detectors.Finding
	for key, p := range d.tab.m {
		if !p.mature(cfg) {
			continue
		}
		last := time.Unix(p.H.Last, 0).UTC()
		quiet := now.Sub(last)
		usual := p.usualGap()
		threshold := p.threshold(cfg)
		if quiet <= threshold {
			continue
		}
		out = append(out, d.finding(key, p, now, last, quiet, usual, threshold))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func (d *Silence) finding(key string, p *silenceProfile, now, last time.Time, quiet, usual, threshold time.Duration) detectors.Finding {
	what := "source " + p.Source
	var parts []string
	if p.Account != "" {
		parts = append(parts, "account "+p.Account)
	}
	if p.Region != "" {
		parts = append(parts, "region "+p.Region)
	}
	if p.LogGroup != "" {
		parts = append(parts, "log group "+p.LogGroup)
	}
	if len(parts) > 0 {
		what += " (" + strings.Join(parts, ", ") + ")"
	}
	f := detectors.Finding{
		RuleID:   RuleSourceSilent,
		Title:    "Log source stopped sending events",
		Severity: detectors.Medium,
		// Impair Defenses: Disable or Modify Cloud Logs.
		Technique:      "T1562.008",
		Description:    "A log source that sends events steadily has been silent for much longer than usual. Logging may have been stopped or deleted (an attacker covering tracks), or delivery broke; either way detections are blind for it.",
		Recommendation: "Check the trail's logging status (StopLogging, DeleteTrail, changed event selectors), the log group's subscription and retention, and the reader's permissions; `trailhound sources` shows the errors of the source's polls.",
		Reason: fmt.Sprintf("no events from %s since %s (%s ago); %s (threshold %s)",
			what, last.Format("2006-01-02 15:04 UTC"), shortDur(quiet), p.usualText(usual), shortDur(threshold)),
		Tags:    []string{"anomaly", "silence"},
		Time:    now.UTC(),
		Source:  p.Source,
		Account: p.Account,
		Region:  p.Region,
	}
	f.Fingerprint = detectors.Fingerprint(RuleSourceSilent, key, fmt.Sprint(p.H.Last))
	f.GroupKey = detectors.Fingerprint(RuleSourceSilent, key)
	return f
}

// shortDur formats d for a person: "45s", "30m", "3h05m", "2d4h".
func shortDur(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}
