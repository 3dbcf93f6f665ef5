package anomaly

import (
	"encoding/json"
	"fmt"
	"hash/maphash"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// history is how long and how much a key has been seen, in event time.
type history struct {
	First  int64 `json:"f"` // unix seconds
	Last   int64 `json:"l"`
	Events int64 `json:"n"`
}

func (h *history) observe(t time.Time) {
	u := t.Unix()
	if h.Events == 0 || u < h.First {
		h.First = u
	}
	if u > h.Last {
		h.Last = u
	}
	h.Events++
}

// mature reports whether the key has learned enough, before t, to be
// judged.
func (h *history) mature(l Learning, t time.Time) bool {
	return h.Events >= l.MinEvents && h.Events > 0 && t.Unix()-h.First >= int64(l.MinAge.D()/time.Second)
}

// describe says how much history there is at t: "14 days of history (312
// events)".
func (h *history) describe(t time.Time) string {
	age := time.Duration(t.Unix()-h.First) * time.Second
	return fmt.Sprintf("%s of history (%d events)", humanAge(age), h.Events)
}

func humanAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d hours", int(d/time.Hour))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return fmt.Sprintf("%d seconds", int(d/time.Second))
}

// termSet is the values of one kind a key has been seen with (networks,
// user agent families, API calls, countries), at most a bound of them.
type termSet struct {
	Terms map[string]*termSeen `json:"t,omitempty"`
	// Full is set once a value was dropped to keep the bound: the kind is
	// then too varied for a new value to mean anything, and is no longer
	// judged for this key.
	Full bool `json:"full,omitempty"`
}

type termSeen struct {
	First int64 `json:"f"`
	Last  int64 `json:"l"`
	N     int64 `json:"n"`
}

func (s *termSet) has(v string) bool {
	_, ok := s.Terms[v]
	return ok
}

// add records v at t, dropping the least recently seen value when the set
// would exceed max.
func (s *termSet) add(v string, t time.Time, max int) {
	u := t.Unix()
	if ts, ok := s.Terms[v]; ok {
		ts.N++
		if u > ts.Last {
			ts.Last = u
		}
		if u < ts.First {
			ts.First = u
		}
		return
	}
	if s.Terms == nil {
		s.Terms = make(map[string]*termSeen)
	}
	if len(s.Terms) >= max {
		oldest, oldestT := "", int64(0)
		for k, ts := range s.Terms {
			if oldest == "" || ts.Last < oldestT || ts.Last == oldestT && k < oldest {
				oldest, oldestT = k, ts.Last
			}
		}
		delete(s.Terms, oldest)
		s.Full = true
	}
	s.Terms[v] = &termSeen{First: u, Last: u, N: 1}
}

// recentList names up to n values, most recently seen first, for reasons.
func (s *termSet) recentList(n int) string {
	if len(s.Terms) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(s.Terms))
	for k := range s.Terms {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := s.Terms[keys[i]], s.Terms[keys[j]]
		if a.Last != b.Last {
			return a.Last > b.Last
		}
		return keys[i] < keys[j]
	})
	more := ""
	if len(keys) > n {
		more = fmt.Sprintf(" and %d more", len(keys)-n)
		keys = keys[:n]
	}
	return strings.Join(keys, ", ") + more
}

// table is a detector's keyed state: loaded whole from its bucket at
// start, changed in memory, and written back (changed keys only) by save
// in the caller's transaction. It bounds itself to Limits.MaxKeys keys and
// drops keys idle for Limits.StaleAfter.
type table[T any] struct {
	bucket []byte
	last   func(*T) int64
	limits Limits
	log    *slog.Logger

	m      map[string]*T
	dirty  map[string]struct{}
	gone   map[string]struct{}
	latest int64 // newest event time seen, unix seconds
}

func newTable[T any](bucket string, limits Limits, log *slog.Logger, last func(*T) int64) *table[T] {
	return &table[T]{
		bucket: []byte(bucket),
		last:   last,
		limits: limits,
		log:    log,
		m:      make(map[string]*T),
		dirty:  make(map[string]struct{}),
		gone:   make(map[string]struct{}),
	}
}

// load reads the bucket. A record that does not decode is dropped with a
// warning: the key then learns again from scratch.
func (tb *table[T]) load(db *bolt.DB) error {
	if db == nil {
		return nil
	}
	return db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(tb.bucket)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec T
			if err := json.Unmarshal(v, &rec); err != nil {
				tb.log.Warn("anomaly: dropping corrupt baseline record", "bucket", string(tb.bucket), "key", string(k), "err", err)
				tb.gone[string(k)] = struct{}{}
				return nil
			}
			tb.m[string(k)] = &rec
			if l := tb.last(&rec); l > tb.latest {
				tb.latest = l
			}
			return nil
		})
	})
}

