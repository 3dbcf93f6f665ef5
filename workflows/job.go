package workflows

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

var (
	bucketSeen = []byte("workflows.seen-events")
	// bucketSeenExpiry orders the seen events by when they were processed
	// (8-byte big-endian Unix time, then the seen key), so expired ones are
	// pruned without reading the rest.
	bucketSeenExpiry = []byte("workflows.seen-expiry")
)

// DefaultBatchEvents is how many new events a poll processes before it
// commits their findings, detector state and IDs, so that memory stays
// flat however much a poll reads. The checkpoint still moves only when the
// whole poll is stored.
const DefaultBatchEvents = 5000

// MaxFindingsKept caps Result.Findings, so that a poll or a scan of any
// size keeps memory flat; FindingCount is always exact, and Job.OnStored
// sees every finding.
const MaxFindingsKept = 1000

// DefaultSeenRetention is how long the IDs of processed events are kept to
// drop repeats; it must exceed any source's overlap window.
const DefaultSeenRetention = 72 * time.Hour

// MaxMalformedKept is how many malformed-record reports a poll keeps for
// its result; the count is always exact.
const MaxMalformedKept = 100

// Job reads one source, runs the detectors and stores the findings.
type Job struct {
	Source    sources.Source
	Detectors *detectors.Engine
	Alerts    *Store
	Sources   *sources.Store
	Log       *slog.Logger
	// Stateful makes the job resume from the source's checkpoint, skip
	// events already processed, and save detector state: the mode of the
	// long-running bot. Without it the job reads its whole input and only
	// alert dedup applies: the mode of a one-shot scan.
	Stateful bool
	// SeenRetention overrides DefaultSeenRetention when positive.
	SeenRetention time.Duration
	// BatchEvents overrides DefaultBatchEvents when positive.
	BatchEvents int
	// OnStored, when set, is called after each commit with the findings it
	// stored, in the order they were found, and what the store did with
	// them: a one-shot scan prints its findings this way as it goes
	// instead of keeping them. The slice is reused after the call returns.
	OnStored func(stored []detectors.Finding, ing IngestResult)
}

// Result is what one poll did.
type Result struct {
	Source    string
	Events    int
	Skipped   int // events already processed before
	Malformed []sources.Malformed
	// MalformedCount counts all malformed records; Malformed keeps the first
	// MaxMalformedKept.
	MalformedCount int
	// WarningCount counts the records read with warnings: a field of the
	// wrong type left empty, or no usable time (judged at processing
	// time). They are kept and judged.
	WarningCount int
	// Findings are the first MaxFindingsKept findings of the poll; use
	// Job.OnStored to see all of them.
	Findings []detectors.Finding
	// FindingCount counts every finding of the poll.
	FindingCount int
	Ingest       IngestResult
	DetectErrors int
	// Verified are remediation tasks closed by events of this poll.
	Verified []Task
}

