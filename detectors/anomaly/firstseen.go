package anomaly

import (
	"context"
	"fmt"
	"sync"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// FirstSeen finds a principal doing something it has not done in its
// history: a new source network or address, user agent family, region or
// sensitive API call; and an account's first activity in a region. Each
// principal (and account) keeps at most Limits.MaxTerms values per kind.
type FirstSeen struct {
	env *env
	mu  sync.Mutex
	tab *table[fsProfile]
}

// fsProfile is the baseline of one principal or account.
type fsProfile struct {
	H    history             `json:"h"`
	Sets map[string]*termSet `json:"s,omitempty"`
}

func newFirstSeen(e *env) *FirstSeen {
	return &FirstSeen{env: e, tab: newTable("detectors.anomaly.first-seen", e.cfg.Limits, e.log, func(p *fsProfile) int64 { return p.H.Last })}
}

// ID implements detectors.Detector.
func (*FirstSeen) ID() string { return RuleFirstSeen }

// Detect implements detectors.Detector.
func (d *FirstSeen) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	o := d.env.obs.of(ev)
	if d.env.skip(o, bitFirstSeen) {
		return nil, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.observe(o, ev), nil
}

func (d *FirstSeen) learn(o *obs) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.observe(o, nil)
}

// Save implements detectors.Stateful.
func (d *FirstSeen) Save(tx *bolt.Tx) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.tab.save(tx); err != nil {
		return fmt.Errorf("anomaly: save first-seen state: %w", err)
	}
	return nil
}

// observe judges o against the baselines when ev is not nil, then learns
// it.
func (d *FirstSeen) observe(o *obs, ev *sources.Event) []detectors.Finding {
	var out []detectors.Finding
	if o.pkey != "" {
		key := "principal|" + o.account + "|" + o.pkey
		out = d.observeKey(key, false, d.env.cfg.FirstSeen.PrincipalTerms, o, ev, out)
	}
	if o.account != "" {
		out = d.observeKey("account|"+o.account, true, d.env.cfg.FirstSeen.AccountTerms, o, ev, out)
	}
	return out
}

func (d *FirstSeen) observeKey(key string, account bool, kinds []string, o *obs, ev *sources.Event, out []detectors.Finding) []detectors.Finding {
	p := d.tab.get(key, true)
	judge := ev != nil && p.H.mature(d.env.cfg.Learning, o.t)
	for _, kind := range kinds {
		v, judgeable := d.term(kind, account, o)
		if v == "" {
			continue
		}
		if p.Sets == nil {
			p.Sets = make(map[string]*termSet)
		}
		set := p.Sets[kind]
		if set == nil {
			set = &termSet{}
			p.Sets[kind] = set
		}
		if judge && judgeable && !set.Full && !set.has(v) {
			out = append(out, d.finding(kind, account, v, set, p, o, ev))
		}
		set.add(v, o.t, d.env.cfg.Limits.MaxTerms)
	}
	p.H.observe(o.t)
	d.tab.touch(key, o.t)
	return out
}

// term returns the value of kind in o ("" when it has none, or it is not
// to be learned) and whether a new value of it is worth a finding.
func (d *FirstSeen) term(kind string, account bool, o *obs) (v string, judgeable bool) {
	switch kind {
	case KindRegion:
		return o.region, true
	case KindSourceIP:
		if o.ip.IsValid() {
			return o.ip.String(), true
		}
	case KindNetwork:
		return o.network, o.network != ""
	case KindUserAgent:
		if o.viaService || o.uaFamily == "" {
			return "", false
		}
		return o.uaFamily, true
	case KindAPICall:
		// Calls that failed were not used; calls AWS made on the
		// principal's behalf are not its choice.
		if o.failed || o.viaService || o.api == "" {
			return "", false
		}
		return o.api, o.sensitive || d.env.cfg.FirstSeen.APICalls == "all"
	}
	return "", false
}

func (d *FirstSeen) finding(kind string, account bool, v string, set *termSet, p *fsProfile, o *obs, ev *sources.Event) detectors.Finding {
	f := detectors.FromEvent(RuleFirstSeen, ev)
	f.Tags = []string{"anomaly", "first-seen", "first-seen:" + kind}
	hist := p.H.describe(o.t)
	who := o.pname
	scope := "principal"
	if account {
		who = "account " + o.account
		scope = "account"
	}
	known := set.recentList(5)
	switch kind {
	case KindAPICall:
		f.Title = "First use of an API call by this principal"
		f.Severity = detectors.Low
		f.Reason = fmt.Sprintf("first call of %s by %s in %s", v, who, hist)
		f.Description = "A principal made a sensitive call (a change, or a read of secrets or credentials) it had not made before in its baseline. New calls are how stolen credentials are put to use: persistence, privilege escalation, exfiltration."
		f.Recommendation = "Confirm with the owner that the call was intended. If not, treat the credentials as compromised: deactivate the access key or revoke the role's sessions, and review what else the principal did since."
	case KindUserAgent:
		f.Title = "New client (user agent) for this principal"
		f.Severity = detectors.Medium
		f.Technique = "T1078.004"
		f.Reason = fmt.Sprintf("first use of %q by %s in %s; known: %s", v, who, hist, known)
		f.Description = "The principal's calls came from a kind of client it had never used (for example an SDK or attack tool instead of its usual CLI or console): a sign that someone else holds its credentials."
		f.Recommendation = "Ask the owner whether they changed tools. If not, rotate the principal's credentials and check the new client's calls."
	case KindNetwork, KindSourceIP:
		f.Title = "Activity from a new network"
		f.Severity = detectors.Low
		if kind == KindSourceIP {
			f.Title = "Activity from a new source address"
			f.Severity = detectors.Info
		}
		f.Technique = "T1078.004"
		f.Reason = fmt.Sprintf("first activity of %s from %s in %s; known: %s", who, v, hist, known)
		f.Description = "The principal acted from an address range it had not used before. Alone this is common (travel, new office, VPN); together with a new client or new calls it points to stolen credentials."
		f.Recommendation = "Check who owns the address range. If it is not yours or a known provider of the owner, rotate the credentials."
	case KindRegion:
		f.Title = "Activity in a new region"
		f.Severity = detectors.Low
		if account {
			f.Title = "First activity in a region of this account"
			f.Severity = detectors.Medium
		}
		f.Technique = "T1535"
		f.Reason = fmt.Sprintf("first activity in region %s by %s in %s; known: %s", v, who, hist, known)
		f.Description = "Activity appeared in a region not used before. Attackers favour unused regions (crypto-mining, hiding resources) where nobody looks."
		f.Recommendation = "Check what was created in the region; if the account should not use it, deny it with a service control policy (aws:RequestedRegion)."
	}
	f.Fingerprint = detectors.Fingerprint(RuleFirstSeen, o.account, o.id, scope, kind, v)
	if account {
		f.GroupKey = detectors.Fingerprint(RuleFirstSeen, o.account, "account")
	} else {
		// One alert per principal gathers all its new behaviour.
		f.GroupKey = detectors.Fingerprint(RuleFirstSeen, o.account, o.pkey)
	}
	return f
}
