package workflows

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

var (
	bucketAlerts       = []byte("workflows.alerts")
	bucketFingerprints = []byte("workflows.fingerprints")
	bucketGroups       = []byte("workflows.groups")
	bucketAudit        = []byte("workflows.audit")
	bucketOutbox       = []byte("workflows.outbox")
	// bucketOpen indexes the ids of open alerts, for timers that run every
	// minute.
	bucketOpen = []byte("workflows.open-alerts")
	// bucketFindingTimes keeps, for every finding stored, when it was
	// stored (8-byte big-endian Unix nanoseconds, then its fingerprint)
	// and its event time and alert, so that digests count findings per
	// day of their events, not of the poll that read them.
	bucketFindingTimes = []byte("workflows.finding-times")
)

// findingTime is the value of a bucketFindingTimes entry.
type findingTime struct {
	AlertID string    `json:"a"`
	Time    time.Time `json:"t"`
}

// recordFindingTime notes when a finding of an alert happened, keyed by
// when it was stored.
func recordFindingTime(tx *bolt.Tx, now time.Time, f *detectors.Finding, alertID string) error {
	b, err := tx.CreateBucketIfNotExists(bucketFindingTimes)
	if err != nil {
		return err
	}
	v, err := json.Marshal(findingTime{AlertID: alertID, Time: f.Time.UTC()})
	if err != nil {
		return err
	}
	return b.Put(append(u64(uint64(now.UnixNano())), f.Fingerprint...), v)
}

// DefaultGroupWindow is how long after its last finding an open alert still
// absorbs similar findings.
const DefaultGroupWindow = 24 * time.Hour

// SystemActor is the actor recorded for changes the bot makes itself.
const SystemActor = "trailhound"

// Store keeps alerts, the audit log and the outbox in bbolt. All state
// changes go through its methods, each in one transaction, and each leaves
// an audit entry.
type Store struct {
	db *bolt.DB
	// Now returns the current time; tests replace it.
	Now func() time.Time
	// GroupWindow overrides the configured group window when positive.
	GroupWindow time.Duration
	// Config holds routing, grouping, escalation, task and verification
	// settings; nil means DefaultConfig.
	Config *Config
	// WriteBack says whether decisions about AWS findings are queued for
	// writing back to AWS (writeback.go).
	WriteBack WriteBackSettings

	// dispatch serialises the outbox's dispatch passes (outbox.go).
	dispatch dispatchLock
	// judgedNow holds findings of events without a time of their own,
	// noted by the job for Ingest (fingerprints.go).
	judgedNow judgedNow
}

var defaultConfig = DefaultConfig()

func (s *Store) config() *Config {
	if s.Config != nil {
		return s.Config
	}
	return defaultConfig
}

// NewStore creates the workflow buckets if needed.
func NewStore(db *bolt.DB) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		fresh := tx.Bucket(bucketFingerprints) == nil
		for _, b := range [][]byte{bucketAlerts, bucketFingerprints, bucketGroups, bucketAudit, bucketOutbox} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		if fresh {
			// A new database has no fingerprints to move to the hourly
			// index (migrateFingerprints).
			hourly, err := tx.CreateBucket(bucketHourFingerprints)
			if err != nil {
				return err
			}
			if err := hourly.SetSequence(1); err != nil {
				return err
			}
		}
		if tx.Bucket(bucketOpen) != nil {
			return nil
		}
		// A database from before the index: build it once.
		open, err := tx.CreateBucket(bucketOpen)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var a struct {
				State State `json:"state"`
			}
			if json.Unmarshal(v, &a) == nil && a.State.Open() {
				return open.Put(k, nil)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("workflows: create buckets: %w", err)
	}
	if err := migrateFingerprints(db); err != nil {
		return nil, err
	}
	return &Store{db: db, Now: time.Now}, nil
}

// DB returns the underlying database.
func (s *Store) DB() *bolt.DB { return s.db }

func (s *Store) now() time.Time { return s.Now().UTC() }

// IngestResult says what storing a batch of findings did.
type IngestResult struct {
	// New are alerts created by the batch.
	New []Alert
	// Grouped are existing alerts whose count grew.
	Grouped []Alert
	// Folded counts the findings that joined an alert instead of opening
	// one: those in Grouped and those that joined an alert of New in the
	// same batch.
	Folded int
	// Duplicates counts findings already stored before.
	Duplicates int
}

