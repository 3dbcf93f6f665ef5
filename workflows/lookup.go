package workflows

import bolt "go.etcd.io/bbolt"

// AlertIDs returns, for each fingerprint, the id of the alert its finding
// was stored in, or "" when none was: one read transaction for them all,
// and no alert decoded. A scan names the alert of each finding this way,
// a batch at a time.
func (s *Store) AlertIDs(fingerprints []string) []string {
	ids := make([]string, len(fingerprints))
	_ = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketFingerprints)
		for i, fp := range fingerprints {
			if id := b.Get([]byte(fp)); id != nil {
				ids[i] = string(id)
			}
		}
		return nil
	})
	return ids
}
