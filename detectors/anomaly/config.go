package anomaly

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // time zones work on hosts without zoneinfo files

	"github.com/trailhound/trailhound/configs"
)

// Config is the detectors.anomaly section of the config file. The zero
// value of every field takes the default documented on it (and in
// configs/example.yaml); Decode fills them in.
type Config struct {
	// Learning is how much history a key (principal or account) needs
	// before first-seen, off-hours, spike and location findings fire for
	// it.
	Learning Learning `yaml:"learning"`
	// Limits bound memory and storage.
	Limits Limits `yaml:"limits"`
	// GeoIP names optional MaxMind databases for the location detector.
	GeoIP GeoIPConfig `yaml:"geoip"`

	// FirstSeen, OffHours, Spike, Location and Silence tune each
	// detector.
	FirstSeen FirstSeenConfig `yaml:"first_seen"`
	OffHours  OffHoursConfig  `yaml:"off_hours"`
	Spike     SpikeConfig     `yaml:"spike"`
	Location  LocationConfig  `yaml:"location"`
	Silence   SilenceConfig   `yaml:"silence"`
}

// Learning is the learning period of a key.
type Learning struct {
	// MinAge is how long ago (in event time) the key must have first been
	// seen. Default 7d.
	MinAge configs.Duration `yaml:"min_age"`
	// MinEvents is how many events of the key must have been learned.
	// Default 50.
	MinEvents int64 `yaml:"min_events"`
}

// Limits bound what the detectors keep. Every detector keeps at most
// MaxKeys keys (least recently active dropped first), each key at most
// MaxTerms values per kind (least recently seen dropped first, after
// which that kind of the key is no longer judged: it is too varied to
// call anything new), and drops keys not seen for StaleAfter.
type Limits struct {
	// MaxKeys per detector. Default 20000.
	MaxKeys int `yaml:"max_keys"`
	// MaxTerms per kind (source networks, user agent families, API calls,
	// countries...) per key. Default 500.
	MaxTerms int `yaml:"max_terms"`
	// StaleAfter drops keys not seen for this long, in event time.
	// Default 90d.
	StaleAfter configs.Duration `yaml:"stale_after"`
	// RecentEvents is how many recent event IDs are remembered so an event
	// read twice (overlapping sources or windows) is learned once.
	// Default 100000.
	RecentEvents int `yaml:"recent_events"`
}

// GeoIPConfig names the MaxMind-format databases. Both are optional.
type GeoIPConfig struct {
	// CityDatabase is a GeoLite2-City or GeoLite2-Country .mmdb file
	// (relative paths are relative to the config file).
	CityDatabase string `yaml:"city_database"`
	// ASNDatabase is a GeoLite2-ASN .mmdb file.
	ASNDatabase string `yaml:"asn_database"`
}

// FirstSeenConfig configures the first-seen (new term) detector.
type FirstSeenConfig struct {
	// PrincipalTerms are the kinds judged per principal: source_ip,
	// network, user_agent, api_call, region. Default [network, user_agent,
	// api_call].
	PrincipalTerms []string `yaml:"principal_terms"`
	// AccountTerms are the kinds judged per account: region, user_agent,
	// api_call, network. Default [region].
	AccountTerms []string `yaml:"account_terms"`
	// APICalls says which API calls are judged: "sensitive" (successful
	// writes and secret reads, the default) or "all" successful calls.
	APICalls string `yaml:"api_calls"`
}

// OffHoursConfig configures the off-hours detector.
type OffHoursConfig struct {
	// BusinessHours applies to every account not listed in Accounts.
	// Default Mon-Fri 08:00-19:00 UTC.
	BusinessHours BusinessHours `yaml:"business_hours"`
	// Accounts overrides the business hours per account id; fields left
	// out inherit BusinessHours.
	Accounts map[string]BusinessHours `yaml:"accounts"`
	// MinActiveDays is how many distinct days a principal must have been
	// active before its own usual hours count. Default 5.
	MinActiveDays int `yaml:"min_active_days"`
	// UsualHourDays is on how many distinct days a principal must have
	// been active in an hour of the day (or the next or previous hour)
	// for that hour to be usual. Default 3.
	UsualHourDays int `yaml:"usual_hour_days"`
}

