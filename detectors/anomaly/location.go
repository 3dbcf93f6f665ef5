package anomaly

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/anomaly/geo"
	"github.com/trailhound/trailhound/sources"
)

// Location finds a principal's first activity from a country (and, when
// asked, an autonomous system), and impossible travel: two sign-ins of one
// person (console sign-ins, or the first use of a new address) whose
// distance and time apart imply a speed above Config.Location.MaxSpeedKmh.
// It needs a GeoIP database (Config.GeoIP); without one it does nothing.
// Private, carrier-grade NAT and AWS-internal addresses, and the ignored
// networks and autonomous systems, are never judged.
type Location struct {
	env     *env
	enabled bool
	ignore  []netip.Prefix
	mu      sync.Mutex
	tab     *table[locProfile]
}

// locProfile is one principal's places.
type locProfile struct {
	H         history `json:"h"`
	Countries termSet `json:"countries"`
	ASNs      termSet `json:"asns"`
	// IPs are the addresses seen lately, to tell the first use of one.
	IPs termSet `json:"ips"`
	// Anchor is the place of the last sign-in.
	Anchor *anchor `json:"anchor,omitempty"`
}

type anchor struct {
	T      int64   `json:"t"`
	IP     string  `json:"ip"`
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Radius float64 `json:"r"`
	Place  string  `json:"place"`
}

func newLocation(e *env, g *geo.DB) *Location {
	d := &Location{env: e, enabled: g != nil}
	for _, n := range e.cfg.Location.IgnoreNetworks {
		if p, err := netip.ParsePrefix(n); err == nil {
			d.ignore = append(d.ignore, p.Masked())
		}
	}
	d.tab = newTable("detectors.anomaly.location", e.cfg.Limits, e.log, func(p *locProfile) int64 { return p.H.Last })
	return d
}

// ID implements detectors.Detector.
func (*Location) ID() string { return RuleUnusualLocation }

// Detect implements detectors.Detector.
func (d *Location) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	if !d.enabled {
		return nil, nil
	}
	o := d.env.obs.of(ev)
	if d.env.skip(o, bitLocation) {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.observe(o, ev), nil
}