// Ingest stores findings in tx: a finding whose fingerprint is known is a
// duplicate and ignored; one whose group key belongs to an alert that is
// not resolved and was last seen within the group window raises that
// alert's count; any other becomes a new alert. New alerts and grouped
// repeats are queued in the outbox in the same transaction.
func (s *Store) Ingest(tx *bolt.Tx, findings []detectors.Finding) (IngestResult, error) {
	var res IngestResult
	now := s.now()
	cfg := s.config()
	window := s.GroupWindow
	if window <= 0 {
		window = cfg.GroupWindow
	}
	groups, alerts := tx.Bucket(bucketGroups), tx.Bucket(bucketAlerts)
	fps, err := fingerprints(tx)
	if err != nil {
		return res, err
	}
	active, err := silences(tx, now)
	if err != nil {
		return res, err
	}
	mutedBy := func(f *detectors.Finding) *Silence {
		for i := range active {
			if active[i].Matches(f) {
				active[i].Matched++
				return &active[i]
			}
		}
		return nil
	}
	touched := map[string]int{}       // alert id -> index in res.Grouped
	rerouted := map[string][]Target{} // alert id -> targets added by a severity rise
	grewNew := map[string]int{}       // alert id of res.New -> its count, once it grew
	// Alerts that findings fold into are read once and written once per
	// call, not once per finding: a batch of thousands of findings that
	// group into a few alerts (each carrying its evidence) would otherwise
	// decode and encode those alerts thousands of times.
	folded := map[string]*Alert{}
	var foldOrder []string
	flushFolded := func() error {
		for _, id := range foldOrder {
			if err := putAlert(tx, folded[id]); err != nil {
				return err
			}
		}
		clear(folded)
		foldOrder = foldOrder[:0]
		return nil
	}
	for _, f := range findings {
		if f.Fingerprint == "" || f.GroupKey == "" {
			return res, fmt.Errorf("workflows: finding of rule %q has no fingerprint or group key", f.RuleID)
		}
		judgedNow := s.takeJudgedNow(&f)
		if key := cfg.groupKey(&f); key != "" {
			f.GroupKey = key
		}
		if f.External != nil {
			// Updates, echoes and principal folds of AWS findings, which
			// read and write alerts themselves.
			if err := flushFolded(); err != nil {
				return res, err
			}
			if out, err := s.ingestExternal(tx, &f, now, window, &res); err != nil || out != ExternalNew {
				if err != nil {
					return res, err
				}
				continue
			}
		}
		if fps.get(&f) != nil {
			res.Duplicates++
			continue
		}
		if id := groups.Get([]byte(f.GroupKey)); id != nil {
			a, ok := folded[string(id)]
			if !ok {
				if a, err = getAlert(tx, string(id)); err != nil {
					return res, err
				}
			}
			if a.State != StateResolved && absDuration(f.Time.Sub(a.LastSeen)) <= window {
				a.Count++
				res.Folded++
				fold(a, &f)
				if f.Severity > a.Severity {
					a.Severity = f.Severity
					// A more severe alert may match more routes.
					g := a.Finding
					g.Severity = a.Severity
					r := cfg.Route(&g)
					if r.DigestOnly {
						// Still below chat: nothing to add.
					} else if a.DigestOnly {
						// Raised above the digest: post it now.
						a.DigestOnly = false
						a.Targets = r.Targets
						rerouted[a.ID] = append(rerouted[a.ID], r.Targets...)
					} else if extra := newTargets(a.Targets, r.Targets); len(extra) > 0 {
						a.Targets = append(a.Targets, extra...)
						rerouted[a.ID] = append(rerouted[a.ID], extra...)
					}
					if a.EscalationPolicy == "" {
						a.EscalationPolicy = r.Policy
					}
				}
				a.UpdatedAt = now
				if !ok {
					folded[a.ID] = a
					foldOrder = append(foldOrder, a.ID)
				}
				if err := fps.put(&f, a.ID, judgedNow); err != nil {
					return res, err
				}
				if err := recordFindingTime(tx, now, &f, a.ID); err != nil {
					return res, err
				}
				if i, ok := touched[a.ID]; ok {
					res.Grouped[i] = *a
				} else if !isNew(res.New, a.ID) {
					touched[a.ID] = len(res.Grouped)
					res.Grouped = append(res.Grouped, *a)
				} else {
					replaceNew(res.New, *a)
					grewNew[a.ID] = a.Count
				}
				continue
			}
		}
		seq, err := alerts.NextSequence()
		if err != nil {
			return res, err
		}
		a := &Alert{
			ID:        "TH-" + strconv.FormatUint(seq, 10),
			State:     StateNew,
			Severity:  f.Severity,
			Finding:   f,
			Count:     1,
			FirstSeen: f.Time,
			LastSeen:  f.Time,
			CreatedAt: now,
			UpdatedAt: now,
		}
		r := cfg.Route(&f)
		a.Routes, a.Targets, a.EscalationPolicy, a.DigestOnly = r.Routes, r.Targets, r.Policy, r.DigestOnly
		if err := prepareExternal(tx, a, &f); err != nil {
			return res, err
		}
		note := f.RuleID + ": " + f.Title + " (routes " + strings.Join(r.Routes, ", ") + ")"
		if sl := mutedBy(&f); sl != nil {
			a.State, a.SuppressedUntil = StateSuppressed, sl.ExpiresAt
			a.LastActor, a.LastAction = sl.CreatedBy, ActionSuppress
			note += " (muted by silence " + sl.ID + ")"
			if err := s.enqueueWriteBack(tx, a, string(ActionSuppress), sl.CreatedBy, "muted by silence "+sl.ID+": "+sl.Reason, now); err != nil {
				return res, err
			}
		} else if asked := cfg.askActors(&f); len(asked) > 0 && !a.DigestOnly {
			a.AskedActors, a.AskedAt = asked, now
		}
		if err := putAlert(tx, a); err != nil {
			return res, err
		}
		if err := fps.put(&f, a.ID, judgedNow); err != nil {
			return res, err
		}
		if err := groups.Put([]byte(f.GroupKey), []byte(a.ID)); err != nil {
			return res, err
		}
		if err := recordFindingTime(tx, now, &f, a.ID); err != nil {
			return res, err
		}
		if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "created", To: string(a.State), Note: note}); err != nil {
			return res, err
		}
		res.New = append(res.New, *a)
	}
	if err := flushFolded(); err != nil {
		return res, err
	}
	for _, sl := range active {
		if sl.Matched > 0 {
			if err := putSilence(tx, &sl); err != nil {
				return res, err
			}
		}
	}
	for _, a := range res.New {
		if a.State == StateSuppressed || a.DigestOnly {
			continue
		}
		if err := enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyNew, CreatedAt: now, Targets: a.Targets}); err != nil {
			return res, err
		}
		if len(a.AskedActors) > 0 {
			if err := s.askActor(tx, &a, now); err != nil {
				return res, err
			}
		}
	}
	// Findings that joined an alert opened in this batch are recorded
	// too, so that the audit trail (and the digest, which counts from it)
	// accounts for every finding.
	for _, a := range res.New {
		if n, ok := grewNew[a.ID]; ok {
			if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "grouped", Note: fmt.Sprintf("count %d", n)}); err != nil {
				return res, err
			}
		}
	}
	for _, a := range res.Grouped {
		if err := appendAudit(tx, AuditEntry{Time: now, Actor: SystemActor, AlertID: a.ID, Action: "grouped", Note: fmt.Sprintf("count %d", a.Count)}); err != nil {
			return res, err
		}
		if a.State == StateSuppressed {
			continue
		}
		if extra := rerouted[a.ID]; len(extra) > 0 {
			if err := enqueueItem(tx, outboxItem{AlertID: a.ID, Kind: NotifyNew, CreatedAt: now, Targets: extra}); err != nil {
				return res, err
			}
		}
		if a.DigestOnly {
			continue
		}
		if err := enqueueRepeat(tx, now, a.ID); err != nil {
			return res, err
		}
	}
	return res, nil
}

