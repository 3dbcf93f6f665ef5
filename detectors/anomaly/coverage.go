package anomaly

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

var bucketCoverage = []byte("detectors.anomaly.coverage")

// span is a stretch of event time, unix seconds, both ends included.
type span struct {
	From int64 `json:"from"`
	To   int64 `json:"to"`
}

// coverage records, per account, the stretches of time `trailhound
// baseline` has learned. Events inside them are not learned again, by a
// second baseline run or by the bot reading the same hours, so counts are
// not inflated by repeats.
type coverage struct {
	mu sync.Mutex
	// spans were learned by earlier runs; only they make events skip.
	spans map[string][]span
	// pending are the stretches this process learned through Learn,
	// merged into spans by save.
	pending map[string]span
	changed bool
}

func newCoverage() *coverage {
	return &coverage{spans: map[string][]span{}, pending: map[string]span{}}
}

func (c *coverage) load(db *bolt.DB) error {
	if db == nil {
		return nil
	}
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCoverage)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var ss []span
			if err := json.Unmarshal(v, &ss); err != nil {
				return fmt.Errorf("coverage of account %q is corrupt: %w", k, err)
			}
			c.spans[string(k)] = ss
			return nil
		})
	})
}

// covers reports whether an earlier baseline run learned account's events
// at t.
func (c *coverage) covers(account string, t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ss := c.spans[account]
	if len(ss) == 0 {
		return false
	}
	u := t.Unix()
	i := sort.Search(len(ss), func(i int) bool { return ss[i].To >= u })
	return i < len(ss) && ss[i].From <= u
}

// note records that account's event at t was learned by this process.
func (c *coverage) note(account string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	u := t.Unix()
	s, ok := c.pending[account]
	if !ok {
		s = span{u, u}
	}
	s.From, s.To = min(s.From, u), max(s.To, u)
	c.pending[account] = s
	c.changed = true
}

// extend widens account's pending span back to from, for a baseline run
// that read a window starting there. The end is left at the last event
// learned: events after it may still be on their way.
func (c *coverage) extend(account string, from time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.pending[account]
	if !ok || from.IsZero() {
		return
	}
	s.From = min(s.From, from.Unix())
	c.pending[account] = s
}

// save merges the pending spans in and writes what changed, dropping
// spans that ended before oldest.
func (c *coverage) save(tx *bolt.Tx, oldest int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.changed {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(bucketCoverage)
	if err != nil {
		return err
	}
	for acct, p := range c.pending {
		ss := mergeSpans(append(c.spans[acct], p), oldest)
		c.spans[acct] = ss
		v, err := json.Marshal(ss)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(acct), v); err != nil {
			return err
		}
	}
	clear(c.pending)
	c.changed = false
	return nil
}

// mergeSpans sorts spans and joins those that overlap or touch.
func mergeSpans(ss []span, oldest int64) []span {
	sort.Slice(ss, func(i, j int) bool { return ss[i].From < ss[j].From })
	var out []span
	for _, s := range ss {
		if s.To < oldest {
			continue
		}
		if n := len(out); n > 0 && s.From <= out[n-1].To+1 {
			out[n-1].To = max(out[n-1].To, s.To)
			continue
		}
		out = append(out, s)
	}
	return out
}