func (d *Location) learn(o *obs) {
	if !d.enabled {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(o, nil)
}

// Save implements detectors.Stateful.
func (d *Location) Save(tx *bolt.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tab.save(tx); err != nil {
		return fmt.Errorf("anomaly: save location state: %w", err)
	}
	return nil
}

func (d *Location) ignored(o *obs) bool {
	if !o.public || o.loc == nil || o.viaService {
		return true
	}
	if o.loc.ASN != 0 && slices.Contains(d.env.cfg.Location.IgnoreASNs, o.loc.ASN) {
		return true
	}
	for _, p := range d.ignore {
		if p.Contains(o.ip) {
			return true
		}
	}
	return false
}

func (d *Location) observe(o *obs, ev *sources.Event) []detectors.Finding {
	if o.pkey == "" || d.ignored(o) {
		return nil
	}
	cfg := d.env.cfg.Location
	key := "principal|" + o.account + "|" + o.pkey
	p := d.tab.get(key, true)
	judge := ev != nil && p.H.mature(d.env.cfg.Learning, o.t)
	loc := o.loc
	ip := o.ip.String()
	asn := ""
	if loc.ASN != 0 {
		asn = "AS" + strconv.FormatUint(uint64(loc.ASN), 10)
	}
	var out []detectors.Finding
	if judge && *cfg.NewCountry && loc.Country != "" && !p.Countries.Full && !p.Countries.has(loc.Country) {
		f := d.base(ev, o)
		f.Title = "Activity from a new country"
		f.Severity = detectors.Medium
		f.Reason = fmt.Sprintf("first activity of %s from %s (%s, %s) in %s; known countries: %s", o.pname, countryText(loc), ip, loc.Place(), p.H.describe(o.t), p.Countries.recentList(5))
		f.Fingerprint = detectors.Fingerprint(RuleUnusualLocation, o.account, o.id, "country", loc.Country)
		out = append(out, f)
	}
	if judge && cfg.NewASN && asn != "" && !p.ASNs.Full && !p.ASNs.has(asn) {
		f := d.base(ev, o)
		f.Title = "Activity from a new network provider"
		f.Severity = detectors.Low
		f.Reason = fmt.Sprintf("first activity of %s from %s %s (%s) in %s; known: %s", o.pname, asn, loc.ASOrg, ip, p.H.describe(o.t), p.ASNs.recentList(5))
		f.Fingerprint = detectors.Fingerprint(RuleUnusualLocation, o.account, o.id, "asn", asn)
		out = append(out, f)
	}
	// Impossible travel is judged between two sign-ins of a person
	// whatever the learning period: two points are all it needs.
	if o.person && loc.HasCoords && (o.signin || !p.IPs.has(ip)) {
		here := &anchor{T: o.t.Unix(), IP: ip, Lat: loc.Lat, Lon: loc.Lon, Radius: loc.RadiusKm, Place: loc.Place()}
		if a := p.Anchor; a != nil && a.IP != ip {
			if f, ok := d.travel(o, ev, a, here); ok {
				out = append(out, f)
			}
		}
		if p.Anchor == nil || here.T >= p.Anchor.T {
			p.Anchor = here
		}
	}
	if loc.Country != "" {
		p.Countries.add(loc.Country, o.t, d.env.cfg.Limits.MaxTerms)
	}
	if asn != "" {
		p.ASNs.add(asn, o.t, d.env.cfg.Limits.MaxTerms)
	}
	p.IPs.add(ip, o.t, d.env.cfg.Limits.MaxTerms)
	p.H.observe(o.t)
	d.tab.touch(key, o.t)
	return out
}

// travel judges the move from a to b; ev nil means learning only.
func (d *Location) travel(o *obs, ev *sources.Event, a, b *anchor) (detectors.Finding, bool) {
	if ev == nil {
		return detectors.Finding{}, false
	}
	cfg := d.env.cfg.Location
	raw := geo.DistanceKm(a.Lat, a.Lon, b.Lat, b.Lon)
	// Give both places the benefit of their accuracy radius.
	dist := raw - a.Radius - b.Radius
	if dist < cfg.MinDistanceKm {
		return detectors.Finding{}, false
	}
	dt := time.Duration(math.Abs(float64(b.T-a.T))) * time.Second
	hours := math.Max(dt.Hours(), 1.0/60) // a minute at least: clocks and delivery differ
	speed := dist / hours
	if speed <= cfg.MaxSpeedKmh {
		return detectors.Finding{}, false
	}
	f := d.base(ev, o)
	f.RuleID = RuleImpossibleTravel
	f.Title = "Impossible travel between sign-ins"
	f.Severity = detectors.High
	f.Tags = []string{"anomaly", "location", "impossible-travel"}
	f.Reason = fmt.Sprintf("%s acted from %s (%s) %s after %s (%s): %.0f km apart, %.0f km/h (limit %.0f km/h)",
		o.pname, b.Place, b.IP, shortDur(dt), a.Place, a.IP, raw, speed, cfg.MaxSpeedKmh)
	f.Description = "The same person was in two places too far apart for the time between them. One of the two is very likely someone else using their credentials or session."
	f.Recommendation = "Ask the person which of the two was them; revoke the sessions and rotate the credentials, and check what was done from the other place."
	f.Fingerprint = detectors.Fingerprint(RuleImpossibleTravel, o.account, o.id)
	f.GroupKey = detectors.Fingerprint(RuleImpossibleTravel, o.account, o.pkey)
	return f, true
}

func (d *Location) base(ev *sources.Event, o *obs) detectors.Finding {
	f := detectors.FromEvent(RuleUnusualLocation, ev)
	f.Tags = []string{"anomaly", "location"}
	f.Technique = "T1078.004"
	f.Description = "The principal acted from a place it had not acted from in its baseline. With a new client or unusual calls, this points to stolen credentials."
	f.Recommendation = "Ask the owner whether they travel or use a new VPN. If not, revoke the principal's sessions and rotate its credentials."
	f.GroupKey = detectors.Fingerprint(RuleUnusualLocation, o.account, o.pkey)
	return f
}

func countryText(l *geo.Location) string {
	if l.CountryName != "" && l.CountryName != l.Country {
		return l.CountryName + " (" + l.Country + ")"
	}
	return l.Country
}
