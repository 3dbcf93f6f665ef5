package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// BucketThreshold holds the sliding windows of threshold rules, one key per
// rule and group: "<rule id>\x00<group values>".
var BucketThreshold = []byte("detectors.rules.threshold")

// maxWindowEntries bounds one window's memory; the oldest entries go first.
const maxWindowEntries = 10000

// maxEventIDs caps the event IDs a threshold finding lists.
const maxEventIDs = 100

// thresholdState is the sliding windows of one threshold rule.
type thresholdState struct {
	rule     *Rule
	spec     Threshold
	keyBy    []*accessor
	distinct []*accessor
	windows  map[string][]entry
	dirty    map[string]bool
	latest   time.Time
}

// entry is one counted event.
type entry struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
	// V holds the event's values of the distinct field.
	V []string `json:"v,omitempty"`
}

func newThresholdState(r *Rule, t *Threshold) *thresholdState {
	s := &thresholdState{rule: r, spec: *t, windows: map[string][]entry{}, dirty: map[string]bool{}}
	for _, f := range t.GroupBy {
		s.keyBy = append(s.keyBy, newAccessor(f))
	}
	if len(s.keyBy) == 0 {
		s.keyBy = []*accessor{newAccessor("account"), newAccessor("principal.arn")}
	}
	for _, f := range t.Distinct {
		s.distinct = append(s.distinct, newAccessor(f))
	}
	return s
}

// reset drops all windows, for a fresh run of inline tests.
func (s *thresholdState) reset() {
	s.windows = map[string][]entry{}
	s.dirty = map[string]bool{}
	s.latest = time.Time{}
}

func (s *thresholdState) key(ev *sources.Event) string {
	var b strings.Builder
	for i, a := range s.keyBy {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		v, _ := a.first(ev)
		b.WriteString(v)
	}
	return b.String()
}

// observe counts a matching event and returns a finding when the window
// reaches the threshold. An event already in the window (read again after
// an overlap or a restart) is not counted twice.
func (s *thresholdState) observe(ev *sources.Event) []detectors.Finding {
	key := s.key(ev)
	w := s.windows[key]
	for _, e := range w {
		if e.ID == ev.ID {
			return nil
		}
	}
	e := entry{T: ev.Time, ID: ev.ID}
	if s.distinct != nil {
		for _, a := range s.distinct {
			e.V = a.all(ev, e.V)
		}
		if len(e.V) == 0 {
			return nil
		}
	}
	// Insert in time order; events mostly arrive in order, so search from
	// the end.
	i := len(w)
	for i > 0 && w[i-1].T.After(e.T) {
		i--
	}
	w = append(w, entry{})
	copy(w[i+1:], w[i:])
	w[i] = e
	newest := w[len(w)-1].T
	cut := 0
	for cut < len(w) && newest.Sub(w[cut].T) > s.spec.Window {
		cut++
	}
	if over := len(w) - cut - maxWindowEntries; over > 0 {
		cut += over
	}
	w = w[cut:]
	s.windows[key] = w
	s.dirty[key] = true
	if newest.After(s.latest) {
		s.latest = newest
	}
	if newest.Sub(e.T) > s.spec.Window {
		return nil // a late event outside the current window
	}
	count := len(w)
	var values []string
	if s.distinct != nil {
		values = distinctValues(w)
		count = len(values)
	}
	if count < s.spec.Count {
		return nil
	}
	tv := &thresholdValues{count: count, threshold: s.spec.Count, window: formatWindow(s.spec.Window), values: values}
	f := s.rule.finding(ev, tv)
	f.EventCount = len(w)
	f.EventIDs = f.EventIDs[:0]
	for j := len(w) - 1; j >= 0 && len(f.EventIDs) < maxEventIDs; j-- {
		f.EventIDs = append(f.EventIDs, w[j].ID)
	}
	// The same window state yields the same fingerprint, so re-reading the
	// same events stores nothing twice; each new event past the threshold
	// is a new finding in the same alert group.
	f.Fingerprint = detectors.Fingerprint(s.rule.def.ID, key, w[0].ID, fmt.Sprint(count))
	if len(s.rule.groupBy) == 0 {
		f.GroupKey = detectors.Fingerprint(s.rule.def.ID, key)
	}
	return []detectors.Finding{f}
}

func distinctValues(w []entry) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range w {
		for _, v := range e.V {
			if !seen[v] {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

func formatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func (s *thresholdState) prefix() []byte { return []byte(s.rule.def.ID + "\x00") }

// load reads the rule's windows from the database.
func (s *thresholdState) load(tx *bolt.Tx) error {
	b := tx.Bucket(BucketThreshold)
	if b == nil {
		return nil
	}
	p := s.prefix()
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var w []entry
		if err := json.Unmarshal(v, &w); err != nil {
			return fmt.Errorf("window %q is corrupt: %w", k[len(p):], err)
		}
		sort.SliceStable(w, func(i, j int) bool { return w[i].T.Before(w[j].T) })
		if len(w) > 0 && w[len(w)-1].T.After(s.latest) {
			s.latest = w[len(w)-1].T
		}
		s.windows[string(k[len(p):])] = w
	}
	return nil
}

// save writes changed windows and deletes those that have expired.
func (s *thresholdState) save(tx *bolt.Tx) error {
	if len(s.dirty) == 0 && len(s.windows) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(BucketThreshold)
	if err != nil {
		return err
	}
	p := s.prefix()
	for k, w := range s.windows {
		if len(w) == 0 || s.latest.Sub(w[len(w)-1].T) > s.spec.Window {
			delete(s.windows, k)
			if err := b.Delete(append(p[:len(p):len(p)], k...)); err != nil {
				return err
			}
			continue
		}
		if !s.dirty[k] {
			continue
		}
		v, err := json.Marshal(w)
		if err != nil {
			return err
		}
		if err := b.Put(append(p[:len(p):len(p)], k...), v); err != nil {
			return err
		}
	}
	s.dirty = map[string]bool{}
	return nil
}

// Save implements detectors.Stateful: it writes the rule's windows in tx,
// the transaction that also stores the findings and source checkpoints.
func (r *Rule) Save(tx *bolt.Tx) error {
	if r.th == nil {
		return nil
	}
	if err := r.th.save(tx); err != nil {
		return fmt.Errorf("rules: save threshold state of %s: %w", r.def.ID, err)
	}
	return nil
}

// Load reads a threshold rule's windows from db, replacing those in
// memory. It does nothing for a stateless rule or a nil db.
func (r *Rule) Load(db *bolt.DB) error {
	if r.th == nil || db == nil {
		return nil
	}
	r.th.reset()
	err := db.View(func(tx *bolt.Tx) error { return r.th.load(tx) })
	if err != nil {
		return fmt.Errorf("rules: load threshold state of %s: %w", r.def.ID, err)
	}
	return nil
}