// get returns the record of key, creating it when create is set.
func (tb *table[T]) get(key string, create bool) *T {
	rec, ok := tb.m[key]
	if !ok && create {
		rec = new(T)
		tb.m[key] = rec
		delete(tb.gone, key)
		if len(tb.m) > tb.limits.MaxKeys+tb.limits.MaxKeys/4 {
			tb.shrink(key)
		}
	}
	return rec
}

// touch marks key changed and advances the newest event time.
func (tb *table[T]) touch(key string, t time.Time) {
	tb.dirty[key] = struct{}{}
	if u := t.Unix(); u > tb.latest {
		tb.latest = u
	}
}

// shrink drops the least recently active keys down to MaxKeys, sparing
// keep.
func (tb *table[T]) shrink(keep string) {
	type kv struct {
		k    string
		last int64
	}
	all := make([]kv, 0, len(tb.m))
	for k, r := range tb.m {
		if k != keep {
			all = append(all, kv{k, tb.last(r)})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].last < all[j].last })
	for i := 0; len(tb.m) > tb.limits.MaxKeys && i < len(all); i++ {
		tb.drop(all[i].k)
	}
}

func (tb *table[T]) drop(k string) {
	delete(tb.m, k)
	delete(tb.dirty, k)
	tb.gone[k] = struct{}{}
}

// prune drops stale keys and keeps the bound.
func (tb *table[T]) prune() {
	cutoff := tb.latest - int64(tb.limits.StaleAfter.D()/time.Second)
	for k, r := range tb.m {
		if tb.last(r) < cutoff {
			tb.drop(k)
		}
	}
	if len(tb.m) > tb.limits.MaxKeys {
		tb.shrink("")
	}
}

// save writes changed keys and deletes dropped ones in tx.
func (tb *table[T]) save(tx *bolt.Tx) error {
	tb.prune()
	if len(tb.dirty) == 0 && len(tb.gone) == 0 {
		return nil
	}
	b, err := tx.CreateBucketIfNotExists(tb.bucket)
	if err != nil {
		return err
	}
	for k := range tb.gone {
		if err := b.Delete([]byte(k)); err != nil {
			return err
		}
	}
	for k := range tb.dirty {
		rec, ok := tb.m[k]
		if !ok {
			continue
		}
		v, err := json.Marshal(rec)
		if err != nil {
			return fmt.Errorf("encode %q: %w", k, err)
		}
		if err := b.Put([]byte(k), v); err != nil {
			return err
		}
	}
	clear(tb.dirty)
	clear(tb.gone)
	return nil
}

// recent remembers the IDs of the last events each detector learned, so
// an event delivered twice (two sources reading one trail, overlapping
// windows in a one-shot scan, duplicated input files) is learned once.
// Each detector has its own bit. It lives in memory only: across restarts
// the workflow's own record of processed events does this job.
//
// IDs are kept as 64-bit hashes under a seed drawn per process, not as
// strings: 100,000 of them take about 2 MB instead of about 15 MB, and
// hold no decoded record's strings. Two of the IDs kept sharing a hash,
// which would make one event count as learned, has a chance of about
// n²/2⁶⁵ (under 10⁻⁹ for 100,000), and the seed is unknown to whoever
// writes the records.
type recent struct {
	mu   sync.Mutex
	seed maphash.Seed
	bits map[uint64]uint8
	ring []uint64
	next int
	full bool // the ring has wrapped: ring[next] is the oldest
}

func newRecent(size int) *recent {
	return &recent{seed: maphash.MakeSeed(), bits: make(map[uint64]uint8, min(size, 1<<16)), ring: make([]uint64, size)}
}

// seen reports whether id was already marked with any of bits, and marks
// it with them.
func (r *recent) seen(id string, bits uint8) bool {
	if id == "" {
		return false
	}
	h := maphash.String(r.seed, id)
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.bits[h]
	if ok {
		r.bits[h] = b | bits
		return b&bits != 0
	}
	if r.full {
		delete(r.bits, r.ring[r.next])
	}
	r.ring[r.next] = h
	r.next = (r.next + 1) % len(r.ring)
	r.full = r.full || r.next == 0
	r.bits[h] = bits
	return false
}
