package workflows

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/sources"
)

// The IDs of processed events are kept only for events their source may
// read again (see sources.Rereader), as 12-byte hashes in blobs: one
// bbolt value per commit and hour, under a bucket per source. A poll
// loads its source's hashes once into a set.
//
// A key is a kind byte, the start of an hour (8-byte big-endian Unix
// seconds) and a sequence number (8 bytes), so that the blobs of each
// kind are ordered by hour and pruned oldest first without reading the
// others:
//   - seenByEvent blobs hold events by their event time, for sources that
//     say from which event time they may read again; they go when the
//     source's checkpoint no longer reaches back to their hour;
//   - seenByProcessed blobs hold events by when they were processed, for
//     sources that may read anything again (and the IDs carried over from
//     the old layout); they go after the seen retention.
//
// Why 12 bytes of SHA-256 suffice: a false "already seen" needs two IDs of
// one source kept at the same time to share 96 bits. Among n kept IDs the
// chance is about n²/2⁹⁷: for 10 million IDs (far beyond any overlap
// window) it is under 10⁻¹⁴. Event IDs are chosen by AWS, but a record in
// a file can carry any ID; still, making an ID collide with a given real
// one means finding a second preimage of 96 bits of SHA-256, which no one
// can, and two colliding IDs of the attacker's own only drop one of them.
var bucketSeenIDs = []byte("workflows.seen-ids")

// The layout before: one key per event in bucketSeenLegacy (source, NUL,
// event ID -> 8-byte processing time) and a second in the expiry index.
// migrateSeen carries these over once and deletes them.
var (
	bucketSeenLegacy       = []byte("workflows.seen-events")
	bucketSeenLegacyExpiry = []byte("workflows.seen-expiry")
)

const (
	seenByEvent     = 'e'
	seenByProcessed = 'p'
	seenHashLen     = 12
	seenKeyLen      = 1 + 8 + 8
	// seenPrunePerCommit bounds the blobs one commit deletes.
	seenPrunePerCommit = 1000
)

type seenHash [seenHashLen]byte

func hashEventID(id string) seenHash {
	sum := sha256.Sum256([]byte(id))
	var h seenHash
	copy(h[:], sum[:seenHashLen])
	return h
}

// seenEntry is a processed event whose ID may be kept.
type seenEntry struct {
	hash seenHash
	time time.Time // event time
}

// rereads is what a source may read again from one checkpoint.
type rereads struct {
	none  bool      // nothing: keep no IDs
	since time.Time // events at or after it; zero: any event
}

func rereadsFrom(src sources.Source, cp []byte) rereads {
	r, ok := src.(sources.Rereader)
	if !ok {
		return rereads{}
	}
	since, again := r.Rereads(cp)
	if !again {
		return rereads{none: true}
	}
	return rereads{since: since}
}

// keeps reports whether an event at t must be remembered.
func (r rereads) keeps(t time.Time) bool {
	return !r.none && (r.since.IsZero() || !t.Before(r.since))
}

func seenKey(kind byte, hour time.Time, seq uint64) []byte {
	k := make([]byte, 0, seenKeyLen)
	k = append(k, kind)
	k = binary.BigEndian.AppendUint64(k, uint64(hour.Unix()))
	return binary.BigEndian.AppendUint64(k, seq)
}

// loadSeen returns the kept hashes of source's events.
func loadSeen(tx *bolt.Tx, source string) map[seenHash]struct{} {
	set := map[seenHash]struct{}{}
	b := seenBucket(tx, source)
	if b == nil {
		return set
	}
	_ = b.ForEach(func(_, v []byte) error {
		for i := 0; i+seenHashLen <= len(v); i += seenHashLen {
			set[seenHash(v[i:i+seenHashLen])] = struct{}{}
		}
		return nil
	})
	return set
}

func seenBucket(tx *bolt.Tx, source string) *bolt.Bucket {
	root := tx.Bucket(bucketSeenIDs)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(source))
}