// fold adds a finding that joins an alert to the alert's finding: its
// time, the events behind it, and its evidence, up to
// detectors.MaxEvidence events in all.
func fold(a *Alert, f *detectors.Finding) {
	if f.Time.After(a.LastSeen) {
		a.LastSeen = f.Time
	}
	a.Finding.EventCount = max(a.Finding.EventCount, 1) + max(f.EventCount, 1)
next:
	for _, ev := range f.Evidence {
		if len(a.Finding.Evidence) >= detectors.MaxEvidence {
			break
		}
		for _, have := range a.Finding.Evidence {
			if bytes.Equal(have, ev) {
				continue next
			}
		}
		a.Finding.Evidence = append(a.Finding.Evidence, ev)
	}
}

// newTargets returns the targets of want not in have.
func newTargets(have, want []Target) []Target {
	var out []Target
	for _, t := range want {
		dup := false
		for _, h := range have {
			dup = dup || h.equal(t)
		}
		if !dup {
			out = append(out, t)
		}
	}
	return out
}

// merge adds the result of a later batch of the same poll: an alert
// grouped again keeps only its latest state.
func (r *IngestResult) merge(o IngestResult) {
	r.New = append(r.New, o.New...)
	r.Duplicates += o.Duplicates
	r.Folded += o.Folded
	for _, a := range o.Grouped {
		replaced := false
		for i := range r.Grouped {
			if r.Grouped[i].ID == a.ID {
				r.Grouped[i], replaced = a, true
			}
		}
		if !replaced {
			r.Grouped = append(r.Grouped, a)
		}
	}
}

