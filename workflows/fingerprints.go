package workflows

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// This file holds the fingerprint index: which alert each stored finding
// went into, so that a finding read again is a duplicate.
//
// Findings made from events are keyed by the hour of their event, then
// the fingerprint (bucketHourFingerprints). The fingerprint alone is a
// hash, so a batch of findings keyed by it lands on pages all over the
// index: at ten million events a commit of 2,000 findings read and
// rewrote nearly every page of a 70 MB index, and all of it counted in
// the process's resident set. Keyed by hour, a batch of findings about
// the same hours of events reads and writes a few neighbouring pages at
// the index's right edge, however large it grows. A finding read again
// has the same events, so the same time and the same key.
//
// Findings whose time is not their events' time keep the fingerprint
// alone as key (bucketFingerprints): those made by AWS security services
// (the finding id is the key, whatever the update's time); those made
// from no event (a source's silence, judged at the time of the check,
// whose fingerprint names the silence and so must match at any later
// check); and those of events without a time of their own, which the job
// judges at processing time. A lookup reads that bucket after the hourly
// index. It also holds the fingerprints of a database written before the
// hourly index, until migrateFingerprints has moved those it can.

// bucketHourFingerprints maps the hour of a finding's event (8 bytes, big
// endian, the Unix hour with the sign bit flipped so that the order is
// the time order) followed by its fingerprint to the id of its alert.
var bucketHourFingerprints = []byte("workflows.fingerprints-by-hour")

// indexFillPercent packs the hourly index's pages fuller than bbolt's
// default of half: its keys arrive mostly in time order, so a page that
// filled rarely takes a key again.
const indexFillPercent = 0.9

// warnUnknownTime is the warning of an event without a usable time of its
// own, which the job judges at processing time.
const warnUnknownTime = "eventTime: unknown; judged at processing time"

// judgedNow holds the fingerprints of findings made from events that had
// no time of their own, until Ingest stores them. Their time is the
// poll's, so reading the same event again in a later hour would give
// another hourly key: they are keyed by fingerprint alone, as before.
type judgedNow struct {
	mu  sync.Mutex
	fps map[string]struct{}
}

// noteJudgedNow remembers the findings of an event that had no time of
// its own, which the job judged at processing time, for Ingest to key
// them by fingerprint alone.
func (s *Store) noteJudgedNow(fs []detectors.Finding) {
	if len(fs) == 0 {
		return
	}
	s.judgedNow.mu.Lock()
	defer s.judgedNow.mu.Unlock()
	if s.judgedNow.fps == nil {
		s.judgedNow.fps = map[string]struct{}{}
	}
	for i := range fs {
		s.judgedNow.fps[fs[i].Fingerprint] = struct{}{}
	}
}

// takeJudgedNow returns whether f was noted by noteJudgedNow, and forgets
// it.
func (s *Store) takeJudgedNow(f *detectors.Finding) bool {
	s.judgedNow.mu.Lock()
	defer s.judgedNow.mu.Unlock()
	if _, ok := s.judgedNow.fps[f.Fingerprint]; !ok {
		return false
	}
	delete(s.judgedNow.fps, f.Fingerprint)
	return true
}

// fingerprintIndex reads and writes the two fingerprint buckets in one
// transaction.
type fingerprintIndex struct {
	hourly   *bolt.Bucket // nil in a read-only view of an older database
	timeless *bolt.Bucket
}

// fingerprints returns the index in tx. In a writable transaction it
// creates the hourly bucket on first use.
func fingerprints(tx *bolt.Tx) (fingerprintIndex, error) {
	x := fingerprintIndex{hourly: tx.Bucket(bucketHourFingerprints), timeless: tx.Bucket(bucketFingerprints)}
	if x.hourly == nil && tx.Writable() {
		var err error
		if x.hourly, err = tx.CreateBucket(bucketHourFingerprints); err != nil {
			return x, err
		}
	}
	if x.hourly != nil && tx.Writable() {
		x.hourly.FillPercent = indexFillPercent
	}
	return x, nil
}

// byEventTime says whether a finding is keyed by the hour of its event:
// it was made from events, has a time, and was not made by an AWS
// security service.
func byEventTime(f *detectors.Finding) bool {
	return f.External == nil && len(f.EventIDs) > 0 && !f.Time.IsZero()
}

// hourKey is a finding's key in the hourly index.
func hourKey(t time.Time, fp string) []byte {
	sec := t.Unix()
	hour := sec / 3600
	if sec%3600 < 0 {
		hour-- // round down before 1970 too
	}
	k := make([]byte, 8, 8+len(fp))
	binary.BigEndian.PutUint64(k, uint64(hour)^(1<<63))
	return append(k, fp...)
}

