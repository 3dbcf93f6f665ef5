package workflows

import (
	"context"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// eventFinding is a finding made from one event, as detectors.FromEvent
// makes them: the fingerprint is a hash of rule, account and event id.
func eventFinding(i int, at time.Time) detectors.Finding {
	id := fmt.Sprintf("event-%d", i)
	f := finding("r1", detectors.Fingerprint("r1", "111122223333", id), "g1", at, detectors.Medium)
	f.EventIDs, f.EventCount = []string{id}, 1
	return f
}

// replayBatches ingests n findings, perHour of them an hour in event
// time order, in commits of batch findings a second apart, and returns the
// node count (pages bbolt materialised to write) of the last commit's
// Ingest.
func replayBatches(t *testing.T, s *Store, c *clock, n, perHour, batch int) int64 {
	t.Helper()
	var last int64
	for start := 0; start < n; start += batch {
		c.now = c.now.Add(time.Second)
		fs := make([]detectors.Finding, 0, batch)
		for i := start; i < min(start+batch, n); i++ {
			fs = append(fs, eventFinding(i, t0.Add(time.Duration(i/perHour)*time.Hour)))
		}
		err := s.DB().Update(func(tx *bolt.Tx) error {
			st := tx.Stats()
			before := st.GetNodeCount()
			res, err := s.Ingest(tx, fs)
			if err == nil && res.Duplicates > 0 {
				err = fmt.Errorf("%d of %d new findings taken for duplicates", res.Duplicates, len(fs))
			}
			st = tx.Stats()
			last = st.GetNodeCount() - before
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return last
}

// A commit's findings are about the latest hours of events; keyed by the
// hour of their event, they read and write the same few pages of the
// fingerprint index however large it has grown. Keyed by the fingerprint
// alone (a hash), 500 findings wrote about as many pages as the index had,
// up to one per finding.
func TestFingerprintIndexCommitStaysLocalAsIndexGrows(t *testing.T) {
	const perHour, batch = 100, 500
	small, cs := newStore(t)
	large, cl := newStore(t)
	nSmall := replayBatches(t, small, cs, 2_000, perHour, batch)
	nLarge := replayBatches(t, large, cl, 30_000, perHour, batch)
	t.Logf("pages written by the last commit of %d findings: %d with 2,000 stored, %d with 30,000", batch, nSmall, nLarge)
	if nLarge > 2*nSmall {
		t.Fatalf("last commit wrote %d pages with 30,000 findings stored, %d with 2,000: grows with the index", nLarge, nSmall)
	}
	if nLarge > batch/10 {
		t.Fatalf("last commit of %d findings wrote %d pages, want at most %d", batch, nLarge, batch/10)
	}
	// And every one of them is still found, in its hour, by scan's lookup.
	fs := []detectors.Finding{eventFinding(0, t0), eventFinding(29_999, t0.Add(299*time.Hour)), eventFinding(30_000, t0)}
	ids := large.AlertIDs(fs)
	if ids[0] == "" || ids[1] != ids[0] || ids[2] != "" {
		t.Fatalf("AlertIDs = %q, want the same alert twice, then none", ids)
	}
}

// A finding read again has the same events, so the same time and key: it
// is a duplicate, and so is one arriving late, long after newer hours were
// stored. The same fingerprint in another hour is another finding.
func TestFingerprintIndexDedupesByEventHour(t *testing.T) {
	s, c := newStore(t)
	replayBatches(t, s, c, 1_000, 100, 250)
	again := []detectors.Finding{eventFinding(5, t0), eventFinding(999, t0.Add(9*time.Hour))}
	if res := ingest(t, s, again...); res.Duplicates != 2 || res.Folded != 0 || len(res.New) != 0 {
		t.Fatalf("read again: duplicates %d, folded %d, new %d; want 2, 0, 0", res.Duplicates, res.Folded, len(res.New))
	}
	// An old event first seen now folds into the alert it belongs to.
	late := eventFinding(1_000, t0.Add(2*time.Hour))
	if res := ingest(t, s, late); res.Duplicates != 0 || res.Folded != 1 {
		t.Fatalf("late event: duplicates %d, folded %d; want 0, 1", res.Duplicates, res.Folded)
	}
	if res := ingest(t, s, late); res.Duplicates != 1 {
		t.Fatalf("late event again: duplicates %d, want 1", res.Duplicates)
	}
	a, err := s.FindByFingerprint(late.Fingerprint)
	if err != nil || a.Count != 1_001 {
		t.Fatalf("alert of the late event: count %d (%v), want 1001", a.Count, err)
	}
}

// Findings made from no event (a source's silence, judged at the time of
// each check) and AWS findings keep the fingerprint alone as key: checking
// again hours later during the same silence stores nothing new.
func TestFingerprintIndexTimelessFindings(t *testing.T) {
	s, _ := newStore(t)
	silent := finding("source-silent", "silence-of-a-since-9h", "silence-of-a", t0, detectors.Medium)
	if res := ingest(t, s, silent); len(res.New) != 1 {
		t.Fatalf("first check: new %d, want 1", len(res.New))
	}
	silent.Time = t0.Add(30 * time.Hour)
	if res := ingest(t, s, silent); res.Duplicates != 1 || res.Folded != 0 {
		t.Fatalf("check 30h later: duplicates %d, folded %d; want 1, 0", res.Duplicates, res.Folded)
	}
	if ids := s.AlertIDs([]detectors.Finding{silent}); ids[0] == "" {
		t.Fatal("AlertIDs found no alert for the silence")
	}
}

// oldLayout rewrites a database as the version before the hourly index
// left it: every fingerprint in the keyless bucket, no hourly bucket. With
// keep > 0, the first keep fingerprints of the hourly index stay there, as
// a migration that stopped part-way leaves them.
func oldLayout(t *testing.T, s *Store, keep int) {
	t.Helper()
	err := s.DB().Update(func(tx *bolt.Tx) error {
		hourly, timeless := tx.Bucket(bucketHourFingerprints), tx.Bucket(bucketFingerprints)
		var move [][2][]byte
		n := 0
		err := hourly.ForEach(func(k, v []byte) error {
			if n++; n > keep {
				move = append(move, [2][]byte{append([]byte(nil), k...), append([]byte(nil), v...)})
			}
			return nil
		})
		if err != nil {
			return err
		}
		if keep == 0 {
			for _, kv := range move {
				if err := timeless.Put(kv[0][8:], kv[1]); err != nil {
					return err
				}
			}
			return tx.DeleteBucket(bucketHourFingerprints)
		}
		for _, kv := range move {
			if err := timeless.Put(kv[0][8:], kv[1]); err != nil {
				return err
			}
			if err := hourly.Delete(kv[0]); err != nil {
				return err
			}
		}
		return hourly.SetSequence(0)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// keys counts the keys of a bucket.
func keys(t *testing.T, db *bolt.DB, bucket []byte) int {
	t.Helper()
	n := 0
	err := db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucket).Stats().KeyN
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// A database written before the hourly index has every fingerprint in
// the keyless bucket, and no hourly bucket. Read-only, its findings are
// found there; opened for writing, the fingerprints of findings made from
// events move to the hourly index, the others stay, and every one of them
// is still a duplicate.
func TestFingerprintIndexOldDatabaseStillDedupes(t *testing.T) {
	s, c := newStore(t)
	old := []detectors.Finding{eventFinding(1, t0), eventFinding(2, t0.Add(time.Hour))}
	silent := finding("source-silent", "silence-of-a-since-9h", "silence-of-a", t0, detectors.Medium)
	ingest(t, s, append(old, silent)...)
	oldLayout(t, s, 0)
	ro, err := OpenReadOnly(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	if ids := ro.AlertIDs(old); ids[0] == "" || ids[1] != ids[0] {
		t.Fatalf("read-only lookup in the old database: %q, want one alert twice", ids)
	}
	s2, err := NewStore(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	s2.Now = c.Now
	if h, k := keys(t, s.DB(), bucketHourFingerprints), keys(t, s.DB(), bucketFingerprints); h != 2 || k != 1 {
		t.Fatalf("after the upgrade: %d hourly and %d keyless fingerprints, want 2 and 1 (the silence)", h, k)
	}
	silent.Time = t0.Add(30 * time.Hour)
	res := ingest(t, s2, append(old, silent, eventFinding(3, t0.Add(time.Hour)))...)
	if res.Duplicates != 3 || res.Folded != 1 {
		t.Fatalf("after the upgrade: duplicates %d, folded %d; want 3, 1", res.Duplicates, res.Folded)
	}
	if h := keys(t, s.DB(), bucketHourFingerprints); h != 3 {
		t.Fatalf("hourly index holds %d keys, want 3", h)
	}
}

// The migration goes in transactions of migrateChunk findings, and one
// that stopped part-way (a crash) goes on at the next start: every
// fingerprint ends in the hourly index, and every finding is still a
// duplicate, before and after.
func TestFingerprintIndexMigrationResumes(t *testing.T) {
	s, c := newStore(t)
	n := 2*migrateChunk + 10
	replayBatches(t, s, c, n, 100, 1000)
	oldLayout(t, s, migrateChunk/2)
	all := make([]detectors.Finding, n)
	for i := range all {
		all[i] = eventFinding(i, t0.Add(time.Duration(i/100)*time.Hour))
	}
	ro, err := OpenReadOnly(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range ro.AlertIDs(all) {
		if id == "" {
			t.Fatalf("finding %d not found part-way through the migration", i)
		}
	}
	s2, err := NewStore(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	s2.Now = c.Now
	if h, k := keys(t, s.DB(), bucketHourFingerprints), keys(t, s.DB(), bucketFingerprints); h != n || k != 0 {
		t.Fatalf("after the migration: %d hourly and %d keyless fingerprints, want %d and 0", h, k, n)
	}
	if res := ingest(t, s2, all...); res.Duplicates != n {
		t.Fatalf("after the migration: %d duplicates, want %d", res.Duplicates, n)
	}
}

// An event without a time of its own is judged at the poll's time, so the
// same event read again in a later hour has another time: its findings are
// keyed by fingerprint alone, and it is still a duplicate.
func TestFingerprintIndexEventWithoutTimeReadAgainLater(t *testing.T) {
	s, c := newStore(t)
	srcStore, err := sources.NewStore(s.DB())
	if err != nil {
		t.Fatal(err)
	}
	evs := events(3)
	evs[1].Time = time.Time{}
	job := &Job{Source: &listSource{events: evs, failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: s, Sources: srcStore}
	first, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if first.Ingest.Duplicates != 0 || first.FindingCount != 3 {
		t.Fatalf("first poll: %d findings, %d duplicates; want 3, 0", first.FindingCount, first.Ingest.Duplicates)
	}
	c.now = c.now.Add(5 * time.Hour)
	again, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if again.Ingest.Duplicates != 3 || again.Ingest.Folded != 0 || len(again.Ingest.New) != 0 {
		t.Fatalf("read again 5h later: duplicates %d, folded %d, new %d; want 3, 0, 0", again.Ingest.Duplicates, again.Ingest.Folded, len(again.Ingest.New))
	}
}
