package rules

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
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

// keepIdleWindows is how long past its rule's window a window whose key
// saw no event is kept (in event time), for events that arrive late.
const keepIdleWindows = 24 * time.Hour

// maxValuesPerEvent bounds how many distinct values one event adds, so a
// hostile record with a huge array cannot bloat a window.
const maxValuesPerEvent = 100

// maxShownValues is how many distinct values a reason names.
const maxShownValues = 5

// maxEventIDs caps the event IDs a threshold finding lists.
const maxEventIDs = 100

// thresholdState is the sliding windows of one threshold rule. Its lock
// makes it safe for sources polled concurrently through one engine.
type thresholdState struct {
	mu       sync.Mutex
	rule     *Rule
	spec     Threshold
	keyBy    []*accessor
	distinct []*accessor
	windows  map[string]*window
	// dirty holds keys whose window changed since the last save: a nil
	// window in windows is not kept; one evicted is deleted on save.
	dirty  map[string]bool
	latest time.Time
	// swept is the hour (of event time) whose idle windows were last
	// evicted.
	swept time.Time
}

// window is the events counted for one key, oldest first, with indexes so
// that counting an event costs the same however full the window is.
type window struct {
	entries []entry
	ids     map[string]struct{}
	// values counts, per distinct value, the entries holding it.
	values map[string]int
}

func newWindow() *window {
	return &window{ids: map[string]struct{}{}, values: map[string]int{}}
}

// add indexes an entry already placed in entries.
func (w *window) add(e entry) {
	w.ids[e.ID] = struct{}{}
	for i, v := range e.V {
		if !seenBefore(e.V, i) {
			w.values[v]++
		}
	}
}

// drop removes the n oldest entries.
func (w *window) drop(n int) {
	for _, e := range w.entries[:n] {
		delete(w.ids, e.ID)
		for i, v := range e.V {
			if seenBefore(e.V, i) {
				continue
			}
			if w.values[v]--; w.values[v] <= 0 {
				delete(w.values, v)
			}
		}
	}
	w.entries = w.entries[n:]
}

// seenBefore reports whether vals[i] already occurs in vals[:i].
func seenBefore(vals []string, i int) bool {
	for _, v := range vals[:i] {
		if v == vals[i] {
			return true
		}
	}
	return false
}

// firstValues returns up to n distinct values in the order they entered
// the window.
func (w *window) firstValues(n int) []string {
	var out []string
	for _, e := range w.entries {
		for _, v := range e.V {
			if len(out) == n {
				return out
			}
			dup := false
			for _, o := range out {
				dup = dup || o == v
			}
			if !dup {
				out = append(out, v)
			}
		}
	}
	return out
}

// entry is one counted event.
type entry struct {
	T  time.Time `json:"t"`
	ID string    `json:"id"`
	// V holds the event's values of the distinct field.
	V []string `json:"v,omitempty"`
}

func newThresholdState(r *Rule, t *Threshold) *thresholdState {
	s := &thresholdState{rule: r, spec: *t, windows: map[string]*window{}, dirty: map[string]bool{}}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	s.windows = map[string]*window{}
	s.dirty = map[string]bool{}
	s.latest = time.Time{}
	s.swept = time.Time{}
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
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.windows[key]
	if w == nil {
		w = newWindow()
		s.windows[key] = w
	}
	if _, dup := w.ids[ev.ID]; dup {
		return nil
	}
	e := entry{T: ev.Time, ID: ev.ID}
	if s.distinct != nil {
		for _, a := range s.distinct {
			e.V = a.all(ev, e.V)
		}
		if len(e.V) == 0 {
			return nil
		}
		if len(e.V) > maxValuesPerEvent {
			e.V = e.V[:maxValuesPerEvent]
		}
	}
	// Insert in time order; events mostly arrive in order, so search from
	// the end.
	es := w.entries
	i := len(es)
	for i > 0 && es[i-1].T.After(e.T) {
		i--
	}
	es = append(es, entry{})
	copy(es[i+1:], es[i:])
	es[i] = e
	w.entries = es
	w.add(e)
	newest := es[len(es)-1].T
	cut := 0
	for cut < len(es) && newest.Sub(es[cut].T) > s.spec.Window {
		cut++
	}
	if over := len(es) - cut - maxWindowEntries; over > 0 {
		cut += over
	}
	w.drop(cut)
	s.dirty[key] = true
	if newest.After(s.latest) {
		s.latest = newest
		s.sweep()
	}
	if newest.Sub(e.T) > s.spec.Window {
		return nil // a late event outside the current window
	}
	count := len(w.entries)
	if s.distinct != nil {
		count = len(w.values)
	}
	if count < s.spec.Count {
		return nil
	}
	tv := &thresholdValues{count: count, threshold: s.spec.Count, window: formatWindow(s.spec.Window)}
	if s.distinct != nil {
		tv.values = w.firstValues(maxShownValues)
		tv.more = count - len(tv.values)
	}
	f := s.rule.finding(ev, tv)
	f.EventCount = len(w.entries)
	f.EventIDs = f.EventIDs[:0]
	for j := len(w.entries) - 1; j >= 0 && len(f.EventIDs) < maxEventIDs; j-- {
		f.EventIDs = append(f.EventIDs, w.entries[j].ID)
	}
	// The same window state yields the same fingerprint, so re-reading the
	// same events stores nothing twice; each new event past the threshold
	// is a new finding in the same alert group.
	f.Fingerprint = detectors.Fingerprint(s.rule.def.ID, key, w.entries[0].ID, strconv.Itoa(count))
	if len(s.rule.groupBy) == 0 {
		f.GroupKey = detectors.Fingerprint(s.rule.def.ID, key)
	}
	return []detectors.Finding{f}
}

