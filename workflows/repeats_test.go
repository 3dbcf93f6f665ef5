package workflows

import (
	"encoding/json"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
)

// repeatsQueued lists the seqs of the NotifyRepeat items queued for an
// alert.
func repeatsQueued(t *testing.T, s *Store, alertID string) []uint64 {
	t.Helper()
	var out []uint64
	err := s.DB().View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var it outboxItem
			if err := json.Unmarshal(v, &it); err != nil {
				return err
			}
			if it.Kind == NotifyRepeat && it.AlertID == alertID {
				out = append(out, it.Seq)
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A long poll commits every batch, and an alert that grows in each of
// them keeps one "more like this" queued, the latest; once a dispatch pass
// has started on it, the next growth queues another.
func TestRepeatQueuedOncePerAlertUntilDispatched(t *testing.T) {
	s, c := newStore(t)
	res := ingest(t, s, finding("r1", "fp0", "g1", t0, detectors.Medium))
	id := res.New[0].ID
	var last []uint64
	for i := 1; i <= 3; i++ {
		c.now = c.now.Add(time.Minute)
		ingest(t, s, finding("r1", "fp"+string(rune('0'+i)), "g1", t0.Add(time.Duration(i)*time.Minute), detectors.Medium))
		got := repeatsQueued(t, s, id)
		if len(got) != 1 || (last != nil && got[0] <= last[0]) {
			t.Fatalf("after growth %d: repeats queued %v (before %v), want one, newer", i, got, last)
		}
		last = got
	}
	// A pass that tried it once (a failed post, to be retried) keeps it.
	err := s.DB().Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		var it outboxItem
		if err := json.Unmarshal(b.Get(u64(last[0])), &it); err != nil {
			return err
		}
		it.Attempts = 1
		v, _ := json.Marshal(it)
		return b.Put(u64(it.Seq), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	c.now = c.now.Add(time.Minute)
	ingest(t, s, finding("r1", "fp9", "g1", t0.Add(9*time.Minute), detectors.Medium))
	if got := repeatsQueued(t, s, id); len(got) != 2 || got[0] != last[0] {
		t.Fatalf("after a pass touched it: repeats queued %v, want %d and a new one", got, last[0])
	}
}