// BusinessHours are the working hours of an account.
type BusinessHours struct {
	// TimeZone is an IANA zone name. Default UTC.
	TimeZone string `yaml:"time_zone"`
	// Days are the working days: mon, tue, wed, thu, fri, sat, sun.
	// Default mon-fri.
	Days []string `yaml:"days"`
	// Start and End are HH:MM local times. Default 08:00 and 19:00. End
	// before Start means the hours run overnight.
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// SpikeConfig configures the event-rate spike detector.
type SpikeConfig struct {
	// MinActiveHours is how many active hours of a key must have been
	// learned before its rate is judged. Default 24.
	MinActiveHours int `yaml:"min_active_hours"`
	// MinCount is the least number of events in one hour by a principal
	// that can be a spike. Default 200.
	MinCount int `yaml:"min_count"`
	// AccountMinCount is the same for a whole account. Default 2000.
	AccountMinCount int `yaml:"account_min_count"`
	// Ratio: the hour must have at least Ratio times the key's usual
	// events per active hour. Default 10.
	Ratio float64 `yaml:"ratio"`
	// ZScore: and at least the usual count plus ZScore standard
	// deviations. Default 4.
	ZScore float64 `yaml:"z_score"`
}

// LocationConfig configures the unusual-location detector, which needs
// GeoIP databases.
type LocationConfig struct {
	// NewCountry fires on a principal's first activity from a country.
	// Default true.
	NewCountry *bool `yaml:"new_country"`
	// NewASN fires on a principal's first activity from an autonomous
	// system (needs the ASN database). Default false: networks change
	// often (mobile, travel).
	NewASN bool `yaml:"new_asn"`
	// MaxSpeedKmh is the travel speed above which two sign-ins of one
	// person are impossible. Default 1000.
	MaxSpeedKmh float64 `yaml:"max_speed_kmh"`
	// MinDistanceKm is the least distance between two sign-ins (after
	// subtracting the databases' accuracy radii) that is judged. Default
	// 500.
	MinDistanceKm float64 `yaml:"min_distance_km"`
	// IgnoreASNs are autonomous systems never judged (cloud egress, the
	// corporate VPN). Default [16509, 14618] (Amazon).
	IgnoreASNs []uint32 `yaml:"ignore_asns"`
	// IgnoreNetworks are CIDR ranges never judged.
	IgnoreNetworks []string `yaml:"ignore_networks"`
}

// SilenceConfig configures the silent-source detector.
type SilenceConfig struct {
	// CheckSchedule is when `trailhound run` checks for silent sources.
	// Default "@every 10m".
	CheckSchedule string `yaml:"check_schedule"`
	// By splits a source into keys: any of account, region, log_group.
	// Default: per source only.
	By []string `yaml:"by"`
	// MinGap is the shortest silence reported. Default 1h.
	MinGap configs.Duration `yaml:"min_gap"`
	// Factor times the key's usual longest quiet spell is the silence
	// reported, when that is longer than MinGap. Default 2.
	Factor float64 `yaml:"factor"`
	// MinEvents and MinHistory are how much a key must have been seen
	// before its silence is judged. Defaults 100 and 24h.
	MinEvents  int64            `yaml:"min_events"`
	MinHistory configs.Duration `yaml:"min_history"`
}

// Term kinds of the first-seen detector.
const (
	KindSourceIP  = "source_ip"
	KindNetwork   = "network"
	KindUserAgent = "user_agent"
	KindAPICall   = "api_call"
	KindRegion    = "region"
)

var termKinds = []string{KindSourceIP, KindNetwork, KindUserAgent, KindAPICall, KindRegion}

var silenceDims = []string{"account", "region", "log_group"}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	var c Config
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Learning.MinAge == 0 {
		c.Learning.MinAge = configs.Duration(7 * 24 * time.Hour)
	}
	if c.Learning.MinEvents == 0 {
		c.Learning.MinEvents = 50
	}
	if c.Limits.MaxKeys == 0 {
		c.Limits.MaxKeys = 20000
	}
	if c.Limits.MaxTerms == 0 {
		c.Limits.MaxTerms = 500
	}
	if c.Limits.StaleAfter == 0 {
		c.Limits.StaleAfter = configs.Duration(90 * 24 * time.Hour)
	}
	if c.Limits.RecentEvents == 0 {
		c.Limits.RecentEvents = 100000
	}
	if c.FirstSeen.PrincipalTerms == nil {
		c.FirstSeen.PrincipalTerms = []string{KindNetwork, KindUserAgent, KindAPICall}
	}
	if c.FirstSeen.AccountTerms == nil {
		c.FirstSeen.AccountTerms = []string{KindRegion}
	}
	if c.FirstSeen.APICalls == "" {
		c.FirstSeen.APICalls = "sensitive"
	}
	bh := &c.OffHours.BusinessHours
	if bh.TimeZone == "" {
		bh.TimeZone = "UTC"
	}
	if bh.Days == nil {
		bh.Days = []string{"mon", "tue", "wed", "thu", "fri"}
	}
	if bh.Start == "" {
		bh.Start = "08:00"
	}
	if bh.End == "" {
		bh.End = "19:00"
	}
	for id, a := range c.OffHours.Accounts {
		if a.TimeZone == "" {
			a.TimeZone = bh.TimeZone
		}
		if a.Days == nil {
			a.Days = bh.Days
		}
		if a.Start == "" {
			a.Start = bh.Start
		}
		if a.End == "" {
			a.End = bh.End
		}
		c.OffHours.Accounts[id] = a
	}
	if c.OffHours.MinActiveDays == 0 {
		c.OffHours.MinActiveDays = 5
	}
	if c.OffHours.UsualHourDays == 0 {
		c.OffHours.UsualHourDays = 3
	}
	if c.Spike.MinActiveHours == 0 {
		c.Spike.MinActiveHours = 24
	}
	if c.Spike.MinCount == 0 {
		c.Spike.MinCount = 200
	}
	if c.Spike.AccountMinCount == 0 {
		c.Spike.AccountMinCount = 2000
	}
	if c.Spike.Ratio == 0 {
		c.Spike.Ratio = 10
	}
	if c.Spike.ZScore == 0 {
		c.Spike.ZScore = 4
	}
	if c.Location.NewCountry == nil {
		t := true
		c.Location.NewCountry = &t
	}
	if c.Location.MaxSpeedKmh == 0 {
		c.Location.MaxSpeedKmh = 1000
	}
	if c.Location.MinDistanceKm == 0 {
		c.Location.MinDistanceKm = 500
	}
	if c.Location.IgnoreASNs == nil {
		c.Location.IgnoreASNs = []uint32{16509, 14618}
	}
	if c.Silence.CheckSchedule == "" {
		c.Silence.CheckSchedule = "@every 10m"
	}
	if c.Silence.MinGap == 0 {
		c.Silence.MinGap = configs.Duration(time.Hour)
	}
	if c.Silence.Factor == 0 {
		c.Silence.Factor = 2
	}
	if c.Silence.MinEvents == 0 {
		c.Silence.MinEvents = 100
	}
	if c.Silence.MinHistory == 0 {
		c.Silence.MinHistory = configs.Duration(24 * time.Hour)
	}
}