func isNew(as []Alert, id string) bool {
	for _, a := range as {
		if a.ID == id {
			return true
		}
	}
	return false
}

func replaceNew(as []Alert, a Alert) {
	for i := range as {
		if as[i].ID == a.ID {
			as[i] = a
		}
	}
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Get returns one alert.
func (s *Store) Get(id string) (Alert, error) {
	var a *Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		a, err = getAlert(tx, id)
		return err
	})
	if err != nil {
		return Alert{}, err
	}
	return *a, nil
}

func getAlert(tx *bolt.Tx, id string) (*Alert, error) {
	v := tx.Bucket(bucketAlerts).Get([]byte(id))
	if v == nil {
		return nil, fmt.Errorf("alert %s: %w", id, ErrNotFound)
	}
	var a Alert
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, fmt.Errorf("workflows: alert %s is corrupt: %w", id, err)
	}
	return &a, nil
}

func putAlert(tx *bolt.Tx, a *Alert) error {
	v, err := json.Marshal(a)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketAlerts).Put([]byte(a.ID), v); err != nil {
		return err
	}
	if a.State.Open() {
		return tx.Bucket(bucketOpen).Put([]byte(a.ID), nil)
	}
	return tx.Bucket(bucketOpen).Delete([]byte(a.ID))
}

// openAlertIDs lists the ids of open alerts.
func openAlertIDs(tx *bolt.Tx) []string {
	var out []string
	_ = tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
		out = append(out, string(k))
		return nil
	})
	return out
}

// Change is a request to act on an alert.
type Change struct {
	AlertID string
	Action  Action
	// Actor is who acts, as "slack:U123", "discord:456" or "cli:alice".
	Actor string
	Note  string
	// Until ends a suppression; zero means 24 hours from now.
	Until time.Time
}

// Apply performs a lifecycle action on an alert, records it in the audit
// log and queues a message update, all in one transaction. It returns the
// alert as changed.
func (s *Store) Apply(c Change) (Alert, error) {
	var out Alert
	err := s.db.Update(func(tx *bolt.Tx) error {
		a, err := s.apply(tx, c, s.now())
		if err != nil {
			return err
		}
		out = *a
		return nil
	})
	return out, err
}

