package workflows

import bolt "go.etcd.io/bbolt"

// PutAlertForTest stores an alert as it is, for tests outside the package
// that need alerts shaped in ways ingest takes many findings to reach.
func PutAlertForTest(s *Store, a *Alert) error {
	return s.db.Update(func(tx *bolt.Tx) error { return putAlert(tx, a) })
}
