// Package anomaly holds the stateful detectors that judge events against a
// baseline learned from each principal's and account's own history:
//
//   - FirstSeen: a principal's first source network, user agent family or
//     sensitive API call, an account's first region.
//   - Spike: an hour with far more events than the key's usual rate.
//   - OffHours: sensitive calls and console sign-ins outside the account's
//     business hours and the principal's own usual hours.
//   - Location: a principal's first country (or autonomous system), and
//     impossible travel between two sign-ins, from MaxMind databases.
//   - Silence: a log source that stopped sending events.
//
// Baselines are learned from history (`trailhound baseline`, through
// Suite.Learn) and online from every event the detectors see. A key is not
// judged before its learning period (Config.Learning) is over, so new
// principals do not flood alerts. State is loaded from bbolt when the
// suite is built and written back only by Save, in the transaction that
// stores the findings and the source checkpoint; buckets are named
// "detectors.anomaly.*".
package anomaly

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/detectors/anomaly/geo"
	"github.com/trailhound/trailhound/sources"
)

// Rule and detector ids.
const (
	RuleFirstSeen        = "trailhound-first-seen"
	RuleSpike            = "trailhound-rate-spike"
	RuleOffHours         = "trailhound-off-hours"
	RuleUnusualLocation  = "trailhound-unusual-location"
	RuleImpossibleTravel = "trailhound-impossible-travel"
	RuleSourceSilent     = "trailhound-source-silent"
)

// Options are what a suite needs besides its config.
type Options struct {
	// Log receives warnings (corrupt state records, GeoIP errors).
	// Default slog.Default().
	Log *slog.Logger
	// Now is the wall clock, read by the silence check's start-up grace.
	// Default time.Now.
	Now func() time.Time
}

// env is what the detectors of one suite share.
type env struct {
	cfg    Config
	log    *slog.Logger
	obs    *observer
	recent *recent
	cov    *coverage
}

// skip reports whether the event was learned before: inside a span an
// earlier baseline run learned, or already seen by the detector with bit.
func (e *env) skip(o *obs, bit uint8) bool {
	// An event of unknown time (a record without a usable eventTime)
	// cannot be placed in a baseline.
	return o.t.IsZero() || e.cov.covers(o.account, o.t) || e.recent.seen(o.id, bit)
}

// Detector bits in the recent-events filter.
const (
	bitFirstSeen uint8 = 1 << iota
	bitSpike
	bitOffHours
	bitLocation
	bitSilence
)

// Suite is the set of anomaly detectors built from one config, sharing a
// GeoIP database and the record of what was already learned.
type Suite struct {
	// The detectors, also returned by Detectors.
	FirstSeen *FirstSeen
	Spike     *Spike
	OffHours  *OffHours
	Location  *Location
	Silence   *Silence

	env *env
	geo *geo.DB

	// stats of Learn, for the baseline summary.
	learned, skipped int64
	accounts         map[string]*AccountSummary
}

// New builds the suite with its state loaded from db (nil: start empty,
// for tests and dry runs). cfg must have been through Decode or have its
// defaults filled; a zero Config gets the defaults.
func New(db *bolt.DB, cfg Config, opts Options) (*Suite, error) {
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("anomaly: config: %w", err)
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	var g *geo.DB
	if cfg.GeoIP.CityDatabase != "" || cfg.GeoIP.ASNDatabase != "" {
		var err error
		if g, err = geo.Open(cfg.GeoIP.CityDatabase, cfg.GeoIP.ASNDatabase); err != nil {
			return nil, fmt.Errorf("anomaly: %w", err)
		}
	}
	e := &env{cfg: cfg, log: opts.Log, obs: newObserver(g), recent: newRecent(cfg.Limits.RecentEvents), cov: newCoverage()}
	s := &Suite{env: e, geo: g, accounts: map[string]*AccountSummary{}}
	var err error
	if s.OffHours, err = newOffHours(e); err != nil {
		s.Close()
		return nil, err
	}
	s.FirstSeen = newFirstSeen(e)
	s.Spike = newSpike(e)
	s.Location = newLocation(e, g)
	s.Silence = newSilence(e, opts.Now)
	loads := []struct {
		what string
		load func(*bolt.DB) error
	}{
		{"coverage", e.cov.load},
		{"first-seen", s.FirstSeen.tab.load},
		{"spike", s.Spike.tab.load},
		{"off-hours", s.OffHours.tab.load},
		{"location", s.Location.tab.load},
		{"silence", s.Silence.tab.load},
	}
	for _, l := range loads {
		if err := l.load(db); err != nil {
			s.Close()
			return nil, fmt.Errorf("anomaly: load %s state: %w", l.what, err)
		}
	}
	return s, nil
}

