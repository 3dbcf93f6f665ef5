package workflows

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

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

// TestSeenEventsExpire: processed event IDs are forgotten after the
// retention, oldest first, through the expiry index.
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
	if !job.wasSeen(db, "list", "e0") {
		t.Fatal("e0 not marked seen")
	}
	c.now = t0.Add(2 * time.Hour)
	src.events = events(0)
	if _, err := job.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"e0", "e1", "e2"} {
		if job.wasSeen(db, "list", id) {
			t.Fatalf("%s still seen after the retention", id)
		}
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
