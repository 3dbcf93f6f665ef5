package sources

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketCheckpoints = []byte("sources.checkpoints")
	bucketHealth      = []byte("sources.health")
)

// Health is what the bot knows about one source's last polls.
type Health struct {
	Source      string    `json:"source"`
	LastPoll    time.Time `json:"last_poll,omitempty"`
	LastSuccess time.Time `json:"last_success,omitempty"`
	// LastEvent is the time of the newest event read so far.
	LastEvent time.Time `json:"last_event,omitempty"`
	// Lag is how far behind real time the last successful poll ended.
	Lag       time.Duration `json:"lag,omitempty"`
	Events    int64         `json:"events"`
	Malformed int64         `json:"malformed"`
	// Warnings counts records read with warnings: kept and judged, but
	// with some fields unusable (Event.Warnings names them).
	Warnings int64 `json:"warnings"`
	// LastError is the last poll's error, empty when it succeeded.
	LastError string `json:"last_error,omitempty"`
	// Permanent is true when LastError will not go away by retrying
	// (access denied, missing log group).
	Permanent bool `json:"permanent,omitempty"`
	// BytesScanned adds up the bytes the source's queries scanned
	// server-side (Athena's DataScannedInBytes), which is what they cost;
	// LastBytesScanned is the last poll's. Zero for sources that run no
	// queries.
	BytesScanned     int64 `json:"bytes_scanned,omitempty"`
	LastBytesScanned int64 `json:"last_bytes_scanned,omitempty"`
}

// Store keeps checkpoints and health per source in bbolt.
type Store struct {
	db *bolt.DB
}

// NewStore creates the sources buckets if needed.
func NewStore(db *bolt.DB) (*Store, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCheckpoints, bucketHealth} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sources: create buckets: %w", err)
	}
	return &Store{db: db}, nil
}

// Checkpoint returns the stored checkpoint of a source, nil if none.
func (s *Store) Checkpoint(source string) ([]byte, error) {
	var out []byte
	err := s.db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketCheckpoints).Get([]byte(source)); v != nil {
			out = append([]byte(nil), v...)
		}
		return nil
	})
	return out, err
}

// PutCheckpoint stores a checkpoint inside the caller's transaction, so it
// can commit together with the findings of the window it covers.
func PutCheckpoint(tx *bolt.Tx, source string, cp []byte) error {
	b, err := tx.CreateBucketIfNotExists(bucketCheckpoints)
	if err != nil {
		return err
	}
	if cp == nil {
		return b.Delete([]byte(source))
	}
	return b.Put([]byte(source), cp)
}

// SetCheckpoint stores a checkpoint in its own transaction.
func (s *Store) SetCheckpoint(source string, cp []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error { return PutCheckpoint(tx, source, cp) })
}

// UpdateHealth applies fn to the stored health of a source.
func (s *Store) UpdateHealth(source string, fn func(h *Health)) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketHealth)
		h := Health{Source: source}
		if v := b.Get([]byte(source)); v != nil {
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("sources: health of %q is corrupt: %w", source, err)
			}
		}
		fn(&h)
		v, err := json.Marshal(h)
		if err != nil {
			return err
		}
		return b.Put([]byte(source), v)
	})
}

// Health lists the health of every source that has polled, by name.
func (s *Store) Health() ([]Health, error) {
	var out []Health
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketHealth).ForEach(func(k, v []byte) error {
			var h Health
			if err := json.Unmarshal(v, &h); err != nil {
				return fmt.Errorf("sources: health of %q is corrupt: %w", k, err)
			}
			out = append(out, h)
			return nil
		})
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out, err
}

// FormatBytes writes a byte count for people, in powers of 1024 with one
// decimal: 0 B, 512 B, 1.5 KiB, 12.0 MiB, 3.2 GiB, 1.1 TiB.
func FormatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v := float64(n)
	for _, unit := range []string{"KiB", "MiB", "GiB", "TiB"} {
		v /= 1024
		if v < 1024 || unit == "TiB" {
			return fmt.Sprintf("%.1f %s", v, unit)
		}
	}
	return ""
}
