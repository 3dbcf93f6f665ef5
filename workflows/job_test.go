package workflows

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/internal/testdb"
	"github.com/trailhound/trailhound/sources"
)

// listSource serves fixed events; failAfter >= 0 makes Fetch fail after
// that many events, as a source whose connection drops mid-poll.
type listSource struct {
	events    []sources.Event
	failAfter int
	seenCP    [][]byte
}

func (s *listSource) Name() string { return "list" }

func (s *listSource) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	s.seenCP = append(s.seenCP, cp)
	for i := range s.events {
		if s.failAfter >= 0 && i == s.failAfter {
			return nil, errors.New("connection reset")
		}
		ev := s.events[i]
		if err := sink.Event(ctx, &ev); err != nil {
			return nil, err
		}
	}
	sink.Malformed(sources.Malformed{Where: "list", Offset: -1, Reason: "one bad record"})
	return []byte(fmt.Sprintf("after-%d", len(s.events))), nil
}

// everyEvent is a detector that finds every event.
type everyEvent struct{}

func (everyEvent) ID() string { return "every" }

func (everyEvent) Detect(_ context.Context, ev *sources.Event) ([]detectors.Finding, error) {
	f := detectors.FromEvent("every", ev)
	f.Title = "event"
	return []detectors.Finding{f}, nil
}

func events(n int) []sources.Event {
	out := make([]sources.Event, n)
	for i := range out {
		out[i] = sources.Event{ID: fmt.Sprintf("e%d", i), Time: t0.Add(time.Duration(i) * time.Second), Account: "1", Principal: sources.Principal{Name: fmt.Sprintf("p%d", i)}}
	}
	return out
}

func TestJobFailedFetchKeepsFindingsNotCheckpoint(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	src := &listSource{events: events(5), failAfter: 3}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	res, err := job.Run(context.Background())
	if err == nil {
		t.Fatal("want the fetch error")
	}
	if len(res.Ingest.New) != 3 {
		t.Fatalf("stored %d alerts from the partial poll, want 3", len(res.Ingest.New))
	}
	if cp, _ := srcStore.Checkpoint("list"); cp != nil {
		t.Fatalf("checkpoint advanced to %q after a failed fetch", cp)
	}
	hs, _ := srcStore.Health()
	if len(hs) != 1 || hs[0].LastError == "" || !hs[0].LastSuccess.IsZero() {
		t.Fatalf("health=%+v", hs)
	}
	testdb.Close(t, db) // restart

	db = testdb.OpenAt(t, path)
	alerts, _ = NewStore(db)
	srcStore, _ = sources.NewStore(db)
	src.failAfter = -1
	job = &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	res, err = job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 3 || res.Events != 2 || len(res.Ingest.New) != 2 || res.MalformedCount != 1 {
		t.Fatalf("after restart: skipped=%d events=%d new=%d malformed=%d, want 3,2,2,1", res.Skipped, res.Events, len(res.Ingest.New), res.MalformedCount)
	}
	all, _ := alerts.List(Filter{})
	if len(all) != 5 {
		t.Fatalf("alerts=%d, want 5 (each event once)", len(all))
	}
	if cp, _ := srcStore.Checkpoint("list"); string(cp) != "after-5" {
		t.Fatalf("checkpoint=%q", cp)
	}
	// The next poll starts from the stored checkpoint.
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := string(src.seenCP[len(src.seenCP)-1]); got != "after-5" {
		t.Fatalf("fetch got checkpoint %q, want after-5", got)
	}
}

func TestJobOneShotDedupsAlertsOnly(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	src := &listSource{events: events(3), failAfter: -1}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore}
	for run := 0; run < 2; run++ {
		res, err := job.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Findings) != 3 {
			t.Fatalf("run %d: findings=%d, want 3 (a scan reports all it reads)", run, len(res.Findings))
		}
		wantNew := 3
		if run == 1 {
			wantNew = 0
		}
		if len(res.Ingest.New) != wantNew || res.Ingest.Duplicates != 3-wantNew {
			t.Fatalf("run %d: new=%d dup=%d", run, len(res.Ingest.New), res.Ingest.Duplicates)
		}
	}
	if cp, _ := srcStore.Checkpoint("list"); cp != nil {
		t.Fatalf("one-shot scan stored a checkpoint")
	}
}

