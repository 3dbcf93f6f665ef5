// Package testdb opens real bbolt databases for tests, under t.TempDir(),
// and checks them for consistency when the test ends.
package testdb

import (
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Open returns a new database file in a temporary directory. It is checked
// with bbolt's consistency check and closed when the test ends.
func Open(t testing.TB) *bolt.DB {
	t.Helper()
	return OpenAt(t, filepath.Join(t.TempDir(), "trailhound.db"))
}

// OpenAt opens (or reopens) the database at path, for tests that simulate
// a restart by closing and reopening the same file.
func OpenAt(t testing.TB, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open bbolt %s: %v", path, err)
	}
	t.Cleanup(func() { Close(t, db) })
	return db
}

// Close checks the database for consistency and closes it. Closing twice
// is harmless, so tests may close early to simulate a restart.
func Close(t testing.TB, db *bolt.DB) {
	t.Helper()
	err := db.View(func(tx *bolt.Tx) error {
		var first error
		for err := range tx.Check() {
			if first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil && err != bolt.ErrDatabaseNotOpen {
		t.Errorf("bbolt consistency check of %s: %v", db.Path(), err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("close bbolt: %v", err)
	}
}
