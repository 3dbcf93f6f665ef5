package workflows

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

var bucketDigests = []byte("workflows.digests")

// DigestOptions select what a digest covers.
type DigestOptions struct {
	// Name titles the digest ("weekly"); empty for an ad-hoc one.
	Name string
	// Since and Until bound the period, Until excluded.
	Since, Until time.Time
	// Health is the log sources' health, shown as is.
	Health []sources.Health
	// Top caps the still-open alerts listed (default 10).
	Top int
}

// Digest is a review of a period: what was found, how fast the team
// reacted, what is still open or overdue, which rules are noisy, and how
// the log sources are doing.
type Digest struct {
	Name  string    `json:"name,omitempty"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// NewAlerts were raised in the period from Findings findings (grouped
	// repeats included); Suppressed of them are muted or suppressed.
	NewAlerts  int `json:"new_alerts"`
	Findings   int `json:"findings"`
	Suppressed int `json:"suppressed"`
	// BySeverity has every severity, most severe first.
	BySeverity []SeverityCount `json:"by_severity"`
	// ByRule has every rule with activity, most findings first.
	ByRule []RuleCount `json:"by_rule"`
	// Open are alerts still open at Until, most severe and oldest first,
	// at most Top of OpenTotal.
	Open      []OpenAlert `json:"open"`
	OpenTotal int         `json:"open_total"`
	// Acknowledge and Resolve measure, for alerts acknowledged (resolved)
	// in the period, the time from the alert being raised.
	Acknowledge Durations `json:"time_to_acknowledge"`
	Resolve     Durations `json:"time_to_resolve"`
	// Overdue are tasks open past their due date at Until.
	Overdue []Task `json:"overdue_tasks"`
	// Noisiest are the (at most five) rules with the most findings.
	Noisiest []RuleCount `json:"noisiest_rules"`
	// Silences are active at Until.
	Silences []Silence       `json:"silences"`
	Sources  []SourceSummary `json:"sources"`
	// AWS counts the findings of AWS security services by product and
	// type, among them those under their source's severity floor (kept
	// for the digest only), for the alerts raised in the period.
	AWS []AWSCount `json:"aws_findings,omitempty"`
	// Days are the days of the period, plus the days outside it on which
	// findings stored in the period happened (a backfill), in order, for
	// the chart.
	Days []DayCount `json:"days"`
}

// AWSCount counts the findings of one AWS product and type.
type AWSCount struct {
	Product  string `json:"product"`
	Type     string `json:"type"`
	Findings int    `json:"findings"`
	// BelowFloor of them were under the severity floor: counted, not
	// posted.
	BelowFloor int `json:"below_floor"`
}

// SeverityCount counts alerts and findings of one severity.
type SeverityCount struct {
	Severity detectors.Severity `json:"severity"`
	Alerts   int                `json:"alerts"`
	Findings int                `json:"findings"`
}

// RuleCount counts one rule's activity. Resolved and FalsePositives count
// its alerts resolved in the period.
type RuleCount struct {
	RuleID         string `json:"rule_id"`
	Title          string `json:"title"`
	Alerts         int    `json:"alerts"`
	Findings       int    `json:"findings"`
	Resolved       int    `json:"resolved"`
	FalsePositives int    `json:"false_positives"`
}

// FalsePositiveRate is FalsePositives/Resolved; ok is false when nothing
// was resolved.
func (r RuleCount) FalsePositiveRate() (rate float64, ok bool) {
	if r.Resolved == 0 {
		return 0, false
	}
	return float64(r.FalsePositives) / float64(r.Resolved), true
}

// OpenAlert summarises an alert still open.
type OpenAlert struct {
	ID       string             `json:"id"`
	Severity detectors.Severity `json:"severity"`
	State    State              `json:"state"`
	Title    string             `json:"title"`
	RuleID   string             `json:"rule_id"`
	Count    int                `json:"count"`
	// Age is how long it has been open at Until.
	Age time.Duration `json:"age_seconds"`
}

// MarshalJSON writes Age in seconds.
func (o OpenAlert) MarshalJSON() ([]byte, error) {
	type plain OpenAlert
	return json.Marshal(struct {
		plain
		Age int64 `json:"age_seconds"`
	}{plain(o), int64(o.Age / time.Second)})
}

// Durations summarises response times: median and 90th percentile of N.
type Durations struct {
	N      int           `json:"count"`
	Median time.Duration `json:"median_seconds"`
	P90    time.Duration `json:"p90_seconds"`
}

// MarshalJSON writes the durations in seconds.
func (d Durations) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		N      int     `json:"count"`
		Median float64 `json:"median_seconds"`
		P90    float64 `json:"p90_seconds"`
	}{d.N, d.Median.Seconds(), d.P90.Seconds()})
}

// SummarizeDurations returns the median (the mean of the two middle
// values for an even count) and the 90th percentile (nearest rank: the
// smallest value with at least 90% of values at or below it).
func SummarizeDurations(ds []time.Duration) Durations {
	if len(ds) == 0 {
		return Durations{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	rank := int(math.Ceil(0.9*float64(n))) - 1
	return Durations{N: n, Median: med, P90: s[rank]}
}

// SourceSummary is one log source's health in a digest.
type SourceSummary struct {
	Source      string    `json:"source"`
	Status      string    `json:"status"`
	LastSuccess time.Time `json:"last_success,omitempty"`
	Events      int64     `json:"events"`
	Malformed   int64     `json:"malformed"`
	// BytesScanned is what the source's queries have scanned (Athena),
	// and LastBytesScanned the last poll's; zero for other sources.
	BytesScanned     int64 `json:"bytes_scanned,omitempty"`
	LastBytesScanned int64 `json:"last_bytes_scanned,omitempty"`
}

// DayCount is one UTC day of a digest. Findings are counted on the day
// their event happened; the other counts on the day the bot did the work.
type DayCount struct {
	Day time.Time `json:"day"`
	// Findings counts, by severity (index = severity), the findings
	// stored in the period whose events happened that day.
	Findings [detectors.Critical + 1]int `json:"findings"`
	// Stored counts the findings stored that day, whenever their events
	// happened: it differs from Total when logs arrive late or are read
	// long after (a backfill).
	Stored int `json:"stored"`
	// Opened and Closed count alerts raised and resolved that day.
	Opened int `json:"opened"`
	Closed int `json:"closed"`
	// Acknowledge and Resolve measure the alerts acknowledged (resolved)
	// that day, from when each was raised.
	Acknowledge Durations `json:"time_to_acknowledge"`
	Resolve     Durations `json:"time_to_resolve"`
	// InPeriod is false for days outside the period, listed only for
	// their findings' events.
	InPeriod bool `json:"in_period"`
}

// Total is the day's findings of every severity.
func (d DayCount) Total() int {
	n := 0
	for _, v := range d.Findings {
		n += v
	}
	return n
}

// BuildDigest reviews a period from the store.
func (s *Store) BuildDigest(o DigestOptions) (Digest, error) {
	var d Digest
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		d, err = buildDigest(tx, o)
		return err
	})
	return d, err
}

func buildDigest(tx *bolt.Tx, o DigestOptions) (Digest, error) {
	since, until := o.Since.UTC(), o.Until.UTC()
	d := Digest{Name: o.Name, Since: since, Until: until}
	top := o.Top
	if top <= 0 {
		top = 10
	}
	in := func(t time.Time) bool { return !t.Before(since) && t.Before(until) }
	alerts := map[string]*Alert{}
	err := tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
		var a Alert
		if err := json.Unmarshal(v, &a); err != nil {
			return fmt.Errorf("workflows: alert %s is corrupt: %w", k, err)
		}
		alerts[a.ID] = &a
		return nil
	})
	if err != nil {
		return d, err
	}
	sev := map[detectors.Severity]*SeverityCount{}
	for s := detectors.Critical; s >= detectors.Info; s-- {
		d.BySeverity = append(d.BySeverity, SeverityCount{Severity: s})
	}
	for i := range d.BySeverity {
		sev[d.BySeverity[i].Severity] = &d.BySeverity[i]
	}
	rules := map[string]*RuleCount{}
	rule := func(a *Alert) *RuleCount {
		r := rules[a.Finding.RuleID]
		if r == nil {
			r = &RuleCount{RuleID: a.Finding.RuleID, Title: a.Finding.Title}
			rules[a.Finding.RuleID] = r
		}
		return r
	}
	var tta, ttr []time.Duration
	var open []OpenAlert
	first := since.Truncate(24 * time.Hour)
	days := map[time.Time]*DayCount{}
	dayOf := func(t time.Time) *DayCount {
		k := t.UTC().Truncate(24 * time.Hour)
		dc := days[k]
		if dc == nil {
			dc = &DayCount{Day: k}
			days[k] = dc
		}
		return dc
	}
	for day := first; day.Before(until); day = day.Add(24 * time.Hour) {
		dayOf(day).InPeriod = true
	}
	dayTTA, dayTTR := map[time.Time][]time.Duration{}, map[time.Time][]time.Duration{}
	for _, a := range alerts {
		if in(a.CreatedAt) {
			dayOf(a.CreatedAt).Opened++
		}
		if in(a.AcknowledgedAt) {
			k := dayOf(a.AcknowledgedAt).Day
			dayTTA[k] = append(dayTTA[k], a.AcknowledgedAt.Sub(a.CreatedAt))
		}
		if a.State == StateResolved && in(a.ResolvedAt) {
			dc := dayOf(a.ResolvedAt)
			dc.Closed++
			dayTTR[dc.Day] = append(dayTTR[dc.Day], a.ResolvedAt.Sub(a.CreatedAt))
		}
		if in(a.CreatedAt) {
			d.AWS = countAWS(d.AWS, a)
			d.NewAlerts++
			sev[a.Severity].Alerts++
			rule(a).Alerts++
			if a.State == StateSuppressed {
				d.Suppressed++
			}
		}
		if in(a.AcknowledgedAt) {
			tta = append(tta, a.AcknowledgedAt.Sub(a.CreatedAt))
		}
		if a.State == StateResolved && in(a.ResolvedAt) {
			ttr = append(ttr, a.ResolvedAt.Sub(a.CreatedAt))
			r := rule(a)
			r.Resolved++
			if a.Resolution == "false_positive" {
				r.FalsePositives++
			}
		}
		if a.State.Open() && a.CreatedAt.Before(until) {
			open = append(open, OpenAlert{ID: a.ID, Severity: a.Severity, State: a.State, Title: a.Finding.Title, RuleID: a.Finding.RuleID, Count: a.Count, Age: until.Sub(a.CreatedAt)})
		}
	}
	d.Acknowledge, d.Resolve = SummarizeDurations(tta), SummarizeDurations(ttr)
	sort.Slice(open, func(i, j int) bool {
		if open[i].Severity != open[j].Severity {
			return open[i].Severity > open[j].Severity
		}
		if open[i].Age != open[j].Age {
			return open[i].Age > open[j].Age
		}
		return CompareIDs(open[i].ID, open[j].ID) < 0
	})
	d.OpenTotal = len(open)
	d.Open = open[:min(len(open), top)]

	// The findings of the period come from the audit log: each "created"
	// entry is one finding, each "grouped" entry adds the growth of the
	// alert's count. They are stored on the audit entry's day; the day of
	// their events comes from bucketFindingTimes.
	counts := map[string]int{}
	stored := map[string]int{} // alert id -> findings stored in the period
	err = tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
		var e AuditEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("workflows: audit entry is corrupt: %w", err)
		}
		var delta int
		switch e.Action {
		case "created":
			delta = 1
			counts[e.AlertID] = 1
		case "grouped":
			var c int
			if _, err := fmt.Sscanf(e.Note, "count %d", &c); err != nil {
				return nil
			}
			prev, ok := counts[e.AlertID]
			if !ok {
				prev = c - 1
			}
			delta, counts[e.AlertID] = c-prev, c
		default:
			return nil
		}
		a := alerts[e.AlertID]
		if a == nil || delta <= 0 || !in(e.Time) {
			return nil
		}
		d.Findings += delta
		sev[a.Severity].Findings += delta
		rule(a).Findings += delta
		dayOf(e.Time).Stored += delta
		stored[a.ID] += delta
		return nil
	})
	if err != nil {
		return d, err
	}
	if b := tx.Bucket(bucketFindingTimes); b != nil {
		c := b.Cursor()
		end := u64(uint64(until.UnixNano()))
		for k, v := c.Seek(u64(uint64(since.UnixNano()))); k != nil && bytes.Compare(k[:8], end) < 0; k, v = c.Next() {
			var ft findingTime
			if err := json.Unmarshal(v, &ft); err != nil {
				return d, fmt.Errorf("workflows: finding time is corrupt: %w", err)
			}
			a := alerts[ft.AlertID]
			if a == nil || stored[a.ID] <= 0 {
				continue
			}
			stored[a.ID]--
			dayOf(ft.Time).Findings[a.Severity]++
		}
	}
	// Findings stored before event times were recorded: on the day of the
	// alert's last event.
	for id, n := range stored {
		if a := alerts[id]; a != nil && n > 0 {
			dayOf(a.LastSeen).Findings[a.Severity] += n
		}
	}
	for k, dc := range days {
		dc.Acknowledge, dc.Resolve = SummarizeDurations(dayTTA[k]), SummarizeDurations(dayTTR[k])
		if dc.InPeriod || dc.Total() > 0 {
			d.Days = append(d.Days, *dc)
		}
	}
	sort.Slice(d.Days, func(i, j int) bool { return d.Days[i].Day.Before(d.Days[j].Day) })
	for _, r := range rules {
		d.ByRule = append(d.ByRule, *r)
	}
	sort.Slice(d.ByRule, func(i, j int) bool {
		a, b := d.ByRule[i], d.ByRule[j]
		if a.Findings != b.Findings {
			return a.Findings > b.Findings
		}
		if a.Alerts != b.Alerts {
			return a.Alerts > b.Alerts
		}
		return a.RuleID < b.RuleID
	})
	for _, r := range d.ByRule {
		if r.Findings > 0 && len(d.Noisiest) < 5 {
			d.Noisiest = append(d.Noisiest, r)
		}
	}
	if b := tx.Bucket(bucketTasks); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			var t Task
			if err := json.Unmarshal(v, &t); err != nil {
				return fmt.Errorf("workflows: task %s is corrupt: %w", k, err)
			}
			if t.Overdue(until) {
				d.Overdue = append(d.Overdue, t)
			}
			return nil
		})
		if err != nil {
			return d, err
		}
		sort.Slice(d.Overdue, func(i, j int) bool {
			if !d.Overdue[i].Due.Equal(d.Overdue[j].Due) {
				return d.Overdue[i].Due.Before(d.Overdue[j].Due)
			}
			return CompareIDs(d.Overdue[i].ID, d.Overdue[j].ID) < 0
		})
	}
	if d.Silences, err = silences(tx, until); err != nil {
		return d, err
	}
	sort.Slice(d.Silences, func(i, j int) bool { return d.Silences[i].ExpiresAt.Before(d.Silences[j].ExpiresAt) })
	for _, h := range o.Health {
		d.Sources = append(d.Sources, summarizeSource(h))
	}
	sort.Slice(d.Sources, func(i, j int) bool { return d.Sources[i].Source < d.Sources[j].Source })
	return d, nil
}

// CompareIDs orders alert, task and silence ids as a person counts them:
// by prefix, then by number, so TH-4 comes before TH-10. It returns -1, 0
// or +1.
func CompareIDs(a, b string) int {
	pa, na, oka := splitID(a)
	pb, nb, okb := splitID(b)
	if !oka || !okb || pa != pb {
		return strings.Compare(a, b)
	}
	return cmp.Compare(na, nb)
}

// splitID splits "TH-12" into "TH-" and 12.
func splitID(id string) (prefix string, n uint64, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	return id[:i+1], n, err == nil
}

func summarizeSource(h sources.Health) SourceSummary {
	st := "ok"
	switch {
	case h.LastError != "" && h.Permanent:
		st = "failing, needs a fix: " + h.LastError
	case h.LastError != "":
		st = "failing: " + h.LastError
	case h.LastSuccess.IsZero():
		st = "never read"
	}
	if len(st) > 200 {
		st = st[:199] + "…"
	}
	return SourceSummary{Source: h.Source, Status: st, LastSuccess: h.LastSuccess, Events: h.Events, Malformed: h.Malformed,
		BytesScanned: h.BytesScanned, LastBytesScanned: h.LastBytesScanned}
}

// scanned says what the source's queries scanned, and so cost, for a
// digest line; empty for sources that run no queries.
func (s SourceSummary) scanned() string {
	if s.BytesScanned == 0 {
		return ""
	}
	return fmt.Sprintf("; queries scanned %s in all, %s in the last poll", sources.FormatBytes(s.BytesScanned), sources.FormatBytes(s.LastBytesScanned))
}

func (d *Digest) title() string {
	if d.Name != "" {
		return "Trailhound " + d.Name + " digest"
	}
	return "Trailhound digest"
}

func (d *Digest) period() string {
	return fmt.Sprintf("%s to %s (%s)", d.Since.Format("2006-01-02 15:04 UTC"), d.Until.Format("2006-01-02 15:04 UTC"), formatDur(d.Until.Sub(d.Since)))
}

func durStat(x Durations) string {
	if x.N == 0 {
		return "none in the period"
	}
	return fmt.Sprintf("median %s, p90 %s (%d alerts)", formatDur(x.Median.Round(time.Second)), formatDur(x.P90.Round(time.Second)), x.N)
}

func fpRate(r RuleCount) string {
	rate, ok := r.FalsePositiveRate()
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.0f%% (%d of %d)", rate*100, r.FalsePositives, r.Resolved)
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

// outsidePeriod says how many findings stored in the period happened
// on days outside it (late logs, a backfill), and on which days; empty
// when none did.
func (d *Digest) outsidePeriod() string {
	n := 0
	var first, last time.Time
	for _, dc := range d.Days {
		if dc.InPeriod || dc.Total() == 0 {
			continue
		}
		n += dc.Total()
		if first.IsZero() {
			first = dc.Day
		}
		last = dc.Day
	}
	if n == 0 {
		return ""
	}
	days := first.Format("2006-01-02")
	if !last.Equal(first) {
		days += " to " + last.Format("2006-01-02")
	}
	return fmt.Sprintf("%s happened outside the period (late logs or a backfill): %s", plural(n, "finding"), days)
}

// countAWS adds the AWS findings an alert holds to the counts, kept in
// product and type order.
func countAWS(counts []AWSCount, a *Alert) []AWSCount {
	for _, x := range a.External {
		i := sort.Search(len(counts), func(i int) bool {
			c := counts[i]
			return c.Product > x.Product || c.Product == x.Product && c.Type >= x.Type
		})
		if i == len(counts) || counts[i].Product != x.Product || counts[i].Type != x.Type {
			counts = append(counts, AWSCount{})
			copy(counts[i+1:], counts[i:])
			counts[i] = AWSCount{Product: x.Product, Type: x.Type}
		}
		counts[i].Findings++
		if a.DigestOnly {
			counts[i].BelowFloor++
		}
	}
	return counts
}

// Markdown renders the digest as a Markdown document.
func (d *Digest) Markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s\n\n%s\n\n", d.title(), d.period())
	fmt.Fprintf(&b, "## Summary\n\n")
	fmt.Fprintf(&b, "- %s from %s (%d suppressed)\n", plural(d.NewAlerts, "new alert"), plural(d.Findings, "finding"), d.Suppressed)
	if o := d.outsidePeriod(); o != "" {
		fmt.Fprintf(&b, "- %s\n", o)
	}
	fmt.Fprintf(&b, "- %s still open, %s overdue\n", plural(d.OpenTotal, "alert"), plural(len(d.Overdue), "task"))
	fmt.Fprintf(&b, "- Time to acknowledge: %s\n", durStat(d.Acknowledge))
	fmt.Fprintf(&b, "- Time to resolve: %s\n\n", durStat(d.Resolve))
	b.WriteString("## By severity\n\n| Severity | Alerts | Findings |\n|---|---:|---:|\n")
	for _, s := range d.BySeverity {
		fmt.Fprintf(&b, "| %s | %d | %d |\n", s.Severity, s.Alerts, s.Findings)
	}
	b.WriteString("\n## By rule\n\n")
	if len(d.ByRule) == 0 {
		b.WriteString("No rule fired.\n")
	} else {
		b.WriteString("| Rule | Alerts | Findings | Resolved | False-positive rate |\n|---|---:|---:|---:|---:|\n")
		for _, r := range d.ByRule {
			fmt.Fprintf(&b, "| `%s` %s | %d | %d | %d | %s |\n", r.RuleID, mdEscape(r.Title), r.Alerts, r.Findings, r.Resolved, fpRate(r))
		}
	}
	if len(d.AWS) > 0 {
		b.WriteString("\n## AWS security findings\n\n| Product | Type | Findings | Under the floor |\n|---|---|---:|---:|\n")
		for _, c := range d.AWS {
			fmt.Fprintf(&b, "| %s | `%s` | %d | %d |\n", c.Product, c.Type, c.Findings, c.BelowFloor)
		}
	}
	b.WriteString("\n## Still open\n\n")
	if d.OpenTotal == 0 {
		b.WriteString("Nothing is open.\n")
	} else {
		b.WriteString("| Alert | Severity | State | Title | Open for |\n|---|---|---|---|---:|\n")
		for _, o := range d.Open {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", o.ID, o.Severity, o.State, mdEscape(o.Title), formatDur(o.Age.Round(time.Minute)))
		}
		if more := d.OpenTotal - len(d.Open); more > 0 {
			fmt.Fprintf(&b, "\n…and %d more.\n", more)
		}
	}
	b.WriteString("\n## Overdue tasks\n\n")
	if len(d.Overdue) == 0 {
		b.WriteString("No task is overdue.\n")
	} else {
		b.WriteString("| Task | Assignee | Due | Title | Alert |\n|---|---|---|---|---|\n")
		for _, t := range d.Overdue {
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s | `%s` |\n", t.ID, mdEscape(orNone(t.Assignee)), t.Due.Format("2006-01-02"), mdEscape(t.Title), t.AlertID)
		}
	}
	b.WriteString("\n## Noisiest rules\n\n")
	if len(d.Noisiest) == 0 {
		b.WriteString("No findings.\n")
	}
	for i, r := range d.Noisiest {
		fmt.Fprintf(&b, "%d. `%s`: %s in %s, false-positive rate %s\n", i+1, r.RuleID, plural(r.Findings, "finding"), plural(r.Alerts, "alert"), fpRate(r))
	}
	b.WriteString("\n## Active silences\n\n")
	if len(d.Silences) == 0 {
		b.WriteString("None.\n")
	}
	for _, sl := range d.Silences {
		fmt.Fprintf(&b, "- `%s` %s until %s by %s: %s (%d muted)\n", sl.ID, describeSilence(&sl), sl.ExpiresAt.Format("2006-01-02 15:04 UTC"), sl.CreatedBy, mdEscape(cmpOr(sl.Reason, "-")), sl.Matched)
	}
	b.WriteString("\n## Log sources\n\n")
	if len(d.Sources) == 0 {
		b.WriteString("No source has been polled.\n")
	} else {
		b.WriteString("| Source | Status | Last success | Events | Malformed |\n|---|---|---|---:|---:|\n")
		for _, s := range d.Sources {
			last := "never"
			if !s.LastSuccess.IsZero() {
				last = s.LastSuccess.UTC().Format("2006-01-02 15:04 UTC")
			}
			fmt.Fprintf(&b, "| %s | %s%s | %s | %d | %d |\n", mdEscape(s.Source), mdEscape(s.Status), s.scanned(), last, s.Events, s.Malformed)
		}
	}
	return b.String()
}

// Text renders the digest for chat: only `code` spans and • bullets, which
// both Slack and Discord show well.
func (d *Digest) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s, %s\n", d.title(), d.period())
	fmt.Fprintf(&b, "• %s from %s (%d suppressed); %d still open; %s overdue\n", plural(d.NewAlerts, "new alert"), plural(d.Findings, "finding"), d.Suppressed, d.OpenTotal, plural(len(d.Overdue), "task"))
	if o := d.outsidePeriod(); o != "" {
		fmt.Fprintf(&b, "• %s\n", o)
	}
	var sevs []string
	for _, s := range d.BySeverity {
		if s.Alerts > 0 || s.Findings > 0 {
			sevs = append(sevs, fmt.Sprintf("%s %d/%d", s.Severity, s.Alerts, s.Findings))
		}
	}
	if len(sevs) > 0 {
		fmt.Fprintf(&b, "• By severity (alerts/findings): %s\n", strings.Join(sevs, ", "))
	}
	fmt.Fprintf(&b, "• Time to acknowledge: %s\n", durStat(d.Acknowledge))
	fmt.Fprintf(&b, "• Time to resolve: %s\n", durStat(d.Resolve))
	if len(d.Noisiest) > 0 {
		b.WriteString("Noisiest rules:\n")
		for _, r := range d.Noisiest {
			fmt.Fprintf(&b, "• `%s` %s in %s, false positives %s\n", r.RuleID, plural(r.Findings, "finding"), plural(r.Alerts, "alert"), fpRate(r))
		}
	}
	if len(d.AWS) > 0 {
		b.WriteString("AWS security findings:\n")
		for _, c := range d.AWS {
			fmt.Fprintf(&b, "• %s `%s`: %s (%d under the floor)\n", c.Product, c.Type, plural(c.Findings, "finding"), c.BelowFloor)
		}
	}
	if d.OpenTotal > 0 {
		b.WriteString("Still open:\n")
		for _, o := range d.Open {
			fmt.Fprintf(&b, "• `%s` %s %s: %s, open %s\n", o.ID, strings.ToUpper(o.Severity.String()), o.State, o.Title, formatDur(o.Age.Round(time.Minute)))
		}
		if more := d.OpenTotal - len(d.Open); more > 0 {
			fmt.Fprintf(&b, "• …and %d more\n", more)
		}
	}
	if len(d.Overdue) > 0 {
		b.WriteString("Overdue tasks:\n")
		for _, t := range d.Overdue {
			fmt.Fprintf(&b, "• `%s` %s, %s, due %s (alert `%s`)\n", t.ID, t.Title, orNone(t.Assignee), t.Due.Format("2006-01-02"), t.AlertID)
		}
	}
	if len(d.Silences) > 0 {
		b.WriteString("Active silences:\n")
		for _, sl := range d.Silences {
			fmt.Fprintf(&b, "• `%s` %s until %s: %s (%d muted)\n", sl.ID, describeSilence(&sl), sl.ExpiresAt.Format("2006-01-02 15:04 UTC"), cmpOr(sl.Reason, "-"), sl.Matched)
		}
	}
	if len(d.Sources) > 0 {
		b.WriteString("Log sources:\n")
		for _, s := range d.Sources {
			fmt.Fprintf(&b, "• `%s` %s%s, %d events, %d malformed\n", s.Source, s.Status, s.scanned(), s.Events, s.Malformed)
		}
	}
	return b.String()
}

// DigestScheduler posts the configured digests on their cron schedules.
// The end of the last period posted is stored with the outbox item in one
// transaction, so a restart never posts the same digest twice; after
// downtime only the latest missed digest is posted.
type DigestScheduler struct {
	Store *Store
	// Health returns the log sources' health; nil leaves it out.
	Health func() ([]sources.Health, error)
	Log    *slog.Logger
}

type digestState struct {
	LastEnd time.Time `json:"last_end"`
}

// Tick queues every digest whose scheduled time has come at now and
// returns how many it queued. The first tick of a new digest only starts
// its schedule.
func (ds *DigestScheduler) Tick(now time.Time) (int, error) {
	s := ds.Store
	specs := s.config().Digests
	if len(specs) == 0 {
		return 0, nil
	}
	now = now.UTC()
	var health []sources.Health
	if ds.Health != nil {
		var err error
		if health, err = ds.Health(); err != nil {
			log := ds.Log
			if log == nil {
				log = slog.Default()
			}
			log.Warn("digest: read source health", "err", err)
		}
	}
	n := 0
	for _, spec := range specs {
		var queued bool
		err := s.db.Update(func(tx *bolt.Tx) error {
			var err error
			queued, err = s.queueDigest(tx, spec, now, health)
			return err
		})
		if err != nil {
			return n, fmt.Errorf("workflows: digest %s: %w", spec.Name, err)
		}
		if queued {
			n++
		}
	}
	return n, nil
}

func (s *Store) queueDigest(tx *bolt.Tx, spec DigestSpec, now time.Time, health []sources.Health) (bool, error) {
	b, err := tx.CreateBucketIfNotExists(bucketDigests)
	if err != nil {
		return false, err
	}
	var st digestState
	if v := b.Get([]byte(spec.Name)); v != nil {
		if err := json.Unmarshal(v, &st); err != nil {
			return false, fmt.Errorf("state is corrupt: %w", err)
		}
	}
	put := func() error {
		v, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return b.Put([]byte(spec.Name), v)
	}
	if st.LastEnd.IsZero() {
		st.LastEnd = now
		return false, put()
	}
	due := spec.Schedule.Next(st.LastEnd).UTC()
	if due.IsZero() || due.After(now) {
		return false, nil
	}
	for i := 0; i < 1_000_000; i++ {
		next := spec.Schedule.Next(due).UTC()
		if next.IsZero() || next.After(now) {
			break
		}
		due = next
	}
	d, err := buildDigest(tx, DigestOptions{Name: spec.Name, Since: due.Add(-spec.Since), Until: due, Health: health})
	if err != nil {
		return false, err
	}
	it := outboxItem{Kind: NotifyDigest, CreatedAt: now, Targets: spec.Targets, Text: d.Text(),
		Key: "digest-" + spec.Name + "-" + due.Format("20060102T1504Z")}
	if spec.Chart {
		png, err := Chart(&d)
		if err != nil {
			return false, err
		}
		it.Attachment = &Attachment{Name: "trailhound-" + spec.Name + "-" + due.Format("2006-01-02") + ".png", ContentType: "image/png", Data: png}
	}
	if err := enqueueItem(tx, it); err != nil {
		return false, err
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, Action: "digest_queued", Note: spec.Name + " for " + d.period()}); err != nil {
		return false, err
	}
	st.LastEnd = due
	return true, put()
}