// rawConfig is Config with each subsection kept whole, so a validation
// error can name the line of the key inside it.
type rawConfig struct {
	Learning  configs.Section `yaml:"learning"`
	Limits    configs.Section `yaml:"limits"`
	GeoIP     configs.Section `yaml:"geoip"`
	FirstSeen configs.Section `yaml:"first_seen"`
	OffHours  configs.Section `yaml:"off_hours"`
	Spike     configs.Section `yaml:"spike"`
	Location  configs.Section `yaml:"location"`
	Silence   configs.Section `yaml:"silence"`
}

// Decode reads the detectors.anomaly section, fills in defaults and checks
// every value, with errors naming file, line and key. An absent section
// gives the defaults.
func Decode(sec configs.Section) (Config, error) {
	var c Config
	var raw rawConfig
	if err := sec.Decode(&raw); err != nil {
		return c, err
	}
	subs := map[string]configs.Section{
		"learning": raw.Learning, "limits": raw.Limits, "geoip": raw.GeoIP, "first_seen": raw.FirstSeen,
		"off_hours": raw.OffHours, "spike": raw.Spike, "location": raw.Location, "silence": raw.Silence,
	}
	for _, d := range []struct {
		sec configs.Section
		v   any
	}{
		{raw.Learning, &c.Learning}, {raw.Limits, &c.Limits}, {raw.GeoIP, &c.GeoIP}, {raw.FirstSeen, &c.FirstSeen},
		{raw.OffHours, &c.OffHours}, {raw.Spike, &c.Spike}, {raw.Location, &c.Location}, {raw.Silence, &c.Silence},
	} {
		if err := d.sec.Decode(d.v); err != nil {
			return c, err
		}
	}
	c.applyDefaults()
	if err := c.validate(); err != nil {
		var ke *keyError
		if errors.As(err, &ke) {
			if s, ok := subs[ke.sec]; ok && !s.IsZero() {
				return c, s.Errorf(ke.key, "%s", ke.msg)
			}
			return c, sec.Errorf(ke.sec+"."+ke.key, "%s", ke.msg)
		}
		return c, err
	}
	return c, nil
}

