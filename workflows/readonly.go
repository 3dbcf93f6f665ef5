package workflows

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotInitialized is returned by OpenReadOnly for a database that
// NewStore has not prepared yet.
var ErrNotInitialized = errors.New("workflows: the database has no workflow buckets yet")

// OpenReadOnly returns a Store over a database opened read-only
// (bolt.Options{ReadOnly: true}), for commands that only read: it creates
// nothing, and its methods that write fail with bolt.ErrDatabaseReadOnly.
// A database NewStore has never prepared gives ErrNotInitialized.
func OpenReadOnly(db *bolt.DB) (*Store, error) {
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketAlerts, bucketFingerprints, bucketGroups, bucketAudit, bucketOutbox, bucketOpen} {
			if tx.Bucket(b) == nil {
				return ErrNotInitialized
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db, Now: time.Now}, nil
}
