package bot

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/internal/testdb"
)

// TestReplayGuardSurvivesRestart accepts an id once among 50 concurrent
// tries, refuses it again after the database is reopened, and accepts it
// once its ttl has passed; expired ids are swept from the bucket.
func TestReplayGuardSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "trailhound.db")
	db := testdb.OpenAt(t, path)
	g, err := NewReplayGuard(db, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var firsts atomic.Int32
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := g.First("slack:sig:v0=abc", t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				firsts.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := firsts.Load(); n != 1 {
		t.Fatalf("%d of 50 concurrent tries accepted, want 1", n)
	}
	testdb.Close(t, db)
	db = testdb.OpenAt(t, path)
	if g, err = NewReplayGuard(db, 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := g.First("slack:sig:v0=abc", t0.Add(8*time.Second)); ok || err != nil {
		t.Fatalf("after a restart: first=%v err=%v, want refused", ok, err)
	}
	if ok, _ := g.First("slack:sig:v0=abc", t0.Add(6*time.Minute)); !ok {
		t.Fatal("an id was remembered past its ttl")
	}
	for i := range replayPruneEvery {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := g.First(fmt.Sprint("k", i), t0.Add(time.Hour)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	err = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketReplay).Get([]byte("slack:sig:v0=abc")); v != nil {
			return fmt.Errorf("an expired id is still stored")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := g.First("", t0); !ok {
		t.Fatal("an empty id was refused")
	}
}