// Run polls the source once. The findings, the detector state, the IDs of
// the events read and the new checkpoint commit in one transaction, so a
// crash at any point either keeps all of them or none, and the next poll
// reads the same events again without storing anything twice.
func (j *Job) Run(ctx context.Context) (*Result, error) {
	log := j.Log
	if log == nil {
		log = slog.Default()
	}
	name := j.Source.Name()
	res := &Result{Source: name}
	db := j.Alerts.DB()
	now := j.Alerts.now()
	started := time.Now()
	var cp []byte
	seen := map[string]bool{}
	var err error
	if j.Stateful {
		if cp, err = j.Sources.Checkpoint(name); err != nil {
			return res, fmt.Errorf("source %s: read checkpoint: %w", name, err)
		}
	}
	// Open tasks whose fix may show up in these events.
	fixes, err := j.Alerts.openFixes()
	if err != nil {
		return res, fmt.Errorf("source %s: read open tasks: %w", name, err)
	}
	var newIDs []string
	var pending []detectors.Finding // found, not yet stored
	var latest time.Time
	batch := j.BatchEvents
	if batch <= 0 {
		batch = DefaultBatchEvents
	}
	// store commits what has been read so far: findings, closed tasks, and
	// (stateful) detector state and the IDs of the events behind them, all
	// in one transaction; with final, also the checkpoint when the fetch
	// allows it. A crash between two stores loses nothing: the next poll
	// reads the window again and skips the events already stored.
	stored := false
	var next []byte
	var fetchErr error
	store := func(final bool) error {
		var ing IngestResult
		var verified []Task
		err := db.Update(func(tx *bolt.Tx) error {
			var err error
			if ing, err = j.Alerts.Ingest(tx, pending); err != nil {
				return err
			}
			if verified, err = j.Alerts.closeVerified(tx, fixes); err != nil {
				return err
			}
			if !j.Stateful {
				return nil
			}
			if err := j.Detectors.Save(tx); err != nil {
				return err
			}
			if err := j.markSeen(tx, name, newIDs, now); err != nil {
				return err
			}
			if !final {
				return nil
			}
			if cp, ok := sources.CheckpointAfter(next, fetchErr); ok {
				stored = true
				return sources.PutCheckpoint(tx, name, cp)
			}
			return nil
		})
		if err != nil {
			return err
		}
		// Only what committed counts.
		res.Ingest.merge(ing)
		res.Verified = append(res.Verified, verified...)
		fixes.stored()
		if j.OnStored != nil {
			j.OnStored(pending, ing)
		}
		pending, newIDs = pending[:0], newIDs[:0]
		clear(seen)
		return nil
	}
	var storeErr error
	sink := sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			if j.Stateful {
				if seen[ev.ID] || j.wasSeen(db, name, ev.ID) {
					res.Skipped++
					return nil
				}
				seen[ev.ID] = true
				newIDs = append(newIDs, ev.ID)
			}
			res.Events++
			if ev.Time.IsZero() {
				// No usable eventTime: judge the record at processing
				// time, so windows and baselines stay sane.
				ev.Time = now
				ev.Warnings = append(ev.Warnings, "eventTime: unknown; judged at processing time")
			}
			if len(ev.Warnings) > 0 {
				res.WarningCount++
				log.Warn("record read with warnings", "source", name, "event", ev.ID, "warnings", ev.Warnings)
			}
			if ev.Time.After(latest) {
				latest = ev.Time
			}
			fs, err := j.Detectors.Detect(ctx, ev)
			if err != nil {
				res.DetectErrors++
				log.Warn("detector error", "source", name, "event", ev.ID, "err", err)
			}
			pending = append(pending, fs...)
			res.FindingCount += len(fs)
			for _, f := range fs {
				metricFindings.WithLabelValues(f.RuleID, f.Severity.String()).Inc()
			}
			if len(res.Findings)+len(fs) <= MaxFindingsKept {
				res.Findings = append(res.Findings, fs...)
			}
			fixes.observe(ev)
			if len(newIDs) >= batch || len(pending) >= batch {
				if err := store(false); err != nil {
					storeErr = err
					return err
				}
			}
			return nil
		},
		OnMalformed: func(m sources.Malformed) {
			res.MalformedCount++
			if len(res.Malformed) < MaxMalformedKept {
				res.Malformed = append(res.Malformed, m)
			}
			log.Warn("malformed record", "source", name, "where", m.Where, "line", m.Line, "offset", m.Offset, "reason", m.Reason)
		},
	}
	next, fetchErr = j.Source.Fetch(ctx, cp, sink)
	if storeErr != nil {
		return res, fmt.Errorf("source %s: store findings: %w", name, storeErr)
	}
	// Store what was found even when the fetch failed part-way: the
	// checkpoint is not advanced then, so the window is read again and the
	// stored findings dedup.
	if err := store(true); err != nil {
		return res, fmt.Errorf("source %s: store findings: %w", name, err)
	}
	// Only now that the window's findings are committed may the source
	// confirm what it read (delete queue messages).
	if acker, ok := j.Source.(sources.Acker); ok && stored {
		cp, _ := sources.CheckpointAfter(next, fetchErr)
		if aerr := acker.Ack(ctx, cp); aerr != nil {
			log.Warn("confirm read input", "source", name, "err", aerr)
		}
	}
	herr := j.Sources.UpdateHealth(name, func(h *sources.Health) {
		h.LastPoll = now
		h.Events += int64(res.Events)
		h.Malformed += int64(res.MalformedCount)
		h.Warnings += int64(res.WarningCount)
		if latest.After(h.LastEvent) {
			h.LastEvent = latest
		}
		if fetchErr != nil {
			h.LastError = fetchErr.Error()
			h.Permanent = sources.IsPermanent(fetchErr)
			return
		}
		h.LastError, h.Permanent = "", false
		h.LastSuccess = now
		if !h.LastEvent.IsZero() {
			h.Lag = now.Sub(h.LastEvent)
		}
	})
	if herr != nil {
		log.Warn("update source health", "source", name, "err", herr)
	}
	var lag time.Duration
	if !latest.IsZero() {
		lag = now.Sub(latest)
	}
	observePoll(res, fetchErr, time.Since(started), lag, now)
	if fetchErr != nil {
		return res, fmt.Errorf("source %s: %w", name, fetchErr)
	}
	return res, nil
}

func seenKey(source, id string) []byte { return []byte(source + "\x00" + id) }

func (j *Job) wasSeen(db *bolt.DB, source, id string) bool {
	found := false
	_ = db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketSeen); b != nil {
			found = b.Get(seenKey(source, id)) != nil
		}
		return nil
	})
	return found
}

func (j *Job) markSeen(tx *bolt.Tx, source string, ids []string, now time.Time) error {
	b, err := tx.CreateBucketIfNotExists(bucketSeen)
	if err != nil {
		return err
	}
	exp, err := tx.CreateBucketIfNotExists(bucketSeenExpiry)
	if err != nil {
		return err
	}
	stamp := u64(uint64(now.Unix()))
	for _, id := range ids {
		k := seenKey(source, id)
		if err := b.Put(k, stamp); err != nil {
			return err
		}
		if err := exp.Put(append(append([]byte(nil), stamp...), k...), nil); err != nil {
			return err
		}
	}
	retention := j.SeenRetention
	if retention <= 0 {
		retention = DefaultSeenRetention
	}
	cutoff := u64(uint64(now.Add(-retention).Unix()))
	pruned := 0
	// Prune a bounded number of expired entries per commit, oldest first.
	c := exp.Cursor()
	for k, _ := c.First(); k != nil && len(k) > 8 && bytes.Compare(k[:8], cutoff) < 0; k, _ = c.First() {
		if v := b.Get(k[8:]); v != nil && bytes.Compare(v, k[:8]) <= 0 {
			// Not marked again since: the event is forgotten.
			if err := b.Delete(k[8:]); err != nil {
				return err
			}
		}
		if err := c.Delete(); err != nil {
			return err
		}
		if pruned++; pruned >= 10000 {
			break
		}
	}
	return nil
}
