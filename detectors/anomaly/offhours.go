package anomaly

import (
	"context"
	"fmt"
	"strings"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// OffHours finds sensitive calls (changes, secret reads) and console
// sign-ins outside the account's business hours, unless they fall in the
// principal's own usual hours. A principal's usual hours are learned as,
// for each local hour of the day, on how many distinct days it was active
// then; they count once it was active on Config.OffHours.MinActiveDays
// days. Read calls never fire: they are too many to be worth a look.
type OffHours struct {
	env      *env
	def      *hours
	accounts map[string]*hours
	mu       sync.Mutex
	tab      *table[hoursProfile]
}

// hoursProfile is one principal's activity by hour of day, in the local
// time of its account's business hours.
type hoursProfile struct {
	H history `json:"h"`
	// Hours counts, per local hour, the distinct days active in it;
	// LastDay is the last local day counted per hour.
	Hours   [24]int32 `json:"hours"`
	LastDay [24]int32 `json:"last_day"`
	// Days and OffDays count distinct active days, and those outside the
	// business days; Day is the last active day.
	Days    int32 `json:"days"`
	OffDays int32 `json:"off_days"`
	Day     int32 `json:"day"`
}

// offHoursDecayDays: past this many active days, the counts are halved,
// so habits of months ago fade.
const offHoursDecayDays = 120

func newOffHours(e *env) (*OffHours, error) {
	def, err := e.cfg.OffHours.BusinessHours.compile()
	if err != nil {
		return nil, fmt.Errorf("anomaly: off_hours.business_hours: %w", err)
	}
	d := &OffHours{env: e, def: def, accounts: map[string]*hours{}}
	for id, bh := range e.cfg.OffHours.Accounts {
		h, err := bh.compile()
		if err != nil {
			return nil, fmt.Errorf("anomaly: off_hours.accounts: account %s: %w", id, err)
		}
		d.accounts[id] = h
	}
	d.tab = newTable("detectors.anomaly.off-hours", e.cfg.Limits, e.log, func(p *hoursProfile) int64 { return p.H.Last })
	return d, nil
}

// ID implements detectors.Detector.
func (*OffHours) ID() string { return RuleOffHours }

// Detect implements detectors.Detector.
func (d *OffHours) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	o := d.env.obs.of(ev)
	if d.env.skip(o, bitOffHours) {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.observe(o, ev), nil
}

func (d *OffHours) learn(o *obs) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(o, nil)
}

// Save implements detectors.Stateful.
func (d *OffHours) Save(tx *bolt.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tab.save(tx); err != nil {
		return fmt.Errorf("anomaly: save off-hours state: %w", err)
	}
	return nil
}

func (d *OffHours) hoursOf(account string) *hours {
	if h, ok := d.accounts[account]; ok {
		return h
	}
	return d.def
}

func (d *OffHours) observe(o *obs, ev *sources.Event) []detectors.Finding {
	if o.pkey == "" || o.viaService {
		return nil
	}
	key := "principal|" + o.account + "|" + o.pkey
	p := d.tab.get(key, true)
	bh := d.hoursOf(o.account)
	lt := o.t.In(bh.loc)
	hour := lt.Hour()
	_, offset := lt.Zone()
	day := int32((o.t.Unix() + int64(offset)) / 86400)
	businessDay := bh.days[lt.Weekday()]

	var out []detectors.Finding
	if ev != nil && (o.signin || o.sensitive && !o.failed) && !bh.within(o.t) &&
		p.H.mature(d.env.cfg.Learning, o.t) && !p.usual(hour, businessDay, d.env.cfg.OffHours) {
		out = append(out, d.finding(o, ev, p, bh, lt.Format("Mon 15:04")))
	}

	p.H.observe(o.t)
	if day > p.Day {
		p.Days++
		if !businessDay {
			p.OffDays++
		}
		p.Day = day
		if p.Days > offHoursDecayDays {
			p.decay()
		}
	}
	if day > p.LastDay[hour] {
		p.Hours[hour]++
		p.LastDay[hour] = day
	}
	d.tab.touch(key, o.t)
	return out
}

func (p *hoursProfile) decay() {
	for i := range p.Hours {
		p.Hours[i] /= 2
	}
	p.Days /= 2
	p.OffDays /= 2
}

// usual reports whether the principal is usually active at this local
// hour (or the hour before or after), and on this kind of day.
func (p *hoursProfile) usual(hour int, businessDay bool, c OffHoursConfig) bool {
	if p.Days < int32(c.MinActiveDays) {
		return false
	}
	if !businessDay && p.OffDays < int32(c.UsualHourDays) {
		return false
	}
	for _, h := range []int{(hour + 23) % 24, hour, (hour + 1) % 24} {
		if p.Hours[h] >= int32(c.UsualHourDays) {
			return true
		}
	}
	return false
}

// usualText lists the usual hours as ranges, "08-12, 14-18", or says none
// are learned yet.
func (p *hoursProfile) usualText(c OffHoursConfig) string {
	if p.Days < int32(c.MinActiveDays) {
		return fmt.Sprintf("no usual hours learned yet (%d active days, %d needed)", p.Days, c.MinActiveDays)
	}
	var parts []string
	for h := 0; h < 24; {
		if p.Hours[h] < int32(c.UsualHourDays) {
			h++
			continue
		}
		start := h
		for h < 24 && p.Hours[h] >= int32(c.UsualHourDays) {
			h++
		}
		parts = append(parts, fmt.Sprintf("%02d-%02d", start, h))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("no hour active on %d or more of %d days", c.UsualHourDays, p.Days)
	}
	return fmt.Sprintf("usually active %s over %d days", strings.Join(parts, ", "), p.Days)
}

func (d *OffHours) finding(o *obs, ev *sources.Event, p *hoursProfile, bh *hours, local string) detectors.Finding {
	f := detectors.FromEvent(RuleOffHours, ev)
	f.Tags = []string{"anomaly", "off-hours"}
	what := "called " + o.api
	f.Title = "Sensitive call outside business hours"
	f.Severity = detectors.Low
	if o.signin {
		what = "signed in to the console"
		f.Title = "Console sign-in outside business hours"
		f.Severity = detectors.Medium
	}
	f.Technique = "T1078.004"
	f.Reason = fmt.Sprintf("%s %s at %s %s, outside business hours (%s); %s", o.pname, what, local, bh.loc, bh.text, p.usualText(d.env.cfg.OffHours))
	f.Description = "A principal made a change, read secrets or signed in at a time it is not usually active and outside the account's business hours. Attackers act when nobody is watching."
	f.Recommendation = "Confirm with the owner or the on-call engineer that the activity was planned (maintenance, incident). If not, revoke the principal's sessions and rotate its credentials."
	f.Fingerprint = detectors.Fingerprint(RuleOffHours, o.account, o.id)
	f.GroupKey = detectors.Fingerprint(RuleOffHours, o.account, o.pkey)
	return f
}