func (s *Store) apply(tx *bolt.Tx, c Change, now time.Time) (*Alert, error) {
	a, err := getAlert(tx, c.AlertID)
	if err != nil {
		return nil, err
	}
	to, err := transition(a.State, c.Action)
	if err == nil {
		err = s.config().refuseRepeat(a, c, now)
	}
	if err != nil {
		return nil, fmt.Errorf("alert %s: %w", a.ID, err)
	}
	from := a.State
	a.State = to
	a.LastActor, a.LastAction, a.UpdatedAt = c.Actor, c.Action, now
	switch c.Action {
	case ActionAcknowledge:
		if a.AcknowledgedAt.IsZero() {
			a.AcknowledgedAt = now
		}
	case ActionEscalate:
		a.EscalationLevel++
		a.EscalatedAt = now
	case ActionResolve:
		a.Resolution, a.ResolvedAt = "fixed", now
	case ActionFalsePositive:
		a.Resolution, a.ResolvedAt = "false_positive", now
	case ActionSuppress:
		until := c.Until
		if until.IsZero() {
			until = now.Add(24 * time.Hour)
		}
		if !until.After(now) || until.Sub(now) > MaxSilence {
			return nil, fmt.Errorf("alert %s: suppression must end between now and %d days from now", a.ID, int(MaxSilence.Hours()/24))
		}
		a.SuppressedUntil = until
		// Similar findings that would open new alerts are muted too.
		b, err := tx.CreateBucketIfNotExists(bucketSilences)
		if err != nil {
			return nil, err
		}
		seq, err := b.NextSequence()
		if err != nil {
			return nil, err
		}
		sl := Silence{ID: "S-" + strconv.FormatUint(seq, 10), GroupKey: a.Finding.GroupKey, RuleID: a.Finding.RuleID, Reason: c.Note, CreatedBy: c.Actor, CreatedAt: now, ExpiresAt: until}
		if sl.Reason == "" {
			sl.Reason = "similar to " + a.ID
		}
		if err := putSilence(tx, &sl); err != nil {
			return nil, err
		}
	case ActionReopen:
		a.Resolution, a.ResolvedAt, a.SuppressedUntil = "", time.Time{}, time.Time{}
	}
	if err := putAlert(tx, a); err != nil {
		return nil, err
	}
	note := c.Note
	if c.Action == ActionSuppress {
		note = strings.TrimSpace(note + " (until " + a.SuppressedUntil.Format(time.RFC3339) + ")")
	}
	if err := appendAudit(tx, AuditEntry{Time: now, Actor: c.Actor, AlertID: a.ID, Action: string(c.Action), From: string(from), To: string(to), Note: note}); err != nil {
		return nil, err
	}
	if err := enqueue(tx, now, a.ID, NotifyUpdate); err != nil {
		return nil, err
	}
	if err := s.enqueueWriteBack(tx, a, string(c.Action), c.Actor, note, now); err != nil {
		return nil, err
	}
	if c.Action == ActionEscalate {
		if err := s.enqueueEscalation(tx, a, now, c.Note); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Filter selects alerts. Zero fields match everything.
type Filter struct {
	// Since keeps alerts last seen at or after it.
	Since       time.Time
	MinSeverity detectors.Severity
	RuleID      string
	Account     string
	// States keeps alerts in one of these states.
	States []State
	// Limit caps the result; 0 means no cap.
	Limit int
}

func (f Filter) match(a *Alert) bool {
	if !f.Since.IsZero() && a.LastSeen.Before(f.Since) {
		return false
	}
	if a.Severity < f.MinSeverity {
		return false
	}
	if f.RuleID != "" && a.Finding.RuleID != f.RuleID {
		return false
	}
	if f.Account != "" && a.Finding.Account != f.Account {
		return false
	}
	if len(f.States) > 0 {
		ok := false
		for _, s := range f.States {
			ok = ok || a.State == s
		}
		if !ok {
			return false
		}
	}
	return true
}

// List returns the alerts matching f, most severe first, then newest.
func (s *Store) List(f Filter) ([]Alert, error) {
	var out []Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAlerts).ForEach(func(k, v []byte) error {
			var a Alert
			if err := json.Unmarshal(v, &a); err != nil {
				return fmt.Errorf("workflows: alert %s is corrupt: %w", k, err)
			}
			if f.match(&a) {
				out = append(out, a)
			}
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Severity != out[j].Severity {
			return out[i].Severity > out[j].Severity
		}
		return out[i].LastSeen.After(out[j].LastSeen)
	})
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, err
}

// FindByFingerprint returns the alert a finding was stored in. Not
// knowing the finding's time, it may read the whole fingerprint index:
// for tools and tests; AlertIDs looks findings up by their time.
func (s *Store) FindByFingerprint(fp string) (Alert, error) {
	var a *Alert
	err := s.db.View(func(tx *bolt.Tx) error {
		x, err := fingerprints(tx)
		if err != nil {
			return err
		}
		id := x.find(fp)
		if id == nil {
			return fmt.Errorf("fingerprint %s: %w", fp, ErrNotFound)
		}
		a, err = getAlert(tx, string(id))
		return err
	})
	if err != nil {
		return Alert{}, err
	}
	return *a, nil
}

func appendAudit(tx *bolt.Tx, e AuditEntry) error {
	b := tx.Bucket(bucketAudit)
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return b.Put(u64(seq), v)
}

// AppendAudit records an entry in the caller's transaction, for changes
// made outside Store (tasks, silences, refused actions).
func AppendAudit(tx *bolt.Tx, e AuditEntry) error {
	if _, err := tx.CreateBucketIfNotExists(bucketAudit); err != nil {
		return err
	}
	return appendAudit(tx, e)
}

// Audit records an entry in its own transaction.
func (s *Store) Audit(e AuditEntry) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	return s.db.Update(func(tx *bolt.Tx) error { return appendAudit(tx, e) })
}

// AuditLog returns the audit entries of one alert (all entries when
// alertID is empty), oldest first.
func (s *Store) AuditLog(alertID string) ([]AuditEntry, error) {
	var out []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketAudit).ForEach(func(_, v []byte) error {
			var e AuditEntry
			if err := json.Unmarshal(v, &e); err != nil {
				return fmt.Errorf("workflows: audit entry is corrupt: %w", err)
			}
			if alertID == "" || e.AlertID == alertID {
				out = append(out, e)
			}
			return nil
		})
	})
	return out, err
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
