package workflows

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/trailhound/trailhound/detectors"
	"github.com/trailhound/trailhound/sources"
)

// DefaultBatchEvents is how many new events a poll processes before it
// commits their findings, detector state, IDs and progress, so that memory
// stays flat however much a poll reads. 2,000 rather than 5,000 lowers
// the peak RSS of a 1M-event scan by about 25 MB (a batch's findings hold
// their records as evidence until the commit, and the heap grows to twice
// what is live) for 2.5 times as many commits. Without progress from the source, the
// checkpoint moves only when the whole poll is stored.
const DefaultBatchEvents = 2000

// MaxFindingsKept caps Result.Findings, so that a poll or a scan of any
// size keeps memory flat; FindingCount is always exact, and Job.OnStored
// sees every finding.
const MaxFindingsKept = 1000

// DefaultSeenRetention is how long the IDs of processed events are kept to
// drop repeats for a source that may read any event again (one that does
// not implement sources.Rereader). A source that says which events it may
// read again has the IDs of only those kept, as long as it may; one that
// reports its progress (sources.ProgressSink) and reads nothing again has
// none kept.
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
	// Fence, when set, is called inside each commit before anything is
	// written; an error rolls the commit back and stops the poll. High
	// availability sets it, so a replica that lost its lease writes
	// nothing (see package ha).
	Fence func() error
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
	// BytesScanned adds up what the source's queries scanned server-side
	// (see sources.ScanSink), and Queries counts those queries.
	BytesScanned int64
	Queries      int
}

// Run polls the source once, committing every BatchEvents events. The
// findings, the detector state, the IDs of the events read that the source
// may read again (see sources.Rereader) and the source's progress (see
// sources.ProgressSink; at the end, the new checkpoint) commit in one
// transaction, so a crash at any point either keeps all of them or none,
// and the next poll reads on from the progress committed, or reads the
// same events again and skips those stored, without storing anything
// twice.
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
	var err error
	// seen holds the hashes of the events kept as processed: those the
	// source may read again. keep says which of this poll's events to
	// remember given the committed checkpoint; newIDs are the candidates
	// not yet committed.
	var seen map[seenHash]struct{}
	var keep rereads
	var newIDs []seenEntry
	retention := j.SeenRetention
	if retention <= 0 {
		retention = DefaultSeenRetention
	}
	if j.Stateful {
		if cp, err = j.Sources.Checkpoint(name); err != nil {
			return res, fmt.Errorf("source %s: read checkpoint: %w", name, err)
		}
		if err := migrateSeen(db); err != nil {
			return res, fmt.Errorf("source %s: carry over processed event IDs: %w", name, err)
		}
		_ = db.View(func(tx *bolt.Tx) error {
			seen = loadSeen(tx, name)
			return nil
		})
		keep = rereadsFrom(j.Source, cp)
	}
	// progress, when the source reports it, returns the checkpoint just
	// after the last event handed over: committed with each batch, so a
	// crash re-reads nothing already stored.
	var progress func() []byte
	// Open tasks whose fix may show up in these events.
	fixes, err := j.Alerts.openFixes()
	if err != nil {
		return res, fmt.Errorf("source %s: read open tasks: %w", name, err)
	}
	var pending []detectors.Finding // found, not yet stored
	var latest time.Time
	batch := j.BatchEvents
	if batch <= 0 {
		batch = DefaultBatchEvents
	}
	// store commits what has been read so far: findings, closed tasks, and
	// (stateful) detector state, the IDs of the events behind them that
	// the source may read again, and the source's progress, all in one
	// transaction; with final, the checkpoint when the fetch allows it. A
	// crash between two stores loses nothing: the next poll reads from the
	// last progress committed, or the window again, and skips the events
	// already stored.
	stored := false
	var commitKeep rereads
	var next []byte
	var fetchErr error
	store := func(final bool) error {
		var ing IngestResult
		var verified []Task
		err := db.Update(func(tx *bolt.Tx) error {
			if j.Fence != nil {
				if err := j.Fence(); err != nil {
					return err
				}
			}
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
			// The checkpoint committed with these events: the fetch's
			// at the end, else the source's progress, else none (the
			// one committed before stays).
			var commitCP []byte
			hasCP := false
			if final {
				if commitCP, hasCP = sources.CheckpointAfter(next, fetchErr); hasCP {
					stored = true
				}
			}
			if !hasCP && progress != nil {
				commitCP, hasCP = progress(), true
			}
			commitKeep = keep
			if hasCP {
				commitKeep = rereadsFrom(j.Source, commitCP)
			}
			if err := putSeen(tx, name, newIDs, commitKeep, now); err != nil {
				return err
			}
			if err := pruneSeen(tx, name, commitKeep, now, retention); err != nil {
				return err
			}
			if hasCP {
				return sources.PutCheckpoint(tx, name, commitCP)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if j.Stateful {
			keep = commitKeep
		}
		// Only what committed counts.
		res.Ingest.merge(ing)
		res.Verified = append(res.Verified, verified...)
		fixes.stored()
		if j.OnStored != nil {
			j.OnStored(pending, ing)
		}
		pending, newIDs = pending[:0], newIDs[:0]
		// Pages this commit read from the database's map would stay in
		// the resident set until bbolt remaps; a long poll drops them.
		if err := releaseMapped(db); err != nil {
			log.Warn("database map", "source", name, "err", err)
		}
		return nil
	}
	var storeErr error
	sink := sources.FuncSink{
		OnEvent: func(ctx context.Context, ev *sources.Event) error {
			judgedNow := ev.Time.IsZero()
			if judgedNow {
				// No usable eventTime: judge the record at processing
				// time, so windows and baselines stay sane.
				ev.Time = now
				ev.Warnings = append(ev.Warnings, warnUnknownTime)
			}
			if j.Stateful {
				// Hash only when there is something to look up or keep:
				// a source that reads nothing again costs nothing here.
				var h seenHash
				hashed := false
				if len(seen) > 0 {
					h, hashed = hashEventID(ev.ID), true
					if _, ok := seen[h]; ok {
						res.Skipped++
						return nil
					}
				}
				if keep.keeps(ev.Time) {
					if !hashed {
						h = hashEventID(ev.ID)
					}
					seen[h] = struct{}{}
					newIDs = append(newIDs, seenEntry{hash: h, time: ev.Time})
				}
			}
			res.Events++
			if len(ev.Warnings) > 0 {
				res.WarningCount++
				log.Warn("record read with warnings", "source", name, "event", ev.ID, "warnings", ev.Warnings)
			}
			if ev.Time.After(latest) {
				latest = ev.Time
			}
			fs, err := j.Detectors.Detect(ctx, ev)
			if judgedNow {
				j.Alerts.noteJudgedNow(fs)
			}
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
		OnScanned: func(n int64) { res.BytesScanned += n; res.Queries++ },
		OnProgress: func(resume func() []byte) {
			if j.Stateful {
				progress = resume
			}
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
		if res.Queries > 0 {
			h.BytesScanned += res.BytesScanned
			h.LastBytesScanned = res.BytesScanned
		}
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