// get returns the id of the alert a finding with f's fingerprint was
// stored in, or nil.
func (x fingerprintIndex) get(f *detectors.Finding) []byte {
	if x.hourly != nil && byEventTime(f) {
		if id := x.hourly.Get(hourKey(f.Time, f.Fingerprint)); id != nil {
			return id
		}
	}
	if x.timeless == nil {
		return nil
	}
	return x.timeless.Get([]byte(f.Fingerprint))
}

// put records that f was stored in alert id. With judgedNow, f was made
// from an event without a time of its own, and is keyed by fingerprint
// alone.
func (x fingerprintIndex) put(f *detectors.Finding, id string, judgedNow bool) error {
	if byEventTime(f) && !judgedNow {
		return x.hourly.Put(hourKey(f.Time, f.Fingerprint), []byte(id))
	}
	return x.timeless.Put([]byte(f.Fingerprint), []byte(id))
}

// find returns the alert id stored for a fingerprint when the finding's
// time is not known: the keyless bucket, then every hour of the hourly
// index (a full scan, for tools and tests, not for ingest).
func (x fingerprintIndex) find(fp string) []byte {
	if x.timeless != nil {
		if id := x.timeless.Get([]byte(fp)); id != nil {
			return id
		}
	}
	if x.hourly == nil {
		return nil
	}
	want := []byte(fp)
	c := x.hourly.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) == 8+len(want) && bytes.Equal(k[8:], want) {
			return v
		}
	}
	return nil
}

// migrateChunk is how many finding records one transaction of the
// migration reads: about the findings of one batch commit, so that it
// touches no more of the database than a commit of the older version did.
const migrateChunk = 2000

// migrateFingerprints moves the fingerprints a database written before
// the hourly index holds into it, so that lookups stop reading the old
// keyless bucket's pages at random. It runs once (the hourly bucket's
// sequence is set to 1 when done), in transactions of migrateChunk
// findings; a crash part-way leaves every fingerprint in one of the two
// buckets, where lookups find it, and the next start goes on.
//
// The event time of each stored finding comes from bucketFindingTimes.
// Fingerprints without such a record, and those of alerts about AWS
// findings or made from no event (whose fingerprints must match at any
// time), stay in the keyless bucket.
func migrateFingerprints(db *bolt.DB) error {
	var migrated bool
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHourFingerprints)
		migrated = b != nil && b.Sequence() != 0
		return nil
	})
	if err != nil || migrated {
		return err
	}
	eventAlert := map[string]bool{} // alert id -> its findings are keyed by event time
	var after []byte                // the last finding record handled
	for {
		done := false
		err := db.Update(func(tx *bolt.Tx) error {
			x, err := fingerprints(tx)
			if err != nil {
				return err
			}
			if x.hourly.Sequence() != 0 {
				done = true
				return nil
			}
			times := tx.Bucket(bucketFindingTimes)
			if k, _ := x.timeless.Cursor().First(); k == nil || times == nil {
				done = true
				return x.hourly.SetSequence(1)
			}
			c := times.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for n := 0; k != nil && n < migrateChunk; k, v = c.Next() {
				n++
				after = append(after[:0], k...)
				fp := k[8:]
				id := x.timeless.Get(fp)
				if id == nil {
					continue
				}
				var ft findingTime
				if json.Unmarshal(v, &ft) != nil || ft.AlertID != string(id) || ft.Time.IsZero() {
					continue
				}
				byTime, ok := eventAlert[ft.AlertID]
				if !ok {
					a, err := getAlert(tx, ft.AlertID)
					if err != nil && !errors.Is(err, ErrNotFound) {
						return err
					}
					byTime = a != nil && len(a.External) == 0 && byEventTime(&a.Finding)
					eventAlert[ft.AlertID] = byTime
				}
				if !byTime {
					continue
				}
				if err := x.hourly.Put(hourKey(ft.Time, string(fp)), []byte(ft.AlertID)); err != nil {
					return err
				}
				if err := x.timeless.Delete(fp); err != nil {
					return err
				}
			}
			if k == nil {
				done = true
				return x.hourly.SetSequence(1)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("workflows: move fingerprints to the hourly index: %w", err)
		}
		if done {
			return nil
		}
		if err := releaseMapped(db); err != nil {
			return fmt.Errorf("workflows: move fingerprints to the hourly index: %w", err)
		}
	}
}
