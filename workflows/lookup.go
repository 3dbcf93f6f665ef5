package workflows

import (
	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// AlertIDs returns, for each finding, the id of the alert it was stored
// in, or "" when none was: one read transaction for them all, and no
// alert decoded. A scan names the alert of each finding this way, a batch
// at a time. The findings' times find their fingerprints in the index
// (fingerprints.go), so a batch reads the pages of its own hours.
func (s *Store) AlertIDs(findings []detectors.Finding) []string {
	ids := make([]string, len(findings))
	_ = s.db.View(func(tx *bolt.Tx) error {
		x, err := fingerprints(tx)
		if err != nil {
			return err
		}
		for i := range findings {
			if id := x.get(&findings[i]); id != nil {
				ids[i] = string(id)
			}
		}
		return nil
	})
	return ids
}