// Validate checks a Config built in code; Decode does it for files.
func (c *Config) Validate() error { return c.validate() }

// keyError is a validation problem at a key of a subsection.
type keyError struct{ sec, key, msg string }

func (e *keyError) Error() string { return e.sec + "." + e.key + ": " + e.msg }

// bad reports a problem at "sec.key" (a dotted path below the anomaly
// section: the first part names the subsection).
func bad(path, format string, args ...any) error {
	sec, key, _ := strings.Cut(path, ".")
	return &keyError{sec: sec, key: key, msg: fmt.Sprintf(format, args...)}
}

func (c *Config) validate() error {
	switch {
	case c.Learning.MinAge < 0:
		return bad("learning.min_age", "must not be negative")
	case c.Learning.MinEvents < 0:
		return bad("learning.min_events", "must not be negative")
	case c.Limits.MaxKeys < 1:
		return bad("limits.max_keys", "must be at least 1")
	case c.Limits.MaxTerms < 1:
		return bad("limits.max_terms", "must be at least 1")
	case c.Limits.RecentEvents < 1:
		return bad("limits.recent_events", "must be at least 1")
	}
	for i, k := range c.FirstSeen.PrincipalTerms {
		if !slices.Contains(termKinds, k) {
			return bad("first_seen.principal_terms", "item %d: unknown kind %q (want one of %s)", i+1, k, strings.Join(termKinds, ", "))
		}
	}
	for i, k := range c.FirstSeen.AccountTerms {
		if !slices.Contains(termKinds, k) {
			return bad("first_seen.account_terms", "item %d: unknown kind %q (want one of %s)", i+1, k, strings.Join(termKinds, ", "))
		}
	}
	if c.FirstSeen.APICalls != "sensitive" && c.FirstSeen.APICalls != "all" {
		return bad("first_seen.api_calls", "must be sensitive or all, not %q", c.FirstSeen.APICalls)
	}
	if _, err := c.OffHours.BusinessHours.compile(); err != nil {
		return bad("off_hours.business_hours", "%v", err)
	}
	for id, a := range c.OffHours.Accounts {
		if _, err := a.compile(); err != nil {
			return bad("off_hours.accounts", "account %s: %v", id, err)
		}
	}
	switch {
	case c.OffHours.MinActiveDays < 1:
		return bad("off_hours.min_active_days", "must be at least 1")
	case c.OffHours.UsualHourDays < 1:
		return bad("off_hours.usual_hour_days", "must be at least 1")
	case c.Spike.MinActiveHours < 1:
		return bad("spike.min_active_hours", "must be at least 1")
	case c.Spike.MinCount < 1:
		return bad("spike.min_count", "must be at least 1")
	case c.Spike.AccountMinCount < 1:
		return bad("spike.account_min_count", "must be at least 1")
	case c.Spike.Ratio < 1:
		return bad("spike.ratio", "must be at least 1")
	case c.Spike.ZScore < 0:
		return bad("spike.z_score", "must not be negative")
	case c.Location.MaxSpeedKmh <= 0:
		return bad("location.max_speed_kmh", "must be positive")
	case c.Location.MinDistanceKm < 0:
		return bad("location.min_distance_km", "must not be negative")
	}
	for i, n := range c.Location.IgnoreNetworks {
		if _, err := netip.ParsePrefix(n); err != nil {
			return bad("location.ignore_networks", "item %d: %q is not a CIDR range like 192.0.2.0/24", i+1, n)
		}
	}
	if _, err := configs.ParseSchedule(c.Silence.CheckSchedule); err != nil {
		return bad("silence.check_schedule", "invalid schedule %q: %v", c.Silence.CheckSchedule, err)
	}
	for i, d := range c.Silence.By {
		if !slices.Contains(silenceDims, d) {
			return bad("silence.by", "item %d: unknown dimension %q (want any of %s)", i+1, d, strings.Join(silenceDims, ", "))
		}
	}
	switch {
	case c.Silence.MinGap < 0:
		return bad("silence.min_gap", "must not be negative")
	case c.Silence.Factor < 1:
		return bad("silence.factor", "must be at least 1")
	case c.Silence.MinEvents < 1:
		return bad("silence.min_events", "must be at least 1")
	}
	return nil
}