// Detectors returns the suite's detectors, for the engine.
func (s *Suite) Detectors() []detectors.Detector {
	return []detectors.Detector{s.FirstSeen, s.Spike, s.OffHours, s.Location, s.Silence}
}

// Learn feeds ev to every detector's baseline without judging it: the
// `trailhound baseline` path. Events inside a span an earlier baseline
// run learned, or seen already, are skipped; Learn reports whether ev was
// learned.
func (s *Suite) Learn(ev *sources.Event) bool {
	o := s.env.obs.of(ev)
	if o.t.IsZero() {
		// Unknown time: nothing to learn about hours or rates.
		s.skipped++
		return false
	}
	a := s.accounts[o.account]
	if a == nil {
		a = &AccountSummary{Account: o.account, From: o.t, To: o.t}
		s.accounts[o.account] = a
	}
	if o.t.Before(a.From) {
		a.From = o.t
	}
	if o.t.After(a.To) {
		a.To = o.t
	}
	if s.env.cov.covers(o.account, o.t) || s.env.recent.seen(o.id, 0xff) {
		s.skipped++
		a.Skipped++
		return false
	}
	s.FirstSeen.learn(o)
	s.Spike.learn(o)
	s.OffHours.learn(o)
	s.Location.learn(o)
	s.Silence.learn(o)
	s.env.cov.note(o.account, o.t)
	s.learned++
	a.Learned++
	return true
}

// Covered widens what this run's Learn calls are recorded to cover back to
// from: a baseline run that read a window from there saw every event of it.
func (s *Suite) Covered(from time.Time) {
	for acct := range s.accounts {
		s.env.cov.extend(acct, from)
	}
}

// Save writes every detector's state and the learned coverage in tx.
func (s *Suite) Save(tx *bolt.Tx) error {
	for _, d := range []detectors.Stateful{s.FirstSeen, s.Spike, s.OffHours, s.Location, s.Silence} {
		if err := d.Save(tx); err != nil {
			return err
		}
	}
	oldest := s.FirstSeen.tab.latest - int64(s.env.cfg.Limits.StaleAfter.D()/time.Second)
	if err := s.env.cov.save(tx, oldest); err != nil {
		return fmt.Errorf("anomaly: save coverage: %w", err)
	}
	return nil
}

// Close releases the GeoIP databases.
func (s *Suite) Close() error {
	if s.geo != nil {
		return s.geo.Close()
	}
	return nil
}

// Summary is what a baseline run learned.
type Summary struct {
	// Learned and Skipped count events Learn took and skipped (already
	// learned by an earlier run, or read twice).
	Learned, Skipped int64
	// Accounts are those with events read, by account id.
	Accounts []AccountSummary
	// Principals and Ready count the principals of those accounts with a
	// baseline, and those past their learning period.
	Principals, Ready int
}

// AccountSummary is what a baseline run learned about one account.
type AccountSummary struct {
	Account string
	// Learned and Skipped count the account's events read in this run,
	// between From and To.
	Learned, Skipped int64
	From, To         time.Time
	// Principals with a baseline, and those past their learning period
	// at To.
	Principals, Ready int
}

// Summary reports what Learn did, with each account's principals judged
// for maturity at the account's last learned event.
func (s *Suite) Summary() Summary {
	out := Summary{Learned: s.learned, Skipped: s.skipped}
	s.FirstSeen.mu.Lock()
	defer s.FirstSeen.mu.Unlock()
	for _, a := range s.accounts {
		as := *a
		prefix := "principal|" + a.Account + "|"
		for k, p := range s.FirstSeen.tab.m {
			if len(k) > len(prefix) && k[:len(prefix)] == prefix {
				as.Principals++
				if p.H.mature(s.env.cfg.Learning, a.To) {
					as.Ready++
				}
			}
		}
		out.Principals += as.Principals
		out.Ready += as.Ready
		out.Accounts = append(out.Accounts, as)
	}
	sort.Slice(out.Accounts, func(i, j int) bool { return out.Accounts[i].Account < out.Accounts[j].Account })
	return out
}

// Checker is a detector that also needs a periodic check, not only events:
// `trailhound run` calls Check on Schedule and stores what it returns.
type Checker interface {
	detectors.Detector
	// Schedule is a cron expression or "@every DURATION".
	Schedule() string
	// Check returns findings due at now.
	Check(ctx context.Context, now time.Time) []detectors.Finding
}

var _ Checker = (*Silence)(nil)