// putSeen stores the entries r keeps: by event time when r names a time,
// otherwise by processing time now.
func putSeen(tx *bolt.Tx, source string, entries []seenEntry, r rereads, now time.Time) error {
	blobs := map[time.Time][]byte{}
	kind := byte(seenByEvent)
	if r.since.IsZero() {
		kind = seenByProcessed
	}
	for _, e := range entries {
		if !r.keeps(e.time) {
			continue
		}
		at := e.time
		if kind == seenByProcessed {
			at = now
		}
		hour := at.Truncate(time.Hour)
		blobs[hour] = append(blobs[hour], e.hash[:]...)
	}
	if len(blobs) == 0 {
		return nil
	}
	b, err := seenBucketForWrite(tx, source)
	if err != nil {
		return err
	}
	for hour, blob := range blobs {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := b.Put(seenKey(kind, hour, seq), blob); err != nil {
			return err
		}
	}
	return nil
}

func seenBucketForWrite(tx *bolt.Tx, source string) (*bolt.Bucket, error) {
	root, err := tx.CreateBucketIfNotExists(bucketSeenIDs)
	if err != nil {
		return nil, err
	}
	return root.CreateBucketIfNotExists([]byte(source))
}

// pruneSeen deletes, oldest first and at most seenPrunePerCommit, the
// blobs of events the source will not read again from a checkpoint with
// rereads r: all kept by event time when it reads nothing again, those
// of hours before r.since, and those processed longer than retention ago.
func pruneSeen(tx *bolt.Tx, source string, r rereads, now time.Time, retention time.Duration) error {
	b := seenBucket(tx, source)
	if b == nil {
		return nil
	}
	byEvent := r.since
	switch {
	case r.none:
		byEvent = time.Unix(1<<40, 0) // every blob
	case r.since.IsZero():
		byEvent = now.Add(-retention)
	}
	var doomed [][]byte
	c := b.Cursor()
	for _, p := range []struct {
		kind   byte
		cutoff time.Time
	}{{seenByEvent, byEvent}, {seenByProcessed, now.Add(-retention)}} {
		for k, _ := c.Seek([]byte{p.kind}); k != nil && k[0] == p.kind && len(doomed) < seenPrunePerCommit; k, _ = c.Next() {
			if len(k) != seenKeyLen {
				continue
			}
			hourEnd := time.Unix(int64(binary.BigEndian.Uint64(k[1:9])), 0).Add(time.Hour)
			if hourEnd.After(p.cutoff) {
				break // this hour, and the later ones, may hold events still needed
			}
			doomed = append(doomed, bytes.Clone(k))
		}
	}
	for _, k := range doomed {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// migrateSeen carries the IDs kept in the old layout over to the new one,
// as hashes by the time they were processed, and deletes the old buckets.
// It runs once: afterwards the old buckets are gone.
func migrateSeen(db *bolt.DB) error {
	legacy := false
	_ = db.View(func(tx *bolt.Tx) error {
		legacy = tx.Bucket(bucketSeenLegacy) != nil || tx.Bucket(bucketSeenLegacyExpiry) != nil
		return nil
	})
	if !legacy {
		return nil
	}
	return db.Update(func(tx *bolt.Tx) error {
		if old := tx.Bucket(bucketSeenLegacy); old != nil {
			type sourceHour struct {
				source string
				hour   time.Time
			}
			blobs := map[sourceHour][]byte{}
			err := old.ForEach(func(k, v []byte) error {
				i := bytes.IndexByte(k, 0)
				if i < 0 || len(v) != 8 {
					return nil // not a key this layout wrote
				}
				h := hashEventID(string(k[i+1:]))
				at := time.Unix(int64(binary.BigEndian.Uint64(v)), 0).Truncate(time.Hour)
				sh := sourceHour{string(k[:i]), at}
				blobs[sh] = append(blobs[sh], h[:]...)
				return nil
			})
			if err != nil {
				return err
			}
			for sh, blob := range blobs {
				b, err := seenBucketForWrite(tx, sh.source)
				if err != nil {
					return err
				}
				seq, err := b.NextSequence()
				if err != nil {
					return err
				}
				if err := b.Put(seenKey(seenByProcessed, sh.hour, seq), blob); err != nil {
					return err
				}
			}
			if err := tx.DeleteBucket(bucketSeenLegacy); err != nil {
				return fmt.Errorf("delete old seen IDs: %w", err)
			}
		}
		if tx.Bucket(bucketSeenLegacyExpiry) != nil {
			if err := tx.DeleteBucket(bucketSeenLegacyExpiry); err != nil {
				return fmt.Errorf("delete old seen index: %w", err)
			}
		}
		return nil
	})
}