// TestJobBatchesKeepMemoryFlat: a long poll commits every BatchEvents
// events; when it then fails, the batches already stored stay stored, the
// checkpoint does not move, and the next poll skips exactly those events.
func TestJobBatchesKeepMemoryFlat(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	src := &listSource{events: events(9), failAfter: 7}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true, BatchEvents: 3}
	res, err := job.Run(context.Background())
	if err == nil {
		t.Fatal("want the fetch error")
	}
	if res.FindingCount != 7 || len(res.Ingest.New) != 7 {
		t.Fatalf("findings=%d new=%d, want 7 and 7", res.FindingCount, len(res.Ingest.New))
	}
	testdb.Close(t, db) // restart

	db = testdb.OpenAt(t, path)
	alerts, _ = NewStore(db)
	srcStore, _ = sources.NewStore(db)
	src.failAfter = -1
	job = &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true, BatchEvents: 3}
	res, err = job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 7 || res.Events != 2 || len(res.Ingest.New) != 2 {
		t.Fatalf("after restart skipped=%d events=%d new=%d, want 7, 2, 2", res.Skipped, res.Events, len(res.Ingest.New))
	}
	if all, _ := alerts.List(Filter{}); len(all) != 9 {
		t.Fatalf("alerts=%d, want 9", len(all))
	}
}

// TestSeenEventsExpire: for a source that may read anything again, the
// IDs of processed events are forgotten after the retention.
func TestSeenEventsExpire(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	c := &clock{now: t0}
	alerts.Now = c.Now
	src := &listSource{events: events(3), failAfter: -1}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true, SeenRetention: time.Hour}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := keptIDs(t, db, "list"); len(got) != 3 {
		t.Fatalf("kept %d IDs, want 3", len(got))
	}
	c.now = t0.Add(2 * time.Hour)
	src.events = events(0)
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := keptIDs(t, db, "list"); len(got) != 0 {
		t.Fatalf("kept %d IDs after the retention, want 0", len(got))
	}
}

// keptIDs returns the hashes of the event IDs kept for source.
func keptIDs(t *testing.T, db *bolt.DB, source string) map[seenHash]struct{} {
	t.Helper()
	var set map[seenHash]struct{}
	if err := db.View(func(tx *bolt.Tx) error {
		set = loadSeen(tx, source)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return set
}

// seenKeys counts the keys of the buckets that keep processed events,
// those of the old layout included.
func seenKeys(t *testing.T, db *bolt.DB) int {
	t.Helper()
	n := 0
	_ = db.View(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{bucketSeenIDs, bucketSeenLegacy, bucketSeenLegacyExpiry} {
			if b := tx.Bucket(name); b != nil {
				n += b.Stats().KeyN
			}
		}
		return nil
	})
	return n
}

// progressSource reads its events in order and reports its progress like
// the file source: a checkpoint "at-N" resumes after the N-th event, and
// nothing is read twice. failAfter >= 0 makes Fetch fail after that many
// events of the call.
type progressSource struct {
	events    []sources.Event
	failAfter int
}

func (s *progressSource) Name() string { return "progress" }

func (s *progressSource) Rereads([]byte) (time.Time, bool) { return time.Time{}, false }

func (s *progressSource) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	at := 0
	if cp != nil {
		if _, err := fmt.Sscanf(string(cp), "at-%d", &at); err != nil {
			return nil, err
		}
	}
	if ps, ok := sink.(sources.ProgressSink); ok {
		ps.Progress(func() []byte { return []byte(fmt.Sprintf("at-%d", at)) })
	}
	for n := 0; at < len(s.events); n++ {
		if n == s.failAfter {
			return nil, errors.New("connection reset")
		}
		ev := s.events[at]
		at++
		if err := sink.Event(ctx, &ev); err != nil {
			return nil, err
		}
	}
	return []byte(fmt.Sprintf("at-%d", at)), nil
}

// TestJobProgressKeepsNoIDs: a source that reports its progress and reads
// nothing again has its progress committed with each batch and no event
// IDs kept, however many events it reads; a failure part-way then resumes
// after the last batch stored, each event judged exactly once.
func TestJobProgressKeepsNoIDs(t *testing.T) {
	path := t.TempDir() + "/th.db"
	db := testdb.OpenAt(t, path)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	const n = 20000
	src := &progressSource{events: events(n), failAfter: 12345}
	var found int
	newJob := func() *Job {
		return &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true, BatchEvents: 1000,
			OnStored: func(fs []detectors.Finding, _ IngestResult) { found += len(fs) }}
	}
	if _, err := newJob().Run(context.Background()); err == nil {
		t.Fatal("want the fetch error")
	}
	if cp, _ := srcStore.Checkpoint("progress"); string(cp) != "at-12345" {
		t.Fatalf("checkpoint after the failure %q, want at-12345 (the progress of the last event stored)", cp)
	}
	testdb.Close(t, db) // restart
	db = testdb.OpenAt(t, path)
	alerts, _ = NewStore(db)
	srcStore, _ = sources.NewStore(db)
	src.failAfter = -1
	res, err := newJob().Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != n-12345 || res.Skipped != 0 {
		t.Fatalf("after restart events=%d skipped=%d, want %d and 0 (resumed, nothing re-read)", res.Events, res.Skipped, n-12345)
	}
	if found != n {
		t.Fatalf("stored %d findings in all, want %d: each event once", found, n)
	}
	if got := keptIDs(t, db, "progress"); len(got) != 0 {
		t.Fatalf("kept %d event IDs, want none", len(got))
	}
	// Nothing about processed events is left in bbolt, in any layout.
	if n := seenKeys(t, db); n != 0 {
		t.Fatalf("%d keys in the buckets of processed events, want 0", n)
	}
}

