package sources

import (
	"errors"

	bolt "go.etcd.io/bbolt"
)

// ErrNotInitialized is returned by OpenReadOnly for a database that
// NewStore has not prepared yet.
var ErrNotInitialized = errors.New("sources: the database has no source buckets yet")

// OpenReadOnly returns a Store over a database opened read-only
// (bolt.Options{ReadOnly: true}), for commands that only read health and
// checkpoints: it creates nothing. A database NewStore has never prepared
// gives ErrNotInitialized.
func OpenReadOnly(db *bolt.DB) (*Store, error) {
	err := db.View(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketCheckpoints, bucketHealth} {
			if tx.Bucket(b) == nil {
				return ErrNotInitialized
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Store{db: db}, nil
}
