package anomaly

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// LearnCount feeds the baselines n events like ev, as an aggregate query
// counted them (`trailhound baseline` over Athena): the same principal,
// address, client, API and outcome, n times, at times spread evenly from
// ev.Time to last (the group's first and last event; one hour at most).
// First-seen sets, hour-of-day histograms and hourly rates learn exactly
// what the n events would have taught; the silence detector's gaps, which
// depend on the times between events, are learned at the spread times.
// Each copy gets an id derived from ev.ID, so that learning the same
// aggregate twice is caught like a repeated event. It returns how many
// copies were learned.
func (s *Suite) LearnCount(ev *sources.Event, n int, last time.Time) int {
	first := ev.Time
	span := time.Duration(0)
	if last.After(first) {
		span = last.Sub(first)
	}
	learned := 0
	for i := 0; i < n; i++ {
		c := *ev
		c.ID = ev.ID + "#" + strconv.Itoa(i)
		if n > 1 {
			c.Time = first.Add(time.Duration(int64(span) / int64(n-1) * int64(i)))
		}
		if s.Learn(&c) {
			learned++
		}
	}
	return learned
}

// DetectCount judges the events ev.Tally counted with every detector of
// the suite, as the engine does for an event with a Tally, and returns
// the findings they raise.
func (s *Suite) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	var out []detectors.Finding
	var errs []error
	for _, d := range s.Detectors() {
		fs, err := d.(detectors.Counter).DetectCount(ctx, ev)
		if err != nil {
			errs = append(errs, fmt.Errorf("anomaly: detector %s: %w", d.ID(), err))
		}
		out = append(out, fs...)
	}
	return out, errors.Join(errs...)
}

// detectCount judges, with detect, the events ev.Tally counted (a
// per-poll aggregate query): the copies LearnCount would learn, ids
// ev.Tally.Key#0 to #Count-1 at times spread from ev.Time to
// ev.Tally.Last, in order. First-seen keys, hourly rates, off-hours calls
// and locations are judged as the Count events fed one by one would be.
// A copy judged already (a group read again in the window's overlap,
// perhaps grown since) is skipped by the detectors' recent-events
// filter, and a finding's fingerprint depends only on the group key and
// the copy's rank, so reading a group again raises no duplicate. The
// findings name the group's sample event as theirs.
func detectCount(ctx context.Context, ev *sources.Event, detect func(context.Context, *sources.Event) ([]detectors.Finding, error)) ([]detectors.Finding, error) {
	t := ev.Tally
	if t == nil || t.Count < 1 {
		return nil, nil
	}
	key := t.Key
	if key == "" {
		key = ev.ID
	}
	first := ev.Time
	span := time.Duration(0)
	if t.Last.After(first) {
		span = t.Last.Sub(first)
	}
	var out []detectors.Finding
	for i := 0; i < t.Count; i++ {
		c := *ev
		c.Tally = nil
		c.ID = key + "#" + strconv.Itoa(i)
		if t.Count > 1 {
			c.Time = first.Add(time.Duration(int64(span) / int64(t.Count-1) * int64(i)))
		}
		fs, err := detect(ctx, &c)
		if err != nil {
			return out, err
		}
		for j := range fs {
			if t.Sample != "" {
				fs[j].EventIDs = []string{t.Sample}
			}
		}
		out = append(out, fs...)
	}
	return out, nil
}

// DetectCount implements detectors.Counter.
func (d *FirstSeen) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return detectCount(ctx, ev, d.Detect)
}

// DetectCount implements detectors.Counter.
func (d *Spike) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return detectCount(ctx, ev, d.Detect)
}

// DetectCount implements detectors.Counter.
func (d *OffHours) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return detectCount(ctx, ev, d.Detect)
}

// DetectCount implements detectors.Counter.
func (d *Location) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return detectCount(ctx, ev, d.Detect)
}

// DetectCount implements detectors.Counter.
func (d *Silence) DetectCount(ctx context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	return detectCount(ctx, ev, d.Detect)
}

var (
	_ detectors.Counter = (*FirstSeen)(nil)
	_ detectors.Counter = (*Spike)(nil)
	_ detectors.Counter = (*OffHours)(nil)
	_ detectors.Counter = (*Location)(nil)
	_ detectors.Counter = (*Silence)(nil)
)
