package anomaly

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// Spike finds an hour in which a principal, or a whole account, made far
// more calls than in its usual active hour. Each key keeps the counts of
// its last three clock hours (late events still count) and a moving mean
// and variance of its past active hours; hours without events are not
// averaged in, so a principal active one hour a day is compared with its
// active hours.
type Spike struct {
	env *env
	mu  sync.Mutex
	tab *table[rateProfile]
}

// rateProfile is one key's rate baseline.
type rateProfile struct {
	H history `json:"h"`
	// Buckets are the counts of the last spikeBuckets clock hours.
	Buckets []hourCount `json:"b,omitempty"`
	// Mean and Var of events per active hour, and how many active hours
	// they cover.
	Mean  float64 `json:"mean"`
	Var   float64 `json:"var"`
	Hours int64   `json:"hours"`
}

type hourCount struct {
	Hour  int64 `json:"h"` // unix seconds / 3600
	N     int64 `json:"n"`
	Fired bool  `json:"fired,omitempty"`
}

const (
	spikeBuckets = 3
	// spikeAlpha weighs a new active hour in the moving mean once more
	// than 1/spikeAlpha hours are learned: about the last 100 active
	// hours count.
	spikeAlpha = 0.01
)

func newSpike(e *env) *Spike {
	return &Spike{env: e, tab: newTable("detectors.anomaly.spike", e.cfg.Limits, e.log, func(p *rateProfile) int64 { return p.H.Last })}
}

// ID implements detectors.Detector.
func (*Spike) ID() string { return RuleSpike }

// Detect implements detectors.Detector.
func (d *Spike) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	o := d.env.obs.of(ev)
	if d.env.skip(o, bitSpike) {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.observe(o, ev), nil
}

func (d *Spike) learn(o *obs) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(o, nil)
}

// Save implements detectors.Stateful.
func (d *Spike) Save(tx *bolt.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tab.save(tx); err != nil {
		return fmt.Errorf("anomaly: save spike state: %w", err)
	}
	return nil
}

func (d *Spike) observe(o *obs, ev *sources.Event) []detectors.Finding {
	var out []detectors.Finding
	if o.pkey != "" && !o.viaService {
		if f, ok := d.count("principal|"+o.account+"|"+o.pkey, o.pname, d.env.cfg.Spike.MinCount, o, ev); ok {
			out = append(out, f)
		}
	}
	if o.account != "" {
		if f, ok := d.count("account|"+o.account, "account "+o.account, d.env.cfg.Spike.AccountMinCount, o, ev); ok {
			out = append(out, f)
		}
	}
	return out
}

func (d *Spike) count(key, who string, minCount int, o *obs, ev *sources.Event) (detectors.Finding, bool) {
	p := d.tab.get(key, true)
	mature := p.H.mature(d.env.cfg.Learning, o.t)
	p.H.observe(o.t)
	d.tab.touch(key, o.t)
	hour := o.t.Unix() / 3600
	b := p.bucket(hour)
	if b == nil {
		return detectors.Finding{}, false // older than the buckets kept
	}
	b.N++
	if ev == nil || b.Fired || !mature || p.Hours < int64(d.env.cfg.Spike.MinActiveHours) {
		return detectors.Finding{}, false
	}
	threshold := p.threshold(d.env.cfg.Spike, minCount)
	if float64(b.N) < threshold {
		return detectors.Finding{}, false
	}
	b.Fired = true
	start := time.Unix(hour*3600, 0).UTC()
	f := detectors.FromEvent(RuleSpike, ev)
	f.Title = "Spike in activity"
	f.Severity = detectors.Medium
	f.Tags = []string{"anomaly", "spike"}
	f.Reason = fmt.Sprintf("%d events by %s in the hour from %s UTC; usually %.0f ± %.0f per active hour over %d active hours (threshold %.0f)",
		b.N, who, start.Format("2006-01-02 15:04"), p.Mean, math.Sqrt(p.Var), p.Hours, math.Ceil(threshold))
	f.Description = "Far more calls than usual in one hour: automation gone wrong, or someone enumerating resources, copying data or brute-forcing with the credentials."
	f.Recommendation = "Look at which calls make up the spike (alert evidence, CloudTrail for the hour). Enumeration (List/Describe/Get) or bulk reads of secrets or objects from an unknown client mean the credentials should be rotated."
	f.EventCount = int(b.N)
	f.Fingerprint = detectors.Fingerprint(RuleSpike, key, fmt.Sprint(hour))
	f.GroupKey = detectors.Fingerprint(RuleSpike, key)
	if strings.HasPrefix(key, "account|") {
		f.Principal = sources.Principal{}
	}
	return f, true
}

// threshold is the count from which an hour is a spike: at least minCount,
// Ratio times the mean, and ZScore deviations above it.
func (p *rateProfile) threshold(c SpikeConfig, minCount int) float64 {
	return math.Max(float64(minCount), math.Max(c.Ratio*p.Mean, p.Mean+c.ZScore*math.Sqrt(p.Var)))
}

// bucket returns the count of hour, folding hours that fall out of the
// window into the moving statistics; nil when hour is older than the
// window.
func (p *rateProfile) bucket(hour int64) *hourCount {
	for i := range p.Buckets {
		if p.Buckets[i].Hour == hour {
			return &p.Buckets[i]
		}
	}
	newest := int64(math.MinInt64)
	for _, b := range p.Buckets {
		newest = max(newest, b.Hour)
	}
	if len(p.Buckets) > 0 && hour <= newest-spikeBuckets {
		return nil
	}
	keep := p.Buckets[:0]
	for _, b := range p.Buckets {
		if b.Hour <= hour-spikeBuckets {
			p.fold(float64(b.N))
			continue
		}
		keep = append(keep, b)
	}
	p.Buckets = append(keep, hourCount{Hour: hour})
	return &p.Buckets[len(p.Buckets)-1]
}

// fold adds one active hour's count to the moving mean and variance: an
// exact running mean for the first hours, then exponential weighting.
func (p *rateProfile) fold(x float64) {
	if x <= 0 {
		return
	}
	p.Hours++
	a := math.Max(spikeAlpha, 1/float64(p.Hours))
	diff := x - p.Mean
	p.Mean += a * diff
	p.Var = (1 - a) * (p.Var + a*diff*diff)
}