// String describes the threshold: "5 in 10m per account + source_ip",
// or "10 distinct requestParameters.secretId in 10m per ...".
func (t Threshold) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", t.Count)
	if len(t.Distinct) > 0 {
		fmt.Fprintf(&b, " distinct %s", strings.Join(t.Distinct, " / "))
	}
	fmt.Fprintf(&b, " in %s", formatWindow(t.Window))
	by := t.GroupBy
	if len(by) == 0 {
		by = []string{"account", "principal.arn"}
	}
	fmt.Fprintf(&b, " per %s", strings.Join(by, " + "))
	return b.String()
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

// sweep evicts windows whose last event is older than the rule's window
// plus keepIdleWindows, once per hour of event time. It depends only on the
// events seen, never on when state was saved, so a bot that restarts keeps
// exactly the windows one that never stopped would have.
func (s *thresholdState) sweep() {
	hour := s.latest.Truncate(time.Hour)
	if !hour.After(s.swept) {
		return
	}
	s.swept = hour
	for k, w := range s.windows {
		es := w.entries
		if len(es) == 0 || s.latest.Sub(es[len(es)-1].T) > s.spec.Window+keepIdleWindows {
			delete(s.windows, k)
			s.dirty[k] = true
		}
	}
}

func (s *thresholdState) prefix() []byte { return []byte(s.rule.def.ID + "\x00") }

// load reads the rule's windows from the database.
func (s *thresholdState) load(tx *bolt.Tx) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := tx.Bucket(BucketThreshold)
	if b == nil {
		return nil
	}
	p := s.prefix()
	c := b.Cursor()
	for k, v := c.Seek(p); k != nil && bytes.HasPrefix(k, p); k, v = c.Next() {
		var es []entry
		if err := json.Unmarshal(v, &es); err != nil {
			return fmt.Errorf("window %q is corrupt: %w", k[len(p):], err)
		}
		sort.SliceStable(es, func(i, j int) bool { return es[i].T.Before(es[j].T) })
		w := newWindow()
		for _, e := range es {
			if _, dup := w.ids[e.ID]; dup {
				continue
			}
			w.entries = append(w.entries, e)
			w.add(e)
		}
		if n := len(w.entries); n > 0 && w.entries[n-1].T.After(s.latest) {
			s.latest = w.entries[n-1].T
		}
		s.windows[string(k[len(p):])] = w
	}
	// The sweep of the newest event's hour ran before the state was saved.
	s.swept = s.latest.Truncate(time.Hour)
	return nil
}

// save writes the windows that changed and deletes those evicted.
func (s *thresholdState) save(tx *bolt.Tx) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dirty) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(BucketThreshold)
	if err != nil {
		return err
	}
	p := s.prefix()
	for k := range s.dirty {
		key := append(p[:len(p):len(p)], k...)
		w, ok := s.windows[k]
		if !ok || len(w.entries) == 0 {
			if err := b.Delete(key); err != nil {
				return err
			}
			continue
		}
		v, err := json.Marshal(w.entries)
		if err != nil {
			return err
		}
		if err := b.Put(key, v); err != nil {
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
