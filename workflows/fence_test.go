package workflows

import (
	"context"
	"errors"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

var errFenced = errors.New("fenced")

// lastTx returns the id of the last committed transaction: it changes
// with every write.
func lastTx(t *testing.T, db *bolt.DB) int {
	t.Helper()
	id := 0
	_ = db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// TestJobFenceStopsCommits lets the first batch of a poll commit, then
// fences the job: the poll stops with the fence's error, and nothing more
// is written, neither findings nor checkpoint nor health.
func TestJobFenceStopsCommits(t *testing.T) {
	db := testdb.OpenAt(t, t.TempDir()+"/th.db")
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	fenced := false
	job := &Job{Source: &listSource{events: events(6), failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore,
		Stateful: true, BatchEvents: 2,
		// The first commit is done: the lease is lost now.
		OnStored: func([]detectors.Finding, IngestResult) { fenced = true },
		Fence: func() error {
			if fenced {
				return errFenced
			}
			return nil
		}}
	_, err := job.Run(context.Background())
	if !errors.Is(err, errFenced) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	all, _ := alerts.List(Filter{})
	if len(all) != 2 {
		t.Fatalf("alerts=%d, want the 2 of the batch committed before the fence", len(all))
	}
	if cp, _ := srcStore.Checkpoint("list"); cp != nil {
		t.Fatalf("checkpoint=%q written by a fenced job", cp)
	}
	if hs, _ := srcStore.Health(); len(hs) != 0 {
		t.Fatalf("health=%+v written by a fenced job", hs)
	}
	// A fenced job run again writes nothing at all.
	tx := lastTx(t, db)
	if _, err := job.Run(context.Background()); !errors.Is(err, errFenced) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	if got := lastTx(t, db); got != tx {
		t.Fatalf("a fenced poll committed (tx %d -> %d)", tx, got)
	}
}

// TestDispatcherFenceStopsPosting fences the dispatcher after its first
// post: no further post is made, and nothing is written.
func TestDispatcherFenceStopsPosting(t *testing.T) {
	db := testdb.OpenAt(t, t.TempDir()+"/th.db")
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	job := &Job{Source: &listSource{events: events(4), failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	fenced, tx := false, 0
	n := &funcNotifier{name: "chat"}
	n.notify = func(Notification) (MessageRef, bool, error) {
		fenced, tx = true, lastTx(t, db)
		return MessageRef{Channel: "C", MessageID: "1"}, false, nil
	}
	d := &Dispatcher{Store: alerts, Notifiers: []Notifier{n}, Fence: func() error {
		if fenced {
			return errFenced
		}
		return nil
	}}
	if _, err := d.Dispatch(context.Background()); !errors.Is(err, errFenced) {
		t.Fatalf("err=%v, want the fence's error", err)
	}
	if len(n.got) != 1 {
		t.Fatalf("%d posts, want 1 before the fence", len(n.got))
	}
	if got := lastTx(t, db); got != tx {
		t.Fatalf("a fenced dispatcher committed (tx %d -> %d)", tx, got)
	}
	// Without the fence (the next holder), everything is delivered.
	d.Fence = nil
	n.notify = nil
	if _, err := d.Dispatch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p, _ := alerts.Pending(); p != 0 {
		t.Fatalf("pending=%d, want 0", p)
	}
}

// TestCardKeyStableAcrossHistories: the same alert made in two histories
// that differ before it (as after a restore from an older snapshot, when
// another alert was made first) is posted under the same key, so the
// notifier finds the card posted in the first history; different alerts
// never share a key.
func TestCardKeyStableAcrossHistories(t *testing.T) {
	keys := func(batches ...[]detectors.Finding) map[string]string {
		db := testdb.OpenAt(t, t.TempDir()+"/th.db")
		st, _ := NewStore(db)
		for _, b := range batches {
			if err := db.Update(func(tx *bolt.Tx) error { _, err := st.Ingest(tx, b); return err }); err != nil {
				t.Fatal(err)
			}
		}
		n := &funcNotifier{name: "chat"}
		dispatch(t, st, n)
		out := map[string]string{}
		for _, note := range n.got {
			if note.Kind == NotifyNew {
				out[note.Alert.Finding.Fingerprint] = note.Key
			}
		}
		return out
	}
	x := detectors.Finding{RuleID: "r", Title: "x", Fingerprint: "fp-x", GroupKey: "gx", Time: t0}
	y := detectors.Finding{RuleID: "r", Title: "y", Fingerprint: "fp-y", GroupKey: "gy", Time: t0}
	first := keys([]detectors.Finding{x})
	second := keys([]detectors.Finding{y}, []detectors.Finding{x})
	if first["fp-x"] == "" || first["fp-x"] != second["fp-x"] {
		t.Fatalf("card key of the same alert: %q and %q, want the same", first["fp-x"], second["fp-x"])
	}
	if second["fp-y"] == second["fp-x"] {
		t.Fatalf("two alerts share the card key %q", second["fp-x"])
	}
}