// hours are compiled business hours.
type hours struct {
	loc        *time.Location
	days       [7]bool // by time.Weekday
	start, end int     // minutes after midnight
	text       string  // "Mon-Fri 08:00-19:00 UTC" style, for reasons
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func (b BusinessHours) compile() (*hours, error) {
	loc, err := time.LoadLocation(b.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("unknown time_zone %q", b.TimeZone)
	}
	h := &hours{loc: loc}
	for _, d := range b.Days {
		wd, ok := dayNames[strings.ToLower(strings.TrimSpace(d))]
		if !ok {
			return nil, fmt.Errorf("unknown day %q (want mon, tue, wed, thu, fri, sat or sun)", d)
		}
		h.days[wd] = true
	}
	if h.start, err = parseClock(b.Start); err != nil {
		return nil, fmt.Errorf("start: %v", err)
	}
	if h.end, err = parseClock(b.End); err != nil {
		return nil, fmt.Errorf("end: %v", err)
	}
	if h.start == h.end {
		return nil, fmt.Errorf("start and end are both %s", b.Start)
	}
	h.text = fmt.Sprintf("%s %s-%s %s", h.daysText(), b.Start, b.End, b.TimeZone)
	return h, nil
}

// daysText names the working days Monday first, runs joined: "Mon-Fri",
// "Mon-Wed, Sat".
func (h *hours) daysText() string {
	names := []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	order := []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday}
	var parts []string
	for i := 0; i < len(order); {
		if !h.days[order[i]] {
			i++
			continue
		}
		j := i
		for j+1 < len(order) && h.days[order[j+1]] {
			j++
		}
		switch {
		case j == i:
			parts = append(parts, names[order[i]])
		case j == i+1:
			parts = append(parts, names[order[i]], names[order[j]])
		default:
			parts = append(parts, names[order[i]]+"-"+names[order[j]])
		}
		i = j + 1
	}
	if len(parts) == 0 {
		return "no days"
	}
	return strings.Join(parts, ", ")
}

func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("%q is not a HH:MM time", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// within reports whether t falls in the business hours. For overnight
// hours (end before start) the day is the day the shift started.
func (h *hours) within(t time.Time) bool {
	lt := t.In(h.loc)
	m := lt.Hour()*60 + lt.Minute()
	if h.start < h.end {
		return h.days[lt.Weekday()] && m >= h.start && m < h.end
	}
	if m >= h.start {
		return h.days[lt.Weekday()]
	}
	if m < h.end {
		return h.days[(lt.Weekday()+6)%7]
	}
	return false
}