// windowSource re-reads by event time like the CloudTrail source: from a
// checkpoint "end-N" it hands over the events of second N-lag on, and a
// Fetch reads up to second upto.
type windowSource struct {
	events []sources.Event
	lag    int
	upto   int
}

func (s *windowSource) Name() string { return "window" }

func (s *windowSource) start(cp []byte) int {
	end := 0
	if cp != nil {
		_, _ = fmt.Sscanf(string(cp), "end-%d", &end)
	}
	return max(0, end-s.lag)
}

func (s *windowSource) Rereads(cp []byte) (time.Time, bool) {
	return t0.Add(time.Duration(s.start(cp)) * time.Second), true
}

func (s *windowSource) Fetch(ctx context.Context, cp []byte, sink sources.Sink) ([]byte, error) {
	for i := s.start(cp); i < s.upto && i < len(s.events); i++ {
		ev := s.events[i]
		if err := sink.Event(ctx, &ev); err != nil {
			return nil, err
		}
	}
	return []byte(fmt.Sprintf("end-%d", s.upto)), nil
}

// TestSeenKeptForOverlapOnly: for a source that re-reads a window by event
// time, only the IDs of events it may read again are kept; the overlap is
// still dropped on the next poll, and IDs older than it are gone.
func TestSeenKeptForOverlapOnly(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	// Event i is at t0+i s, in hour i/3600; a lag of 2 hours.
	src := &windowSource{events: events(5 * 3600), lag: 2 * 3600, upto: 3 * 3600}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The next poll reads from second 3600 on: hours 1 and 2 are kept.
	if got := len(keptIDs(t, db, "window")); got != 2*3600 {
		t.Fatalf("kept %d IDs, want %d (the two hours of the overlap)", got, 2*3600)
	}
	src.upto = 5 * 3600
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 2*3600 || res.Events != 2*3600 {
		t.Fatalf("second poll skipped=%d events=%d, want %d and %d", res.Skipped, res.Events, 2*3600, 2*3600)
	}
	// Now from second 3*3600: hours 3 and 4.
	kept := keptIDs(t, db, "window")
	if len(kept) != 2*3600 {
		t.Fatalf("kept %d IDs, want %d", len(kept), 2*3600)
	}
	if _, ok := kept[hashEventID("e7199")]; ok {
		t.Fatal("an ID before the overlap is still kept")
	}
	if _, ok := kept[hashEventID("e10800")]; !ok {
		t.Fatal("an ID of the overlap is not kept")
	}
}

// TestSeenMigratesOldLayout: a database with processed IDs in the old
// layout (a key per event plus an expiry index) still drops those events
// after the upgrade; the old buckets are gone, and the IDs expire after
// the retention as before.
func TestSeenMigratesOldLayout(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	c := &clock{now: t0}
	alerts.Now = c.Now
	stamp := binary.BigEndian.AppendUint64(nil, uint64(t0.Add(-time.Minute).Unix()))
	if err := db.Update(func(tx *bolt.Tx) error {
		b, _ := tx.CreateBucketIfNotExists(bucketSeenLegacy)
		exp, _ := tx.CreateBucketIfNotExists(bucketSeenLegacyExpiry)
		for _, id := range []string{"e0", "e1", "e2"} {
			k := []byte("list\x00" + id)
			if err := b.Put(k, stamp); err != nil {
				return err
			}
			if err := exp.Put(append(append([]byte(nil), stamp...), k...), nil); err != nil {
				return err
			}
		}
		return b.Put([]byte("other\x00e0"), stamp)
	}); err != nil {
		t.Fatal(err)
	}
	src := &listSource{events: events(5), failAfter: -1}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true, SeenRetention: time.Hour}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped != 3 || res.Events != 2 {
		t.Fatalf("skipped=%d events=%d, want the 3 old IDs dropped and 2 new", res.Skipped, res.Events)
	}
	_ = db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSeenLegacy) != nil || tx.Bucket(bucketSeenLegacyExpiry) != nil {
			t.Error("old buckets still there")
		}
		return nil
	})
	if got := len(keptIDs(t, db, "other")); got != 1 {
		t.Fatalf("another source's old IDs: %d, want 1", got)
	}
	c.now = t0.Add(2 * time.Hour)
	src.events = events(0)
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(keptIDs(t, db, "list")); got != 0 {
		t.Fatalf("kept %d IDs after the retention, want 0", got)
	}
}

// TestJobRecordsWithWarningsAreJudged: a record read with warnings, or
// with no usable time, is judged (at processing time when it has no time)
// and counted in the poll result and in source health.
func TestJobRecordsWithWarningsAreJudged(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	c := &clock{now: t0.Add(time.Hour)}
	alerts.Now = c.Now
	srcStore, _ := sources.NewStore(db)
	evs := events(3)
	evs[1].Time = time.Time{}
	evs[2].Warnings = []string{"readOnly: a string where a boolean was expected: maybe"}
	src := &listSource{events: evs, failAfter: -1}
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, Stateful: true}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 3 || len(res.Ingest.New) != 3 || res.WarningCount != 2 {
		t.Fatalf("events=%d new=%d warnings=%d, want 3 judged, 3 alerts, 2 warned", res.Events, len(res.Ingest.New), res.WarningCount)
	}
	for _, f := range res.Findings {
		if f.Time.IsZero() {
			t.Fatalf("finding %s has no time", f.RuleID)
		}
		if f.Principal.Name == "p1" && !f.Time.Equal(c.now) {
			t.Fatalf("untimed record judged at %v, want processing time %v", f.Time, c.now)
		}
	}
	hs, _ := srcStore.Health()
	if len(hs) != 1 || hs[0].Warnings != 2 {
		t.Fatalf("health=%+v, want 2 warnings", hs)
	}
}

// TestJobOneShotStreamsFindings: a one-shot scan hands every finding to
// OnStored batch by batch, after it is stored, and keeps at most
// MaxFindingsKept in its result, so memory stays flat however much it reads.
func TestJobOneShotStreamsFindings(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	n := MaxFindingsKept + 500
	src := &listSource{events: events(n), failAfter: -1}
	var got, calls, news int
	job := &Job{Source: src, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore, BatchEvents: 100,
		OnStored: func(fs []detectors.Finding, ing IngestResult) {
			calls++
			news += len(ing.New)
			for _, f := range fs {
				if _, err := alerts.FindByFingerprint(f.Fingerprint); err != nil {
					t.Fatalf("finding %d handed over before it was stored: %v", got, err)
				}
				got++
			}
		}}
	res, err := job.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got != n || res.FindingCount != n {
		t.Fatalf("OnStored saw %d findings, count=%d, want %d", got, res.FindingCount, n)
	}
	if calls < n/100 {
		t.Fatalf("OnStored called %d times, want one per batch of 100 (>= %d)", calls, n/100)
	}
	if len(res.Findings) > MaxFindingsKept {
		t.Fatalf("result keeps %d findings, want at most %d", len(res.Findings), MaxFindingsKept)
	}
	if news != len(res.Ingest.New) {
		t.Fatalf("OnStored saw %d new alerts, result %d", news, len(res.Ingest.New))
	}
}

// TestAlertIDs: each fingerprint is answered with the alert its finding
// joined, and an unknown one with "".
func TestAlertIDs(t *testing.T) {
	db := testdb.Open(t)
	alerts, _ := NewStore(db)
	srcStore, _ := sources.NewStore(db)
	var found []detectors.Finding
	job := &Job{Source: &listSource{events: events(2), failAfter: -1}, Detectors: detectors.NewEngine(everyEvent{}), Alerts: alerts, Sources: srcStore,
		OnStored: func(fs []detectors.Finding, _ IngestResult) {
			found = append(found, fs...)
		}}
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	unknown := found[0]
	unknown.Fingerprint = "unknown"
	ids := alerts.AlertIDs(append(found, unknown))
	fps := make([]string, len(found))
	for i, f := range found {
		fps[i] = f.Fingerprint
	}
	for i, fp := range fps {
		a, err := alerts.FindByFingerprint(fp)
		if err != nil || ids[i] != a.ID {
			t.Fatalf("fingerprint %d: id %q, want %q (%v)", i, ids[i], a.ID, err)
		}
	}
	if ids[len(fps)] != "" {
		t.Fatalf("unknown fingerprint: id %q, want none", ids[len(fps)])
	}
}
